//! What login protection needs to remember: failed logins per subject.

use chrono::{DateTime, Utc};
use udd_domain::{FailedLogins, LoginSubject};

use crate::StoreError;

/// Failed logins, counted per subject (user, unknown login name, client address) since
/// the subject's last successful login. Kept where every process that serves logins sees
/// it, so a block holds whichever process the next attempt reaches.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait LoginFailures: Send + Sync {
    /// The failures of `subject` since its last successful login; `None` when it has none.
    ///
    /// Errors: `Unexpected` only.
    fn of(&self, subject: &LoginSubject) -> Result<Option<FailedLogins>, StoreError>;

    /// Counts one failure at `at` against each of `subjects`, atomically per subject, so
    /// concurrent failures are all counted.
    ///
    /// Errors: `Unexpected` only.
    fn record(&self, subjects: &[LoginSubject], at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Forgets the failures of each of `subjects` (after a successful login).
    ///
    /// Errors: `Unexpected` only.
    fn clear(&self, subjects: &[LoginSubject]) -> Result<(), StoreError>;

    /// Forgets every subject whose last failure was before `before`; returns how many.
    ///
    /// Errors: `Unexpected` only.
    fn forget_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
