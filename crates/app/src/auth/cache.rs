//! A short memory of token checks, so that a client following its export does not
//! cost a database (or Rocket.Chat) round trip on every request.
//!
//! A valid token is remembered for `valid_for`, a refused one for `refused_for`. Each
//! kind is kept in its own map, bounded to `capacity` entries, so a flood of random
//! tokens can neither grow memory without bound nor push valid sessions out. Entries
//! are keyed by the user id and the token's SHA-256, never the token. What the memory
//! cannot see (a logout or a deactivation in another process) takes effect when the
//! entry expires; a logout in this process is forgotten at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use udd_domain::{token_fingerprint, User, UserId};

/// How long token checks are remembered, and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCacheConfig {
    /// How long a token found valid is taken as valid without asking again.
    pub valid_for: Duration,
    /// How long a refused token is refused without asking again.
    pub refused_for: Duration,
    /// The most entries of each kind (valid, refused) kept at once.
    pub capacity: usize,
}

impl Default for SessionCacheConfig {
    /// Rocket.Chat's sessions: asking the workspace costs an HTTP round trip.
    fn default() -> Self {
        Self {
            valid_for: Duration::seconds(60),
            refused_for: Duration::seconds(5),
            capacity: 10_000,
        }
    }
}

impl SessionCacheConfig {
    /// Remembers nothing: every check asks.
    pub fn off() -> Self {
        Self {
            valid_for: Duration::zero(),
            refused_for: Duration::zero(),
            capacity: 0,
        }
    }

    /// udd's own sessions: both kinds remembered for `seconds`, at most a day (0:
    /// nothing is).
    pub fn local(seconds: u64) -> Self {
        if seconds == 0 {
            return Self::off();
        }
        let lasting = Duration::seconds(i64::try_from(seconds.min(86_400)).unwrap_or(86_400));
        Self {
            valid_for: lasting,
            refused_for: lasting,
            ..Self::default()
        }
    }
}

type Key = (String, [u8; 32]);

fn key(user_id: &UserId, token: &str) -> Key {
    (user_id.to_string(), token_fingerprint(token))
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
        if capacity == 0 || until <= now {
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

struct Maps {
    valid: Expiring<User>,
    refused: Expiring<()>,
}

/// What a token check answered, remembered for a while.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Remembered {
    /// The token logs this active user in.
    Valid(Box<User>),
    /// The token was refused.
    Refused,
}

/// The remembered answers of token checks (cheap to clone: clones share the memory).
#[derive(Clone)]
pub(crate) struct SessionCache {
    config: SessionCacheConfig,
    maps: Arc<Mutex<Maps>>,
}

impl SessionCache {
    pub(crate) fn new(config: SessionCacheConfig) -> Self {
        Self {
            config,
            maps: Arc::new(Mutex::new(Maps {
                valid: Expiring::new(),
                refused: Expiring::new(),
            })),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock leaves the maps consistent: every change is one call.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer remembered for `token` at `now`, if any.
    pub(crate) fn get(
        &self,
        user_id: &UserId,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<Remembered> {
        if self.config.capacity == 0 {
            return None;
        }
        let key = key(user_id, token);
        let mut maps = self.maps();
        if let Some(user) = maps.valid.get(&key, now) {
            return Some(Remembered::Valid(Box::new(user)));
        }
        maps.refused.get(&key, now).map(|()| Remembered::Refused)
    }

    /// Remembers that `token` logs `user` in.
    pub(crate) fn accept(&self, user_id: &UserId, token: &str, user: User, now: DateTime<Utc>) {
        let until = now + self.config.valid_for;
        let capacity = self.config.capacity;
        self.maps()
            .valid
            .put(key(user_id, token), user, until, now, capacity);
    }

    /// Remembers that `token` was refused.
    pub(crate) fn refuse(&self, user_id: &UserId, token: &str, now: DateTime<Utc>) {
        let until = now + self.config.refused_for;
        let capacity = self.config.capacity;
        self.maps()
            .refused
            .put(key(user_id, token), (), until, now, capacity);
    }

    /// Forgets what was remembered about `token`.
    pub(crate) fn forget(&self, user_id: &UserId, token: &str) {
        let key = key(user_id, token);
        let mut maps = self.maps();
        maps.valid.remove(&key);
        maps.refused.remove(&key);
    }

    /// How many answers are remembered: (valid, refused).
    pub(crate) fn len(&self) -> (usize, usize) {
        let maps = self.maps();
        (maps.valid.len(), maps.refused.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn user() -> User {
        crate::auth::tests::alice(true)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn answers_are_remembered_until_they_expire_and_forgotten_on_request() {
        let cache = SessionCache::new(SessionCacheConfig::local(5));
        let u1: UserId = "u1".into();
        assert_eq!(cache.get(&u1, "t", at(0)), None);
        cache.accept(&u1, "t", user(), at(0));
        cache.refuse(&u1, "bad", at(0));
        assert_eq!(
            cache.get(&u1, "t", at(4)),
            Some(Remembered::Valid(Box::new(user())))
        );
        assert_eq!(cache.get(&u1, "bad", at(4)), Some(Remembered::Refused));
        assert_eq!(
            cache.get(&"u2".into(), "t", at(4)),
            None,
            "another user's id"
        );
        assert_eq!(cache.get(&u1, "t", at(5)), None, "expired");
        cache.accept(&u1, "t", user(), at(10));
        cache.forget(&u1, "t");
        assert_eq!(cache.get(&u1, "t", at(10)), None, "forgotten");
    }

    #[test]
    fn off_remembers_nothing() {
        let cache = SessionCache::new(SessionCacheConfig::local(0));
        let u1: UserId = "u1".into();
        cache.accept(&u1, "t", user(), at(0));
        cache.refuse(&u1, "bad", at(0));
        assert_eq!(cache.get(&u1, "t", at(0)), None);
        assert_eq!(cache.len(), (0, 0));
    }

    #[test]
    fn no_token_is_kept_in_clear() {
        let cache = SessionCache::new(SessionCacheConfig::default());
        cache.accept(&"u1".into(), "good", user(), at(0));
        let maps = cache.maps();
        assert!(maps
            .valid
            .entries
            .keys()
            .all(|(user, digest)| user == "u1" && *digest == token_fingerprint("good")));
    }
}
