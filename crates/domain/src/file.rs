//! A finished export as its owner downloads it (Rocket.Chat's user data file).

use chrono::{DateTime, Utc};

use crate::ids::{FileId, UserId};

/// A finished archive recorded for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDataFile {
    /// The file id used in download links.
    pub id: FileId,
    /// The owner.
    pub user_id: UserId,
    /// The download name, `YYYY-MM-DD-<display name>[-data].zip`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// The archive's storage key (e.g. `exports/<operation id>.zip`), never a host path.
    pub key: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it stops being downloadable, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When retention removed the archive; a removed file is gone for good.
    pub removed_at: Option<DateTime<Utc>>,
}

impl UserDataFile {
    /// Whether the file can still be downloaded at `now`: not removed, not expired.
    ///
    /// ```
    /// use chrono::{DateTime, Duration};
    /// use udd_domain::UserDataFile;
    /// let day = |n| DateTime::UNIX_EPOCH + Duration::days(n);
    /// let file = UserDataFile {
    ///     id: "F1".into(),
    ///     user_id: "alice".into(),
    ///     name: "1970-01-01-Alice.zip".into(),
    ///     size: 1024,
    ///     sha256: "00".into(),
    ///     key: "exports/OP1.zip".into(),
    ///     created_at: day(0),
    ///     expires_at: Some(day(7)),
    ///     removed_at: None,
    /// };
    /// assert!(file.is_available(day(6)));
    /// assert!(!file.is_available(day(7)));
    /// ```
    pub fn is_available(&self, now: DateTime<Utc>) -> bool {
        self.removed_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}
