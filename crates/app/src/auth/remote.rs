//! Sessions that Rocket.Chat owns: a token is good while the workspace says so, asked
//! at most once per cache time.
//!
//! Rocket.Chat's answers are cached briefly ([`SessionCacheConfig`]): a valid token for
//! `valid_for` (so a revoked one stops working within that time), a refused one for
//! `refused_for` (see [`super::cache`]). An unreachable Rocket.Chat is not cached and
//! not a refusal: the caller gets [`AuthError::Unavailable`].

use std::sync::Arc;

use udd_domain::{User, UserId};
use udd_ports::{Clock, RemoteSessions, SessionError, UserProfiles};

use super::cache::{Remembered, SessionCache, SessionCacheConfig};
use super::AuthError;

/// Recognises a request's user by asking Rocket.Chat (through the [`RemoteSessions`]
/// port), and keeps udd's record of that user as Rocket.Chat describes them
/// ([`UserProfiles`]): a user Rocket.Chat knows but no import brought yet is created, so
/// their export can go ahead.
#[derive(Clone)]
pub struct RemoteSessionCheck {
    sessions: Arc<dyn RemoteSessions>,
    profiles: Arc<dyn UserProfiles>,
    clock: Arc<dyn Clock>,
    cache: SessionCache,
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
            cache: SessionCache::new(config),
        }
    }

    /// What is remembered about `token`, without asking Rocket.Chat.
    pub(crate) fn remembered(&self, user_id: &UserId, token: &str) -> Option<Remembered> {
        self.cache.get(user_id, token, self.clock.now())
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
        match self.remembered(user_id, token) {
            Some(Remembered::Valid(user)) => return Ok(*user),
            Some(Remembered::Refused) => return Err(AuthError::NotLoggedIn),
            None => {}
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
        match user {
            Some(user) if user.active => {
                self.cache.accept(user_id, token, user.clone(), now);
                Ok(user)
            }
            _ => {
                self.cache.refuse(user_id, token, now);
                Err(AuthError::NotLoggedIn)
            }
        }
    }

    /// Forgets what was cached about `token` (after a logout here), so the next request
    /// with it asks Rocket.Chat again.
    pub fn forget(&self, user_id: &UserId, token: &str) {
        self.cache.forget(user_id, token);
    }

    /// How many answers are cached: (valid, refused).
    pub fn cached(&self) -> (usize, usize) {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests;
