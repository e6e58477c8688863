//! Throw-away PostgreSQL databases for tests: each test gets a database of its own with a
//! unique name on the server `UDD_TEST_DATABASE_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust authentication), migrated, and
//! dropped when the guard goes. A server that cannot be reached fails the test with a
//! message that says so and how to start one; it is never a skip.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{redacted, PgDatabase};

/// The server tests use unless `UDD_TEST_DATABASE_URL` names another.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The certificate the test server presents, trusted as its own authority, unless
/// `UDD_TEST_DATABASE_CA` names another: Debian's package serves TLS with this
/// self-signed one (`scripts/ensure-postgres.sh` makes sure it does).
pub const DEFAULT_SERVER_CA: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The file holding the authority that signed the test server's certificate.
pub fn server_ca() -> String {
    std::env::var("UDD_TEST_DATABASE_CA")
        .ok()
        .filter(|path| !path.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_CA.to_owned())
}

/// `url` with libpq's TLS options added: the connection is encrypted and the server's
/// certificate must be signed by the authority in the file `ca`.
pub fn with_tls(url: &str, ca: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=verify-ca&sslrootcert={ca}")
}

/// The url of the test server's maintenance database (where databases are created).
pub fn server_url() -> String {
    std::env::var("UDD_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

/// `url` naming the database `name` on the same server (query options kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("not a url: {}", redacted(url)))?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// A database created for one test, dropped (with its connections) when this goes.
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name on the test server.
    ///
    /// Errors: the server cannot be reached, or refuses to create a database; the
    /// message names the server and how to start one.
    pub fn create() -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let server = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "udd_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::establish(&server).with_context(|| {
            format!(
                "PostgreSQL is not reachable at {} (the PostgreSQL tests need a server: \
                 run scripts/ensure-postgres.sh, or set UDD_TEST_DATABASE_URL to one \
                 where this user may create databases)",
                redacted(&server)
            )
        })?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .with_context(|| format!("creating the test database {name}"))?;
        let url = with_database(&server, &name)?;
        Ok(Self { server, name, url })
    }

    /// The url of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The url of this database over TLS, the server's certificate verified (see
    /// [`server_ca`]).
    pub fn tls_url(&self) -> String {
        with_tls(&self.url, &server_ca())
    }

    /// The values of the one text column named `value` that `sql` selects, as an
    /// operator's `psql` would show them (for tests that need to know what a process
    /// they started wrote, e.g. the usernames a demo generated).
    ///
    /// Errors: the database cannot be reached or the query fails.
    pub fn strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let mut conn = PgConnection::establish(&self.url)
            .with_context(|| format!("connecting to {}", redacted(&self.url)))?;
        let rows: Vec<Value> = diesel::sql_query(sql)
            .load(&mut conn)
            .with_context(|| format!("running `{sql}`"))?;
        Ok(rows.into_iter().map(|row| row.value).collect())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.server)
            .map_err(|e| e.to_string())
            .and_then(|mut admin| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin)
                .map_err(|e| e.to_string())
            });
        if let Err(error) = dropped {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

/// A migrated database of its own (dropped with the guard), and a pool on it.
///
/// # Panics
/// When the server cannot be reached or the database cannot be made: the test fails
/// with the reason.
pub fn database() -> (TestDatabase, PgDatabase) {
    let guard = TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}"));
    let db = PgDatabase::open(guard.url(), 4).unwrap_or_else(|e| panic!("{e:#}"));
    db.migrate().unwrap_or_else(|e| panic!("{e:#}"));
    (guard, db)
}

/// A second pool on the database of `guard`, as another process would open it.
///
/// # Panics
/// When the database cannot be reached.
pub fn another_pool(guard: &TestDatabase) -> PgDatabase {
    pool_of(guard, 4)
}

/// A pool of at most `size` connections on the database of `guard`.
///
/// # Panics
/// When the database cannot be reached.
pub fn pool_of(guard: &TestDatabase, size: u32) -> PgDatabase {
    PgDatabase::open(guard.url(), size).unwrap_or_else(|e| panic!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_is_named_on_the_same_server() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1")?,
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/postgres?sslmode=disable", "t1")?,
            "postgres://u:p@db/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t1")?, "postgres://db/t1");
        Ok(())
    }

    #[test]
    fn tls_options_are_added_to_a_url_with_or_without_a_query() {
        assert_eq!(
            with_tls("postgres://db/t1", "/ca.pem"),
            "postgres://db/t1?sslmode=verify-ca&sslrootcert=/ca.pem"
        );
        assert_eq!(
            with_tls("postgres://db/t1?connect_timeout=5", "/ca.pem"),
            "postgres://db/t1?connect_timeout=5&sslmode=verify-ca&sslrootcert=/ca.pem"
        );
    }
}
