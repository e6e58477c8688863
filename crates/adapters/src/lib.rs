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
//! - [`system`]: the system clock and Rocket.Chat-style random ids.
//!
//! Only this crate knows diesel, r2d2 and the filesystem layout. Row types and the
//! schema stay private; everything crossing the boundary is a domain or port type.

pub mod archive;
pub mod blobs;
pub mod fs;
pub mod rocketchat;
pub mod security;
pub mod sqlite;
pub mod system;

pub use archive::ZipArchiveStore;
pub use blobs::LocalBlobStore;
pub use fs::{LocalExportFiles, LocalExportFolders};
pub use rocketchat::MongoExportDump;
pub use security::{RocketChatPasswords, RocketChatTokens};
pub use sqlite::{
    Database, SqliteExportOperations, SqliteLoginTokens, SqliteUserDataFiles, SqliteUsers,
    SqliteWorkspace, TableFingerprint,
};
pub use system::{LocalWakeup, RandomIds, SystemClock};
