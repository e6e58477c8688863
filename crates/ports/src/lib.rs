//! # udd-ports
//!
//! The traits the udd core needs from the outside world, each small and named for what
//! the core needs of it. The core (`udd-app`) is written against these traits only;
//! `udd-adapters` implements them (SQLite, filesystem, hashing, clock, ids) and tests
//! swap in mocks (feature `mock`, mockall) or fakes.
//!
//! Every trait is synchronous: the adapters behind them (diesel, the filesystem) block,
//! and the HTTP layer calls the core from a blocking pool.
//!
//! This crate knows no database, no web framework and no filesystem.

mod admin;
mod delivery;
mod dump;
mod error;
mod export;
mod forms;
mod instances;
mod login;
mod records;
mod repositories;
mod second_factor;
mod services;
mod sessions;
mod workspace;

pub use admin::{OperationAdmin, OperationLine};
pub use delivery::{
    DownloadLinks, DownloadLog, DownloadRecord, LinkError, MailError, Mailer, NoticeKind,
    NoticeOutcome, Notices, OutgoingMail, PendingNotice, StoredExports, StoredItem,
    DOWNLOAD_SESSION_MINUTES, MAX_DOWNLOAD_RECORDS_PER_FILE,
};
pub use error::StoreError;
pub use export::{
    ArchiveEntry, ArchiveRead, ArchiveSource, ArchiveStore, ByteRange, ExportBatch, ExportFileRef,
    ExportFiles, ExportProgress, ExportQueue, ExportWakeup, WorkingRange,
};
pub use forms::FormTokens;
pub use instances::{WorkerInstance, WorkerInstances};
pub use login::LoginFailures;
pub use records::{
    AuditEntry, AuditQuery, DeletedRecords, DownloadAudit, OperationRecords, OperationSummary,
    UserRecords,
};
pub use repositories::{
    ExportOperations, LoginTokens, NewUser, UserCredentials, UserDataFiles, Users,
};
pub use second_factor::{OneTimeCodes, SecondFactorStore};
pub use services::{Clock, IdGenerator, PasswordHasher, Singleton, TokenIssuer};
pub use sessions::{RemoteSessions, RemoteUser, SessionError, UserProfiles};
/// Re-exported: ports hand it around, the domain defines it.
pub use udd_domain::UserDataFile;
pub use workspace::{
    BatchLookups, BlobKind, BlobStore, Collection, Deletion, Document, DumpEntry, DumpLocation,
    Moved, MovedKind, NoProgress, Progress, Removed, StoredVersion, ThreadReplies, WorkspaceDump,
    WorkspaceReader, WorkspaceUser, WorkspaceWriter,
};

#[cfg(feature = "mock")]
pub use admin::MockOperationAdmin;
#[cfg(feature = "mock")]
pub use delivery::{
    MockDownloadLinks, MockDownloadLog, MockMailer, MockNotices, MockStoredExports,
};
#[cfg(feature = "mock")]
pub use export::{
    MockArchiveStore, MockExportFiles, MockExportProgress, MockExportQueue, MockExportWakeup,
};
#[cfg(feature = "mock")]
pub use forms::MockFormTokens;
#[cfg(feature = "mock")]
pub use instances::MockWorkerInstances;
#[cfg(feature = "mock")]
pub use login::MockLoginFailures;
#[cfg(feature = "mock")]
pub use records::{MockDownloadAudit, MockOperationRecords};
#[cfg(feature = "mock")]
pub use repositories::{MockExportOperations, MockLoginTokens, MockUserDataFiles, MockUsers};
#[cfg(feature = "mock")]
pub use second_factor::{MockOneTimeCodes, MockSecondFactorStore};
#[cfg(feature = "mock")]
pub use services::{MockClock, MockIdGenerator, MockPasswordHasher, MockTokenIssuer};
#[cfg(feature = "mock")]
pub use sessions::{MockRemoteSessions, MockUserProfiles};
#[cfg(feature = "mock")]
pub use workspace::{MockBatchLookups, MockBlobStore, MockWorkspaceReader, MockWorkspaceWriter};
