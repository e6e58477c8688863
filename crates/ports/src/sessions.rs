//! Sessions owned by the chat server: when udd runs beside a Rocket.Chat workspace, the
//! workspace's own login tokens (from SSO, LDAP, SAML, 2FA, any login it offers) are
//! checked with it, and the user it vouches for is kept in udd's records.

use chrono::{DateTime, Utc};
use udd_domain::UserId;
use udd_domain::{Email, User};

use crate::StoreError;

/// A user as the chat server describes the owner of a valid token (Rocket.Chat's
/// `GET /api/v1/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUser {
    /// `_id`.
    pub id: String,
    /// `username`.
    pub username: String,
    /// `name`.
    pub name: Option<String>,
    /// `emails`.
    pub emails: Vec<Email>,
    /// `active`.
    pub active: bool,
    /// `roles`.
    pub roles: Vec<String>,
    /// `language`.
    pub language: Option<String>,
}

/// Why a token could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The chat server could not be asked or gave no usable answer (refused connection,
    /// timeout, a 5xx, a body that is not its own): the token is neither good nor bad.
    #[error("Rocket.Chat cannot check sessions now")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Checks a chat server's login tokens.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait RemoteSessions: Send + Sync {
    /// The user that `user_id` and `token` (the `X-User-Id` / `X-Auth-Token` pair) log
    /// in, asked of the chat server now: `Ok(None)` when it refuses the pair (unknown or
    /// revoked token, or a token of another user).
    ///
    /// Errors: [`SessionError::Unavailable`] when it cannot answer; `Unexpected`.
    fn verify(&self, user_id: &UserId, token: &str) -> Result<Option<RemoteUser>, SessionError>;
}

/// Users as the chat server vouches for them.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait UserProfiles: Send + Sync {
    /// Creates the user of `profile`, or refreshes their username, name, e-mail addresses,
    /// roles and active flag, keeping everything else (password, tokens, login services,
    /// creation date); returns the stored user. A username or address another stored user
    /// holds moves to this user, as an import moves it.
    ///
    /// Errors: `Unexpected` only.
    fn refresh(&self, profile: &RemoteUser, at: DateTime<Utc>) -> Result<User, StoreError>;
}
