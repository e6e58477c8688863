//! Repositories: where the core's records live.

use chrono::{DateTime, Utc};
use udd_domain::{Email, ExportOperation, User, UserDataFile};

use crate::StoreError;
use udd_domain::{FileId, OperationId, UserId};

/// Export operations as requests see them. The request policy (reuse a recent
/// operation or create one) is the use case's; the store offers only the atomic
/// primitive the policy needs, [`ExportOperations::insert_if_latest`], so no backend can
/// get the rule wrong.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ExportOperations: Send + Sync {
    /// The user's most recent operation of a kind (full or personal) that the user asked
    /// for ([`udd_domain::RequestedBy::Owner`]), if any.
    ///
    /// Errors: `Unexpected` only.
    fn latest(
        &self,
        user_id: &UserId,
        full_export: bool,
    ) -> Result<Option<ExportOperation>, StoreError>;

    /// Stores `candidate` if, at that instant, the most recent operation of its user,
    /// kind and requester is still the one with id `expected_latest` (or there is none, for `None`);
    /// returns whether it was stored. Check and insert are atomic, so of concurrent
    /// requests that saw the same latest operation exactly one stores its candidate.
    ///
    /// Errors: `Unexpected` only.
    // mockall cannot mock an elided lifetime inside `Option<&str>`.
    #[allow(clippy::needless_lifetimes)]
    fn insert_if_latest<'a>(
        &self,
        candidate: &ExportOperation,
        expected_latest: Option<&'a OperationId>,
    ) -> Result<bool, StoreError>;

    /// Stores an operation that no request policy applies to (the data protection
    /// officer's).
    ///
    /// Errors: `AlreadyExists` for a taken id; `Unexpected`.
    fn insert(&self, operation: &ExportOperation) -> Result<(), StoreError>;

    /// The operation with this id.
    ///
    /// Errors: `NotFound` when there is none; `Unexpected`.
    fn get(&self, id: &OperationId) -> Result<ExportOperation, StoreError>;

    /// How many unfinished operations were requested before `operation` (its place in
    /// the queue).
    ///
    /// Errors: `Unexpected` only.
    fn count_queued_before(&self, operation: &ExportOperation) -> Result<u64, StoreError>;
}

/// Finished zips, as the download reads them. They are recorded together with the
/// operation's completion ([`crate::ExportProgress::complete`]).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait UserDataFiles: Send + Sync {
    /// The file with this id.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn get(&self, id: &FileId) -> Result<UserDataFile, StoreError>;

    /// Files past their expiry at `now` whose zip has not been removed yet, oldest
    /// first, at most `limit`.
    ///
    /// Errors: `Unexpected` only.
    fn expired(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UserDataFile>, StoreError>;

    /// Records that the file's zip was removed.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn mark_removed(&self, id: &FileId, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A user together with the secret needed to check a password login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    /// The user's profile.
    pub user: User,
    /// bcrypt over the SHA-256 hex of the password, as Rocket.Chat stores it; `None`
    /// for accounts without a password (e.g. OAuth-only).
    pub password_bcrypt: Option<String>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The new user's id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// Email addresses.
    pub emails: Vec<Email>,
    /// Role names.
    pub roles: Vec<String>,
    /// bcrypt over the SHA-256 hex of the password.
    pub password_bcrypt: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// Workspace users.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Users: Send + Sync {
    /// Creates a user with a password.
    ///
    /// Errors: `DuplicateUsername`, `DuplicateEmail`; `Unexpected`.
    fn create(&self, user: &NewUser) -> Result<(), StoreError>;

    /// The user with this id.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn get(&self, id: &UserId) -> Result<User, StoreError>;

    /// The user whose username or email address is `login` (case-insensitive for
    /// email), with their password hash.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn credentials_by_login(&self, login: &str) -> Result<UserCredentials, StoreError>;
}

/// Login tokens, stored hashed (base64 of SHA-256, as Rocket.Chat stores them).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait LoginTokens: Send + Sync {
    /// Stores a hashed token issued by a login here (a re-import of the workspace keeps it).
    ///
    /// Errors: `Unexpected` only.
    fn insert(
        &self,
        user_id: &UserId,
        hashed_token: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The user owning `hashed_token`, provided it is `user_id` and the token was issued
    /// at or after `issued_since` (older tokens have expired).
    ///
    /// Errors: `NotFound` when the token is unknown, expired or belongs to someone else;
    /// `Unexpected`.
    fn user_for(
        &self,
        user_id: &UserId,
        hashed_token: &str,
        issued_since: DateTime<Utc>,
    ) -> Result<User, StoreError>;

    /// Forgets a token; forgetting an unknown one is not an error.
    ///
    /// Errors: `Unexpected` only.
    fn delete(&self, user_id: &UserId, hashed_token: &str) -> Result<(), StoreError>;

    /// Forgets every token issued before `issued_before`: they no longer work, and
    /// credentials are not kept past their use. Returns how many were forgotten.
    ///
    /// Errors: `Unexpected` only.
    fn delete_issued_before(&self, issued_before: DateTime<Utc>) -> Result<u64, StoreError>;
}
