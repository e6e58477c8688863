//! What second factors at login need to remember: each user's TOTP secret, backup codes
//! and last used step, and the codes sent by e-mail.

use chrono::{DateTime, Utc};
use udd_domain::UserId;
use udd_domain::{EmailCode, EmailCodeCheck, SecondFactors};

use crate::StoreError;

/// Users' second factors and the single-use state around them. Every "use" is atomic,
/// so two logins racing with the same code cannot both pass.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SecondFactorStore: Send + Sync {
    /// The second factors `user_id` has turned on; none for an unknown user.
    ///
    /// Errors: `Unexpected`, also for a stored TOTP secret that is not base32 (a login
    /// must not pass without the factor it needs).
    fn of(&self, user_id: &UserId) -> Result<SecondFactors, StoreError>;

    /// Records that the TOTP code of `step` was used. Returns `false`, recording
    /// nothing, when that step or a later one was used already: a code works once, and
    /// an older code never works after a newer one.
    ///
    /// Errors: `Unexpected` only.
    fn claim_totp_step(&self, user_id: &UserId, step: u64) -> Result<bool, StoreError>;

    /// Uses up the backup code whose [`udd_domain::two_factor::backup_code_hash`] is
    /// `hash`: `true` when it was one of the user's codes not used before.
    ///
    /// Errors: `Unexpected` only.
    fn use_backup_code(&self, user_id: &UserId, hash: &str) -> Result<bool, StoreError>;

    /// The code last e-mailed to the user and not yet used, if any (expired or not).
    ///
    /// Errors: `Unexpected` only.
    fn email_code(&self, user_id: &UserId) -> Result<Option<EmailCode>, StoreError>;

    /// Replaces the user's e-mailed code.
    ///
    /// Errors: `NotFound` for an unknown user; `Unexpected`.
    fn put_email_code(&self, user_id: &UserId, code: &EmailCode) -> Result<(), StoreError>;

    /// Checks `presented_hash` against the user's e-mailed code at `now`, as
    /// [`EmailCode::check`] decides, and records the outcome in the same transaction:
    /// an accepted code is forgotten (single use), a wrong one counts an attempt.
    ///
    /// Errors: `Unexpected` only.
    fn check_email_code(
        &self,
        user_id: &UserId,
        presented_hash: &str,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<EmailCodeCheck, StoreError>;
}

/// Random codes to send by e-mail.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait OneTimeCodes: Send + Sync {
    /// Six random decimal digits from a cryptographic generator.
    fn six_digits(&self) -> String;
}
