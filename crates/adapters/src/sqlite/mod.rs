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
mod tests {
    use super::*;

    /// diesel knows a migration by the version its folder name starts with: two folders
    /// with one version would leave the second unapplied on every database.
    #[test]
    fn every_migration_has_its_own_version() {
        for backend in ["migrations", "migrations_postgres"] {
            let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(backend);
            let mut versions: Vec<String> = std::fs::read_dir(&folder)
                .expect("the migrations folder")
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .map(|name| name.split('_').next().unwrap_or_default().to_owned())
                .collect();
            let count = versions.len();
            versions.sort();
            versions.dedup();
            assert_eq!(versions.len(), count, "{backend}: a version is used twice");
        }
    }

    /// SQLite's plan for `query` (its parameters left unbound, which leaves the plan
    /// as it is), step by step.
    fn plan_of<Q>(conn: &mut DbConnection, query: &Q) -> anyhow::Result<Vec<String>>
    where
        Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
    {
        use diesel::sql_types::Text;
        use diesel::{sql_query, QueryableByName, RunQueryDsl};

        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
        let sql = sql.split(" -- binds:").next().unwrap_or_default();
        Ok(sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<Step>(conn)?
            .into_iter()
            .map(|step| step.detail)
            .collect())
    }

    /// The one pass over a personal export's quotes reads the small covering index,
    /// not every message of the rooms (the index serves the query only while the
    /// query names its condition literally).
    #[test]
    fn quotes_are_read_from_their_index_alone() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let room = udd_domain::RoomId::from("R");
        let mut conn = db.conn()?;
        assert_eq!(
            plan_of(&mut conn, &links::quotes(&room, 1))?,
            ["SEARCH messages USING COVERING INDEX messages_quoting (room_id=? AND ts<?)"],
        );
        Ok(())
    }

    /// The replies to a batch's parents are one slice of the reply index, between the
    /// first and the last parent's time; those still waiting for their parent are
    /// sought by parent among the room's waiting ones.
    #[test]
    fn replies_are_read_from_the_slice_of_their_parents_times() -> anyhow::Result<()> {
        use diesel::prelude::*;
        let (_dir, db) = testing::database();
        let mut conn = db.conn()?;
        let room = udd_domain::RoomId::from("R");
        let parents = ["p1", "p2"];
        let placed =
            links::replies_to(&room, &parents, 9).filter(schema::messages::thread_ts.between(1, 5));
        assert_eq!(
            plan_of(&mut conn, &placed)?,
            ["SEARCH messages USING COVERING INDEX messages_by_thread (room_id=? AND thread_ts>? AND thread_ts<?)"],
        );
        let waiting =
            links::replies_to(&room, &parents, 9).filter(schema::messages::thread_ts.is_null());
        assert_eq!(
            plan_of(&mut conn, &waiting)?,
            ["SEARCH messages USING COVERING INDEX messages_by_thread (room_id=? AND thread_ts=? AND thread_id=? AND ts<?)"],
        );
        Ok(())
    }

    #[test]
    fn urls_name_a_file_with_or_without_scheme() {
        assert_eq!(
            sqlite_path("data/udd.sqlite3").ok(),
            Some("data/udd.sqlite3")
        );
        assert_eq!(
            sqlite_path("sqlite://data/udd.sqlite3").ok(),
            Some("data/udd.sqlite3")
        );
        assert!(sqlite_path("postgres://localhost/udd").is_err());
        assert!(sqlite_path("").is_err());
    }

    #[test]
    fn migrating_twice_applies_nothing_the_second_time() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = Database::open(&dir.path().join("nested/udd.sqlite3").to_string_lossy(), 2)?;
        assert!(db.migrate()? > 0);
        assert_eq!(db.migrate()?, 0);
        Ok(())
    }

    #[test]
    fn the_database_and_its_wal_and_shm_files_are_for_the_owner_only() -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("data/udd.sqlite3");
        let db = Database::open(&file.to_string_lossy(), 2)?;
        db.migrate()?;
        let mode = |path: &Path| -> anyhow::Result<u32> {
            Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(&dir.path().join("data"))?, 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
            assert_eq!(mode(&path)?, 0o600, "{}", path.display());
        }
        Ok(())
    }

    /// Runs every migration before the first whose name holds `name`.
    fn migrate_before(conn: &mut DbConnection, name: &str) -> anyhow::Result<()> {
        use diesel::migration::MigrationSource;
        use diesel::sqlite::Sqlite;
        diesel::migration::MigrationConnection::setup(conn)?;
        let migrations = MigrationSource::<Sqlite>::migrations(&MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for migration in &migrations {
            if migration.name().to_string().contains(name) {
                break;
            }
            conn.run_migration(migration)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    #[test]
    fn replies_of_an_older_database_get_their_parents_time() -> anyhow::Result<()> {
        use diesel::prelude::*;
        use diesel::sql_query;
        let dir = tempfile::tempdir()?;
        let db = Database::open(&dir.path().join("udd.sqlite3").to_string_lossy(), 2)?;
        let mut conn = db.conn()?;
        migrate_before(&mut conn, "replies_by_parent_time")?;
        sql_query(
            "INSERT INTO messages (id, room_id, ts, thread_id, updated_at) VALUES \
             ('p', 'R', 10, NULL, 0), ('r1', 'R', 20, 'p', 0), ('r2', 'R', 30, 'gone', 0)",
        )
        .execute(&mut conn)?;
        drop(conn);

        assert!(db.migrate()? >= 1);
        let placed: Vec<(String, Option<i64>)> = schema::messages::table
            .filter(schema::messages::thread_id.is_not_null())
            .select((schema::messages::id, schema::messages::thread_ts))
            .order(schema::messages::id)
            .load(&mut db.conn()?)?;
        assert_eq!(
            placed,
            [("r1".to_owned(), Some(10)), ("r2".to_owned(), None)]
        );
        Ok(())
    }

    #[test]
    fn archive_paths_of_an_older_database_become_keys() -> anyhow::Result<()> {
        use diesel::{sql_query, RunQueryDsl};
        use udd_ports::{ExportOperations, UserDataFiles};
        let dir = tempfile::tempdir()?;
        let db = Database::open(&dir.path().join("udd.sqlite3").to_string_lossy(), 2)?;
        let mut conn = db.conn()?;
        // Bring the database to the release before keys.
        migrate_before(&mut conn, "archive_keys")?;
        sql_query(
            "INSERT INTO export_operations (id, user_id, full_export, status, export_path, \
             assets_path, generated_file, file_id, created_at, updated_at, attempts) VALUES \
             ('OP1', 'u1', 0, 'completed', '/srv/data/userData/OP1', \
              '/srv/data/userData/OP1/assets', '/srv/data/zipFiles/OP1.zip', 'F1', 0, 0, 1)",
        )
        .execute(&mut conn)?;
        sql_query(
            "INSERT INTO user_data_files (id, user_id, name, size, sha256, path, created_at) \
             VALUES ('F1', 'u1', 'a.zip', 1, '00', '/srv/data/zipFiles/OP1.zip', 0)",
        )
        .execute(&mut conn)?;
        drop(conn);

        assert!(db.migrate()? >= 1);
        let op = SqliteExportOperations::new(db.clone()).get(&"OP1".into())?;
        assert_eq!(op.archive_key.as_deref(), Some("exports/OP1.zip"));
        let file = SqliteUserDataFiles::new(db).get(&"F1".into())?;
        assert_eq!(file.key, "exports/OP1.zip");
        Ok(())
    }

    /// A message row fills every column of the table, in the table's order (which
    /// PostgreSQL's `COPY` of whole rows relies on).
    #[test]
    fn a_message_row_names_every_column_of_the_table_in_order() -> anyhow::Result<()> {
        use diesel::sql_types::Text;
        use diesel::{sql_query, QueryableByName, RunQueryDsl};
        #[derive(QueryableByName)]
        struct Column {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let (_dir, db) = testing::database();
        let table: Vec<String> =
            sql_query("SELECT name FROM pragma_table_info('messages') ORDER BY cid")
                .load::<Column>(&mut db.conn()?)?
                .into_iter()
                .map(|c| c.name)
                .collect();
        let message = udd_domain::Message::new("m", "r", chrono::DateTime::UNIX_EPOCH);
        let row = message_rows::MessageRow::from(&message);
        assert_eq!(row.columns().collect::<Vec<_>>(), table);
        Ok(())
    }

    /// Batch lookups read in a transaction, which keeps the write-ahead log from being
    /// checkpointed past where it began; a batch after its renewal period ends it.
    #[test]
    fn batch_lookups_hold_the_log_back_no_longer_than_their_renewal() -> anyhow::Result<()> {
        use chrono::DateTime;
        use diesel::sql_types::BigInt;
        use diesel::{sql_query, QueryableByName, RunQueryDsl};
        use udd_ports::{WorkspaceReader, WorkspaceWriter};
        #[derive(QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = BigInt)]
            log: i64,
            #[diesel(sql_type = BigInt)]
            checkpointed: i64,
        }
        let all_copied = |db: &Database| -> anyhow::Result<bool> {
            let done: Checkpoint =
                sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(&mut db.conn()?)?;
            Ok(done.checkpointed == done.log)
        };
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db.clone());
        let message = |id: &str| udd_domain::Message::new(id, "R", DateTime::UNIX_EPOCH);
        ws.upsert_messages(&[message("p")])?;
        let mut lookups = ws.batch_lookups()?;
        let parents = [udd_domain::MessageCursor {
            ts: DateTime::UNIX_EPOCH,
            id: "p".into(),
        }];
        lookups.threads_started(&"R".into(), DateTime::UNIX_EPOCH, &parents)?;
        ws.upsert_messages(&[message("later")])?;
        assert!(!all_copied(&db)?, "the lookups' view holds the log back");
        std::thread::sleep(lookups::PINNED_FOR);
        lookups.batch_done()?;
        assert!(
            all_copied(&db)?,
            "a batch after the renewal period lets it go"
        );
        Ok(())
    }

    #[test]
    fn a_new_file_gets_large_pages_and_an_old_one_keeps_its_own() -> anyhow::Result<()> {
        use diesel::sql_types::BigInt;
        use diesel::{sql_query, QueryableByName, RunQueryDsl};
        #[derive(QueryableByName)]
        struct Size {
            #[diesel(sql_type = BigInt)]
            page_size: i64,
        }
        let page_size = |db: &Database| -> anyhow::Result<i64> {
            let size: Size = sql_query("PRAGMA page_size").get_result(&mut db.conn()?)?;
            Ok(size.page_size)
        };
        let (_dir, db) = testing::database();
        assert_eq!(page_size(&db)?, i64::from(PAGE_SIZE));

        // A file made with SQLite's default pages, holding a table, opened by udd.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("old.sqlite3");
        let path = path.to_str().context("a UTF-8 path")?;
        let mut old = <SqliteConnection as diesel::Connection>::establish(path)?;
        old.batch_execute(
            "CREATE TABLE kept (id INTEGER PRIMARY KEY); INSERT INTO kept VALUES (7);",
        )?;
        drop(old);
        let db = Database::open(path, 2)?;
        assert_eq!(page_size(&db)?, 4096);
        Ok(())
    }

    #[test]
    fn connections_use_wal_and_enforce_foreign_keys() -> anyhow::Result<()> {
        use diesel::sql_types::{BigInt, Text};
        use diesel::{sql_query, QueryableByName, RunQueryDsl};
        #[derive(QueryableByName)]
        struct Mode {
            #[diesel(sql_type = Text)]
            journal_mode: String,
        }
        #[derive(QueryableByName)]
        struct Fk {
            #[diesel(sql_type = BigInt)]
            foreign_keys: i64,
        }
        let (_dir, db) = testing::database();
        let mut conn = db.conn()?;
        let mode: Mode = sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
        let fk: Fk = sql_query("PRAGMA foreign_keys").get_result(&mut conn)?;
        assert_eq!(mode.journal_mode, "wal");
        assert_eq!(fk.foreign_keys, 1);
        Ok(())
    }
}
