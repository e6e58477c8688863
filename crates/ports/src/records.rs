//! What the data protection officer and retention need of the records: a user's
//! operations and archives, their erasure, the age limit on finished records, and the
//! download log read back for an audit.

use chrono::{DateTime, Utc};
use udd_domain::{ExportStatus, FileId, OperationId, UserDataFile, UserId};

use crate::StoreError;

/// One of a user's export operations, as erasure lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSummary {
    /// The operation.
    pub id: OperationId,
    /// Where it stands.
    pub status: ExportStatus,
    /// Whether a worker holds it right now (an unexpired lease).
    pub running: bool,
}

/// A user's records: what erasure removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRecords {
    /// The export operations, oldest first.
    pub operations: Vec<OperationSummary>,
    /// The archives' records (removed ones too), oldest first.
    pub files: Vec<UserDataFile>,
}

/// How many rows an erasure or a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletedRecords {
    /// Export operations (with their rooms, pseudonyms and file lists).
    pub operations: u64,
    /// User data file records.
    pub files: u64,
    /// Mail notices.
    pub notices: u64,
}

/// The export records of users, for erasure and retention.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait OperationRecords: Send + Sync {
    /// Every operation and archive record of `user_id` at `now` (an operation is
    /// running when a lease on it runs past `now`).
    ///
    /// Errors: `Unexpected` only.
    fn of_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<UserRecords, StoreError>;

    /// Deletes every operation of `user_id` with its rooms, pseudonyms, file lists and
    /// notices, and every user data file record of theirs; the download log is kept.
    /// Deleting what is not there deletes nothing.
    ///
    /// Errors: `Unexpected` only.
    fn delete_of_user(&self, user_id: &UserId) -> Result<DeletedRecords, StoreError>;

    /// Deletes at most `limit` finished operations (completed, failed or skipped) last
    /// changed before `before` whose archive is gone (never made, or removed by
    /// retention), with their rows and their user data file records.
    ///
    /// Errors: `Unexpected` only.
    fn remove_finished_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<DeletedRecords, StoreError>;
}

/// Which downloads an audit asks for; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this user's downloads.
    pub user_id: Option<UserId>,
    /// Only downloads of this file.
    pub file_id: Option<FileId>,
    /// Only downloads at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only downloads before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// One download as the audit shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it started.
    pub at: DateTime<Utc>,
    /// Who downloaded (the owner).
    pub user_id: UserId,
    /// Their username, while the user exists.
    pub username: Option<String>,
    /// The file.
    pub file_id: FileId,
    /// The file's download name, while its record exists.
    pub file_name: Option<String>,
    /// Bytes sent.
    pub bytes: u64,
    /// The client's address.
    pub client_address: Option<String>,
    /// Whether the signed link (rather than a login) let them in.
    pub by_link: bool,
}

/// The download log read back: who downloaded what, when and from where.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait DownloadAudit: Send + Sync {
    /// The downloads `query` selects, oldest first.
    ///
    /// Errors: `Unexpected` only.
    fn downloads(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Deletes the log's records older than `before`; returns how many.
    ///
    /// Errors: `Unexpected` only.
    fn remove_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
