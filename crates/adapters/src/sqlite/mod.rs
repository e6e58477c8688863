//! Every repository on SQLite, through diesel and an r2d2 pool.
//!
//! The queries stay within what PostgreSQL also runs (timestamps as BIGINT milliseconds,
//! lists as JSON text, no SQLite-only functions): the [`postgres`](crate::postgres)
//! adapter compiles these same repository modules against its own connection. What
//! differs between the two is in `dialect` (write transactions, leasing) and in the
//! connection setup here.
//!
//! The queries on the request path read their one row with `load` rather than `first`
//! ("one row without `LIMIT ?`"): diesel binds `LIMIT` as a parameter, and SQLite, which
//! reads a bound `LIMIT` while planning, re-prepares such a statement (parse and plan)
//! every time it is bound again. On `users.requestDataDownload` that was three
//! re-prepares per call and about half its time. The queries so written select by a
//! unique key or from a handful of rows.

// The repository files are loaded here and again by `postgres`, on purpose.
#![allow(clippy::duplicate_mod)]

mod audit;
mod delivery;
mod dialect;
mod files;
mod fingerprint;
mod instances;
mod links;
mod login_failures;
mod lookups;
mod message_load;
mod message_rows;
mod operations;
mod reader;
mod records;
mod replies;
pub(crate) mod schema;
mod second_factors;
mod sync;
mod tokens;
mod users;
mod workspace;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use udd_ports::StoreError;

pub use audit::SqliteDownloadAudit;
pub use delivery::{MailState, SqliteDownloadLog, SqliteNotices};
pub use files::SqliteUserDataFiles;
pub use fingerprint::TableFingerprint;
pub use instances::SqliteWorkerInstances;
pub use login_failures::SqliteLoginFailures;
pub use operations::SqliteExportOperations;
pub use records::SqliteOperationRecords;
pub use tokens::SqliteLoginTokens;
pub use users::SqliteUsers;
pub use workspace::SqliteWorkspace;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// The connection the shared repository modules are compiled against.
type DbConnection = SqliteConnection;

/// Whether a page of messages is read by stepping the rows it needs rather than with
/// a bound `LIMIT` (which SQLite re-prepares on every bind).
const PAGE_BY_STEPPING: bool = true;

/// The write lock of everything that creates users or claims their names and addresses
/// (adding a user, imports, users Rocket.Chat vouches for).
pub(crate) const USERS_LOCK: &str = "users";

/// Pragmas every pooled connection gets: WAL so readers never block the writer, a busy
/// timeout so concurrent writers queue instead of failing, enforced foreign keys, and a
/// 16 MiB page cache (the 2 MiB default makes bulk loads into the message index thrash).
#[derive(Debug, Clone, Copy)]
struct Pragmas;

/// The page size of a new database file, in bytes (SQLite's default is 4 KiB; a file
/// keeps the size it was made with). An export reads its rooms' messages in key order,
/// a page at a time, one system call and copy each: at 16 KiB a personal export of a
/// million messages takes 5 % less CPU.
const PAGE_SIZE: u32 = 16 * 1024;

/// The page cache of every connection, in KiB. A cache fills up to its size with use
/// and stays full, and an export keeps two or three connections busy (reading, the
/// link lookups, the commits): at 32 MiB a 10 M-message personal export peaked at
/// 67 MiB, at 16 MiB at 53 MiB, with the same speed and import speed.
pub(crate) const CACHE_KIB: u32 = 16 * 1024;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            // busy_timeout first: switching a new file to WAL takes a lock that the
            // pool's other connections, opened at the same moment, must wait for.
            "PRAGMA busy_timeout = 15000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA temp_store = MEMORY;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The page cache of a connection of batch lookups ([`Database::dedicated`]), in KiB:
/// the reply index of a million messages and the uploads' pages fit, and it stays
/// within the export's memory when the index of a larger workspace does not (at 16 MiB
/// a 5 M-message personal export peaked 11 MiB higher, no faster).
const LOOKUP_CACHE_KIB: u32 = 4096;

/// The page cache, in KiB, while a connection scans what it reads once (an export's
/// messages): the pages would otherwise fill the connection's whole cache (16 MiB,
/// see [`Pragmas`]), and keep it full, for nothing.
const SCAN_CACHE_KIB: u32 = 2048;

/// Runs `read`, which reads pages once, on `conn` with a small page cache, then gives
/// the connection its usual cache back (which starts empty again).
fn scan_once<T>(
    conn: &mut SqliteConnection,
    read: impl FnOnce(&mut SqliteConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let cache = |conn: &mut SqliteConnection, kib: u32| {
        conn.batch_execute(&format!("PRAGMA cache_size = -{kib}"))
            .map_err(|e| store_error(e, "sizing the page cache"))
    };
    cache(conn, SCAN_CACHE_KIB)?;
    let result = read(conn);
    cache(conn, CACHE_KIB)?;
    result
}

/// A pool of connections to one SQLite database file.
#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    /// The database file, when it is one a second connection can open by its path.
    file: Option<String>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Database {
    /// Opens (creating if needed) the database at `url` — a path, or `sqlite://path` —
    /// with at most `pool_size` connections. Does not migrate; see [`Database::migrate`].
    pub fn open(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        let path = sqlite_path(url)?;
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            crate::owner_only::create_dir_all(parent)
                .with_context(|| format!("creating the database folder {}", parent.display()))?;
        }
        // The file is made here, owner-only, before SQLite would create it after the
        // umask; SQLite gives its -wal and -shm files the database file's mode.
        let file = (path != ":memory:" && !path.starts_with("file:")).then(|| path.to_owned());
        if file.is_some() {
            crate::owner_only::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("creating the SQLite database {path}"))?;
        }
        // WAL is a property of the file. Setting it once here, before the pool opens its
        // connections together, spares them the exclusive lock the switch needs (SQLite
        // answers "database is locked" there without waiting). So is the page size, which
        // a new file takes before the switch writes its first page.
        <SqliteConnection as diesel::Connection>::establish(path)
            .and_then(|mut conn| {
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 15000;
                     PRAGMA page_size = {PAGE_SIZE};
                     PRAGMA journal_mode = WAL;"
                ))
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
            })
            .with_context(|| format!("opening the SQLite database {path}"))?;
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(Duration::from_secs(30))
            // r2d2 would run `SELECT 1` on every checkout; a connection to a local file
            // does not go stale, and a request checks out several.
            .test_on_check_out(false)
            .connection_customizer(Box::new(Pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(path))
            .with_context(|| format!("opening the SQLite database {path}"))?;
        Ok(Self { pool, file })
    }

    /// Applies the migrations not yet applied and returns how many ran.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self.conn()?;
        announce_migrations(&mut *conn, MIGRATIONS)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("running database migrations: {e}"))?;
        Ok(applied.len())
    }

    pub(crate) fn conn(&self) -> anyhow::Result<Conn> {
        self.pool
            .get()
            .context("taking a database connection from the pool")
    }

    /// A connection of its own, outside the pool, for an export's batch lookups: they
    /// keep it in long read transactions, which must neither take one of the pool's
    /// connections for the whole export nor hand one back mid-transaction. `None` for
    /// a database only the pool's connections share (in memory).
    pub(crate) fn dedicated(&self) -> anyhow::Result<Option<SqliteConnection>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let mut conn = <SqliteConnection as diesel::Connection>::establish(file)
            .with_context(|| format!("opening the SQLite database {file}"))?;
        Pragmas
            .on_acquire(&mut conn)
            .and_then(|()| {
                conn.batch_execute(&format!("PRAGMA cache_size = -{LOOKUP_CACHE_KIB}"))
                    .map_err(diesel::r2d2::Error::QueryError)
            })
            .with_context(|| format!("opening the SQLite database {file}"))?;
        Ok(Some(conn))
    }
}

/// Writes `rows` into `messages` while a bulk load has put its index on the id off
/// (see `message_load`): by the primary key, at the end of each room.
fn bulk_write(
    conn: &mut DbConnection,
    rows: &[message_rows::MessageRow<'_>],
) -> diesel::QueryResult<()> {
    message_rows::upsert(conn, rows, message_rows::Key::Primary)
}

/// Logs, before they run, how many migrations `conn` is about to apply: one that
/// rewrites the messages (as `replies_by_parent_time` fills a column) takes a while on
/// a large workspace, and a process that starts must not look hung meanwhile.
pub(crate) fn announce_migrations<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let pending = conn
        .pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("listing pending database migrations: {e}"))?;
    if let Some(last) = pending.last() {
        tracing::info!(
            pending = pending.len(),
            last = %last.name(),
            "migrating the database (on a large workspace this can take minutes)"
        );
    }
    Ok(())
}

/// The file path named by a `database.url`.
fn sqlite_path(url: &str) -> anyhow::Result<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        anyhow::bail!("unsupported database url `{url}`: expected a file path or sqlite://PATH");
    }
    Ok(path)
}

/// Translates diesel's errors into the port's: not-found and unique violations become
/// their own variants, the rest carries `what` as context. Which unique rule a
/// violation broke is not read from the message: adapters that must tell (a username
/// from an e-mail address) check before they write.
pub(crate) fn store_error(err: DieselError, what: &str) -> StoreError {
    match err {
        DieselError::NotFound => StoreError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::AlreadyExists(what.to_owned())
        }
        other => StoreError::Unexpected(anyhow::Error::new(other).context(what.to_owned())),
    }
}

pub(crate) fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Database;

    /// A migrated database in a fresh temporary folder (kept alive by the guard).
    pub fn database() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = dir.path().join("udd.sqlite3");
        let db = Database::open(&url.to_string_lossy(), 4).unwrap_or_else(|e| panic!("{e:#}"));
        db.migrate().unwrap_or_else(|e| panic!("{e:#}"));
        (dir, db)
    }

    /// A second pool on the database of `dir`, as another process would open it.
    pub fn another_pool(dir: &tempfile::TempDir) -> Database {
        pool_of(dir, 4)
    }

    /// A pool of at most `size` connections on the database of `dir`.
    pub fn pool_of(dir: &tempfile::TempDir, size: u32) -> Database {
        let url = dir.path().join("udd.sqlite3");
        Database::open(&url.to_string_lossy(), size).unwrap_or_else(|e| panic!("{e:#}"))
    }
}

#[cfg(test)]
mod tests;
