//! Every repository on PostgreSQL, through diesel's PostgreSQL backend and an r2d2 pool,
//! for installations that run several `udd serve` and `udd worker` processes on one
//! database.
//!
//! The repository modules are the SQLite adapter's own files, compiled a second time
//! against [`PgConnection`]: their queries are plain diesel that both backends run, and
//! the schema module is shared (the PostgreSQL migrations create the same columns with
//! the same types). What differs lives here: the connection pool and the migrations
//! (`migrations_postgres/`), the [`Dialect`](crate::dialect::Dialect) (advisory locks
//! for named write transactions, `FOR UPDATE SKIP LOCKED` for claims), the wake-up by
//! `LISTEN`/`NOTIFY` ([`PgWakeup`]) and singleton work under an advisory lock
//! ([`PgSingleton`]).
//!
//! The exported types carry the PostgreSQL names (`PgUsers`, `PgExportOperations`, …);
//! inside, they are the SQLite adapter's structs over a [`PgDatabase`].

// Loading the repository files a second time is the point (see above).
#![allow(clippy::duplicate_mod)]

#[path = "../sqlite/audit.rs"]
mod audit;
#[path = "../sqlite/delivery.rs"]
mod delivery;
mod dialect;
#[path = "../sqlite/files.rs"]
mod files;
#[path = "../sqlite/instances.rs"]
mod instances;
#[path = "../sqlite/links.rs"]
mod links;
#[path = "../sqlite/login_failures.rs"]
mod login_failures;
#[path = "../sqlite/lookups.rs"]
mod lookups;
mod message_copy;
#[path = "../sqlite/message_load.rs"]
mod message_load;
#[path = "../sqlite/message_rows.rs"]
mod message_rows;
#[path = "../sqlite/operations/mod.rs"]
mod operations;
#[path = "../sqlite/reader.rs"]
mod reader;
#[path = "../sqlite/records.rs"]
mod records;
#[path = "../sqlite/replies.rs"]
mod replies;
#[path = "../sqlite/second_factors.rs"]
mod second_factors;
mod singleton;
#[path = "../sqlite/sync.rs"]
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
#[path = "../sqlite/tokens.rs"]
mod tokens;
#[path = "../sqlite/users.rs"]
mod users;
mod wakeup;
#[path = "../sqlite/workspace.rs"]
mod workspace;

use std::time::Duration;

use anyhow::Context;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::{Connection, PgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub(crate) use crate::sqlite::{
    announce_migrations, json_list, schema, store_error, to_json, USERS_LOCK,
};
use message_copy::bulk_write;

pub use audit::SqliteDownloadAudit as PgDownloadAudit;
pub use delivery::{MailState, SqliteDownloadLog as PgDownloadLog, SqliteNotices as PgNotices};
pub use files::SqliteUserDataFiles as PgUserDataFiles;
pub use instances::SqliteWorkerInstances as PgWorkerInstances;
pub use login_failures::SqliteLoginFailures as PgLoginFailures;
pub use operations::SqliteExportOperations as PgExportOperations;
pub use records::SqliteOperationRecords as PgOperationRecords;
pub use singleton::PgSingleton;
pub use tokens::SqliteLoginTokens as PgLoginTokens;
pub use users::SqliteUsers as PgUsers;
pub use wakeup::PgWakeup;
pub use workspace::SqliteWorkspace as PgWorkspace;

// The shared modules name their siblings as the SQLite adapter does.
#[allow(unused_imports)]
use {
    audit::SqliteDownloadAudit, delivery::SqliteDownloadLog, files::SqliteUserDataFiles,
    operations::SqliteExportOperations, users::SqliteUsers, workspace::SqliteWorkspace,
    PgDatabase as Database,
};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations_postgres");

type Conn = PooledConnection<ConnectionManager<PgConnection>>;

/// The connection the shared repository modules are compiled against.
type DbConnection = PgConnection;

/// A page of messages is read with its `LIMIT`: PostgreSQL sends a result whole.
const PAGE_BY_STEPPING: bool = false;

/// Runs `read` on `conn` (the server's buffer cache is not the process's memory).
fn scan_once<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> Result<T, udd_ports::StoreError>,
) -> Result<T, udd_ports::StoreError> {
    read(conn)
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with any password (in the user part or a `password=` option) replaced by
/// `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_owned(),
            },
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        Some(query) => {
            let options: Vec<String> = query
                .split('&')
                .map(|option| match option.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => option.to_owned(),
                })
                .collect();
            format!("{base}?{}", options.join("&"))
        }
        None => base,
    }
}

/// `url` with `sslrootcert=system` (libpq's "the system's certificate authorities")
/// naming the system's bundle, `bundle`: unless the environment says where they are
/// (`SSL_CERT_FILE`, `SSL_CERT_DIR`), the OpenSSL built into udd would look for them
/// under its own prefix, not where the system keeps them. As libpq does for `system`,
/// the certificate and host name are then verified: `sslmode` defaults to
/// `verify-full`, and a weaker mode is refused.
///
/// Errors: `system` with a weaker `sslmode`, or with no bundle found on this system.
fn with_system_roots(url: &str, bundle: Option<&std::path::Path>) -> anyhow::Result<String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let options: Vec<(&str, &str)> = query
        .split('&')
        .map(|option| option.split_once('=').unwrap_or((option, "")))
        .collect();
    if !options.contains(&("sslrootcert", "system")) {
        return Ok(url.to_owned());
    }
    let mode = options
        .iter()
        .find(|(key, _)| *key == "sslmode")
        .map(|(_, v)| *v);
    if mode.is_some_and(|mode| mode != "verify-full") {
        anyhow::bail!(
            "sslrootcert=system verifies the server's certificate and name: use \
             sslmode=verify-full, not {}",
            mode.unwrap_or_default()
        );
    }
    let bundle = bundle.context(
        "sslrootcert=system, but no certificate authorities were found on this system \
         (set SSL_CERT_FILE, or name a file with sslrootcert=)",
    )?;
    let mut rewritten: Vec<String> = query
        .split('&')
        .map(|option| match option {
            "sslrootcert=system" => format!("sslrootcert={}", bundle.display()),
            _ => option.to_owned(),
        })
        .collect();
    if mode.is_none() {
        rewritten.push("sslmode=verify-full".to_owned());
    }
    Ok(format!("{base}?{}", rewritten.join("&")))
}

/// A pool of connections to one PostgreSQL database.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool<ConnectionManager<PgConnection>>,
    url: String,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase")
            .field("url", &redacted(&self.url))
            .field("state", &self.pool.state())
            .finish()
    }
}

impl PgDatabase {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) with at most
    /// `pool_size` connections. Does not migrate; see [`PgDatabase::migrate`].
    ///
    /// Errors: a url that is not PostgreSQL's, or a server that cannot be reached (said
    /// at once, not after the pool's timeout).
    pub fn open(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        if !is_postgres_url(url) {
            anyhow::bail!(
                "unsupported database url `{}`: expected postgres://…",
                redacted(url)
            );
        }
        // OpenSSL itself honours SSL_CERT_FILE and SSL_CERT_DIR; only without them is
        // `system` pointed at the distribution's bundle.
        let url = &if openssl_probe::has_ssl_cert_env_vars() {
            url.to_owned()
        } else {
            with_system_roots(url, openssl_probe::probe().cert_file.as_deref())
                .with_context(|| format!("connecting to PostgreSQL at {}", redacted(url)))?
        };
        // One connection first, so a wrong address or a server that is down is an error
        // now, with the server's words, rather than a pool timing out later.
        PgConnection::establish(url)
            .with_context(|| format!("connecting to PostgreSQL at {}", redacted(url)))?;
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(ConnectionManager::<PgConnection>::new(url))
            .with_context(|| format!("opening a pool to PostgreSQL at {}", redacted(url)))?;
        Ok(Self {
            pool,
            url: url.to_owned(),
        })
    }

    /// Applies the migrations not yet applied and returns how many ran. Several
    /// processes starting at once take turns (an advisory lock), so each migration runs
    /// once.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        use diesel::RunQueryDsl;
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT pg_advisory_lock(hashtextextended('udd:migrations', 0))")
            .execute(&mut conn)
            .context("waiting for other processes' migrations")?;
        announce_migrations(&mut *conn, MIGRATIONS)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|e| anyhow::anyhow!("running database migrations: {e}"));
        diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended('udd:migrations', 0))")
            .execute(&mut conn)
            .context("ending the migrations")?;
        applied
    }

    /// The url this pool connects to (with its password; see [`redacted`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn conn(&self) -> anyhow::Result<Conn> {
        self.pool
            .get()
            .context("taking a database connection from the pool")
    }

    /// A connection of its own for an export's batch lookups (see the SQLite
    /// `Database::dedicated`): none, as PostgreSQL keeps its cache on the server,
    /// whatever a connection's transactions.
    #[allow(clippy::unnecessary_wraps, clippy::unused_self)]
    pub(crate) fn dedicated(&self) -> anyhow::Result<Option<PgConnection>> {
        Ok(None)
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn only_postgres_urls_are_taken() {
        assert!(is_postgres_url("postgres://postgres@127.0.0.1:5432/udd"));
        assert!(is_postgres_url("postgresql://u:p@db/udd"));
        assert!(!is_postgres_url("sqlite://data/udd.sqlite3"));
        assert!(!is_postgres_url("data/udd.sqlite3"));
        assert!(PgDatabase::open("data/udd.sqlite3", 1).is_err());
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("postgres://udd:s3cret@db:5432/udd"),
            "postgres://udd:***@db:5432/udd"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/udd"),
            "postgres://postgres@127.0.0.1/udd"
        );
        assert_eq!(
            redacted("postgres://u:a@b@db/udd?sslmode=require&password=s3cret&x=1"),
            "postgres://u:***@db/udd?sslmode=require&password=***&x=1"
        );
    }

    #[test]
    fn the_system_authorities_are_named_by_their_file_and_then_verified() -> anyhow::Result<()> {
        let bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
        assert_eq!(
            with_system_roots("postgres://db/udd?sslrootcert=system", Some(bundle))?,
            "postgres://db/udd?sslrootcert=/etc/ssl/certs/ca-certificates.crt&sslmode=verify-full"
        );
        assert_eq!(
            with_system_roots(
                "postgres://db/udd?sslmode=verify-full&sslrootcert=system&connect_timeout=5",
                Some(bundle)
            )?,
            "postgres://db/udd?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt\
             &connect_timeout=5"
        );
        // Anything else is left as it is.
        for url in [
            "postgres://db/udd",
            "postgres://db/udd?sslmode=require",
            "postgres://db/udd?sslrootcert=/etc/udd/ca.pem",
        ] {
            assert_eq!(with_system_roots(url, Some(bundle))?, url);
            assert_eq!(with_system_roots(url, None)?, url);
        }
        for weaker in ["require", "verify-ca"] {
            let refused = with_system_roots(
                &format!("postgres://db/u?sslrootcert=system&sslmode={weaker}"),
                Some(bundle),
            )
            .expect_err("system roots without full verification");
            assert!(
                format!("{refused}").contains(&format!("not {weaker}")),
                "{refused}"
            );
        }
        let none = with_system_roots("postgres://db/udd?sslrootcert=system", None)
            .expect_err("no bundle on this system");
        assert!(format!("{none}").contains("SSL_CERT_FILE"), "{none}");
        Ok(())
    }

    #[test]
    fn an_unreachable_server_is_an_error_that_names_it() {
        // Port 1 on loopback: nothing listens there.
        let err = PgDatabase::open("postgres://udd:s3cret@127.0.0.1:1/udd", 1)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("127.0.0.1:1"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn migrating_twice_applies_nothing_the_second_time() -> anyhow::Result<()> {
        let (_guard, db) = testing::database();
        assert_eq!(db.migrate()?, 0);
        Ok(())
    }
}
