//! # udd-adapters
//!
//! Implementations of the `udd-ports` traits for the real world:
//!
//! - [`sqlite`]: every repository on SQLite through diesel and an r2d2 pool, with the
//!   embedded migrations (libsqlite3 is compiled in, so nothing needs installing);
//! - [`postgres`]: the same repositories on PostgreSQL (diesel's PostgreSQL backend, its
//!   own migrations, `FOR UPDATE SKIP LOCKED` claims, `LISTEN`/`NOTIFY` wake-ups and
//!   advisory locks for singleton work), for several processes on one database;
//! - [`fs`]: the export working folders on the local filesystem;
//! - [`blobs`]: upload and avatar bytes in a local folder;
//! - [`archive`]: finished zips, written deterministically and atomically;
//! - [`object`]: upload and avatar bytes and finished archives in an S3-compatible
//!   bucket (object_store), with presigned download links;
//! - [`rocketchat`]: reading a Rocket.Chat dump (mongoexport, mongodump, archive, GridFS);
//! - [`remote_sessions`]: checking a Rocket.Chat login token with the workspace itself
//!   (`GET /api/v1/me`, rustls);
//! - [`webdav`]: uploads read in place from Rocket.Chat's WebDAV store;
//! - [`security`]: Rocket.Chat-compatible password hashing and login tokens;
//! - [`system`]: the system clock, Rocket.Chat-style random ids and one-time codes;
//! - [`form_tokens`]: tokens that protect the web page's forms against forgery;
//! - [`links`]: signed, expiring download links (HMAC-SHA256 with a server secret);
//! - [`stored`]: what export operations left on disk, for retention;
//! - [`owner_only`]: every folder and file created `0700`/`0600`, whatever the umask;
//! - [`mail`]: sending mail over SMTP (rustls, no OpenSSL), or into an outbox folder of
//!   `.eml` files when there is no mail server;
//! - [`memory`]: blobs, archives and mail kept in memory, for tests and embedding;
//! - [`hashing`]: size and SHA-256 of a stream.
//!
//! With the `testing` feature, `smtp_test_server` adds a loopback SMTP server, and the
//! SQLite adapters gain readers that only tests need (a notice's state, a file's
//! download log, one message by id).
//!
//! Only this crate knows diesel, r2d2 and the filesystem layout. Row types and the
//! schema stay private; everything crossing the boundary is a domain or port type.

pub mod archive;
pub mod blobs;
pub mod copy;
mod dialect;
pub mod form_tokens;
pub mod fs;
mod group_commit;
pub mod hashing;
pub mod links;
pub mod mail;
pub mod memory;
pub mod object;
pub mod owner_only;
pub mod postgres;
pub mod remote_sessions;
pub mod rocketchat;
#[cfg(any(test, feature = "testing"))]
pub mod s3_test_server;
pub mod security;
#[cfg(any(test, feature = "testing"))]
pub mod smtp_test_server;
pub mod sqlite;
pub mod stored;
pub mod system;
pub mod webdav;

pub use archive::ZipArchiveStore;
pub use blobs::{blob_key_prefix, LocalBlobStore};
pub use form_tokens::HmacFormTokens;
pub use fs::LocalExportFiles;
pub use links::HmacDownloadLinks;
pub use mail::{MailSettings, MailTls, OutboxMailer, SmtpMailer};
pub use memory::{MemoryArchiveStore, MemoryBlobStore, RecordingMailer};
pub use object::{
    ObjectArchiveStore, ObjectBlobStore, ObjectStorage, ObjectStoredExports, S3Config,
    WithRocketChatUploads,
};
pub use remote_sessions::RocketChatSessions;
pub use rocketchat::{delta_queries, DeltaQuery, MongoExportDump, RocketChatDump, DELTA_MARGIN};
#[cfg(any(test, feature = "testing"))]
pub use s3_test_server::S3TestServer;
pub use security::{RocketChatPasswords, RocketChatTokens};
#[cfg(any(test, feature = "testing"))]
pub use smtp_test_server::{LoopbackSmtpServer, ReceivedMail};
pub use sqlite::SqliteLoginFailures;
pub use sqlite::{
    Database, MailState, SqliteDownloadAudit, SqliteDownloadLog, SqliteExportOperations,
    SqliteLoginTokens, SqliteNotices, SqliteOperationRecords, SqliteUserDataFiles, SqliteUsers,
    SqliteWorkerInstances, SqliteWorkspace, TableFingerprint,
};
pub use stored::LocalStoredExports;
pub use system::{LocalWakeup, RandomCodes, RandomIds, SystemClock, Unshared};
pub use webdav::WebDavUploads;
