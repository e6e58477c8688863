//! Sessions that Rocket.Chat owns: a token is good while the workspace says so, asked
//! at most once per cache time.
//!
//! Rocket.Chat's answers are cached briefly ([`SessionCacheConfig`]): a valid token for
//! `valid_for` (so a revoked one stops working within that time), a refused one for
//! `refused_for`. Each kind is kept in its own map, bounded to `capacity` entries, so a
//! flood of random tokens can neither grow memory without bound nor push valid sessions
//! out. Entries are keyed by the user id and the token's SHA-256, never the token.
//! An unreachable Rocket.Chat is not cached and not a refusal: the caller gets
//! [`AuthError::Unavailable`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use udd_domain::UserId;

use chrono::{DateTime, Duration, Utc};
use udd_domain::{token_fingerprint, User};
use udd_ports::{Clock, RemoteSessions, SessionError, UserProfiles};

use super::AuthError;

/// How long Rocket.Chat's answers are trusted, and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCacheConfig {
    /// How long a token Rocket.Chat accepted is taken as valid without asking again.
    pub valid_for: Duration,
    /// How long a refused token is refused without asking again.
    pub refused_for: Duration,
    /// The most entries of each kind (valid, refused) kept at once.
    pub capacity: usize,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            valid_for: Duration::seconds(60),
            refused_for: Duration::seconds(5),
            capacity: 10_000,
        }
    }
}

type Key = (String, [u8; 32]);

fn key(user_id: &UserId, token: &str) -> Key {
    (user_id.to_owned().to_string(), token_fingerprint(token))
}

/// Entries that expire, at most `capacity` of them.
struct Expiring<V> {
    entries: HashMap<Key, (DateTime<Utc>, V)>,
}

impl<V: Clone> Expiring<V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    fn get(&mut self, key: &Key, now: DateTime<Utc>) -> Option<V> {
        match self.entries.get(key) {
            Some((until, value)) if now < *until => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(
        &mut self,
        key: Key,
        value: V,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        capacity: usize,
    ) {
        if capacity == 0 {
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= capacity {
            self.entries.retain(|_, (expires, _)| now < *expires);
            while self.entries.len() >= capacity {
                // Still full of live entries: the one closest to expiring goes first.
                let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                self.entries.remove(&soonest);
            }
        }
        self.entries.insert(key, (until, value));
    }

    fn remove(&mut self, key: &Key) {
        self.entries.remove(key);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

struct Cache {
    valid: Expiring<User>,
    refused: Expiring<()>,
}

/// Recognises a request's user by asking Rocket.Chat (through the [`RemoteSessions`]
/// port), and keeps udd's record of that user as Rocket.Chat describes them
/// ([`UserProfiles`]): a user Rocket.Chat knows but no import brought yet is created, so
/// their export can go ahead.
#[derive(Clone)]
pub struct RemoteSessionCheck {
    sessions: Arc<dyn RemoteSessions>,
    profiles: Arc<dyn UserProfiles>,
    clock: Arc<dyn Clock>,
    config: SessionCacheConfig,
    cache: Arc<Mutex<Cache>>,
}

impl RemoteSessionCheck {
    /// Asks `sessions`, keeps users through `profiles`, and caches as `config` says.
    pub fn new(
        sessions: Arc<dyn RemoteSessions>,
        profiles: Arc<dyn UserProfiles>,
        clock: Arc<dyn Clock>,
        config: SessionCacheConfig,
    ) -> Self {
        Self {
            sessions,
            profiles,
            clock,
            config,
            cache: Arc::new(Mutex::new(Cache {
                valid: Expiring::new(),
                refused: Expiring::new(),
            })),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves the maps consistent: every change is one call.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The active user that `user_id` and `token` log in, as Rocket.Chat says (or said,
    /// within the cache time).
    ///
    /// Errors: [`AuthError::NotLoggedIn`] for a refused token or an inactive user;
    /// [`AuthError::Unavailable`] when Rocket.Chat cannot be asked; `Unexpected`.
    pub fn authenticate(&self, user_id: &UserId, token: &str) -> Result<User, AuthError> {
        if user_id.is_empty() || token.is_empty() {
            return Err(AuthError::NotLoggedIn);
        }
        let key = key(user_id, token);
        let now = self.clock.now();
        {
            let mut cache = self.cache();
            if let Some(user) = cache.valid.get(&key, now) {
                return Ok(user);
            }
            if cache.refused.get(&key, now).is_some() {
                return Err(AuthError::NotLoggedIn);
            }
        }
        // Asked outside the lock: a slow Rocket.Chat holds up only the requests that
        // wait for its answer.
        let answer = match self.sessions.verify(user_id, token) {
            Ok(answer) => answer,
            Err(SessionError::Unavailable(e)) => return Err(AuthError::Unavailable(e)),
            Err(SessionError::Unexpected(e)) => return Err(AuthError::Unexpected(e)),
        };
        let now = self.clock.now();
        let user = match answer {
            Some(remote) => Some(
                self.profiles
                    .refresh(&remote, now)
                    .map_err(|e| AuthError::Unexpected(anyhow::Error::new(e)))?,
            ),
            None => None,
        };
        let capacity = self.config.capacity;
        let mut cache = self.cache();
        match user {
            Some(user) if user.active => {
                cache.valid.put(
                    key,
                    user.clone(),
                    now + self.config.valid_for,
                    now,
                    capacity,
                );
                Ok(user)
            }
            _ => {
                cache
                    .refused
                    .put(key, (), now + self.config.refused_for, now, capacity);
                Err(AuthError::NotLoggedIn)
            }
        }
    }

    /// Forgets what was cached about `token` (after a logout here), so the next request
    /// with it asks Rocket.Chat again.
    pub fn forget(&self, user_id: &UserId, token: &str) {
        let key = key(user_id, token);
        let mut cache = self.cache();
        cache.valid.remove(&key);
        cache.refused.remove(&key);
    }

    /// How many answers are cached: (valid, refused).
    pub fn cached(&self) -> (usize, usize) {
        let cache = self.cache();
        (cache.valid.len(), cache.refused.len())
    }
}

#[cfg(test)]
mod tests;
