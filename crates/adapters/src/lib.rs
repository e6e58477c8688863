//! # udd-adapters
//!
//! Implementations of the `udd-ports` traits for the real world:
//!
//! - [`sqlite`]: every repository on SQLite through diesel and an r2d2 pool, with the
//!   embedded migrations (libsqlite3 is compiled in, so nothing needs installing);
//! - [`fs`]: the export working folders on the local filesystem;
//! - [`blobs`]: upload and avatar bytes in a local folder;
//! - [`archive`]: finished zips, written deterministically and atomically;
//! - [`rocketchat`]: reading a Rocket.Chat `mongoexport` dump;
//! - [`security`]: Rocket.Chat-compatible password hashing and login tokens;
//! - [`system`]: the system clock and Rocket.Chat-style random ids;
//! - [`links`]: signed, expiring download links (HMAC-SHA256 with a server secret);
//! - [`stored`]: what export operations left on disk, for retention;
//! - [`mail`]: sending mail over SMTP (rustls, no OpenSSL), or into an outbox folder of
//!   `.eml` files when there is no mail server (with the `smtp-test-server` feature,
//!   `smtp_test_server` adds a loopback SMTP server for tests).
//!
//! Only this crate knows diesel, r2d2 and the filesystem layout. Row types and the
//! schema stay private; everything crossing the boundary is a domain or port type.

pub mod archive;
pub mod blobs;
pub mod fs;
pub mod links;
pub mod mail;
pub mod rocketchat;
pub mod security;
#[cfg(any(test, feature = "smtp-test-server"))]
pub mod smtp_test_server;
pub mod sqlite;
pub mod stored;
pub mod system;

pub use archive::ZipArchiveStore;
pub use blobs::LocalBlobStore;
pub use fs::{LocalExportFiles, LocalExportFolders};
pub use links::HmacDownloadLinks;
pub use mail::{MailSettings, MailTls, OutboxMailer, SmtpMailer};
pub use rocketchat::MongoExportDump;
pub use security::{RocketChatPasswords, RocketChatTokens};
#[cfg(any(test, feature = "smtp-test-server"))]
pub use smtp_test_server::{LoopbackSmtpServer, ReceivedMail};
pub use sqlite::SqliteLoginFailures;
pub use sqlite::{
    Database, MailState, SqliteDownloadLog, SqliteExportOperations, SqliteLoginTokens,
    SqliteNotices, SqliteUserDataFiles, SqliteUsers, SqliteWorkspace, TableFingerprint,
};
pub use stored::LocalStoredExports;
pub use system::{LocalWakeup, RandomIds, SystemClock};
