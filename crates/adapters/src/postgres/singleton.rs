//! Singleton work under a session advisory lock: the process that holds the lock named
//! for the work runs it; the others pass.

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, RunQueryDsl};
use udd_ports::{Singleton, StoreError};

use super::{Conn, PgDatabase};

/// [`Singleton`] across every process on one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgSingleton {
    db: PgDatabase,
}

impl PgSingleton {
    /// Singleton work among the processes on `db`.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

/// Gives the lock back when the work ends, however it ends.
struct Held<'a> {
    conn: Conn,
    name: &'a str,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let released = diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 1))")
            .bind::<Text, _>(self.name)
            .execute(&mut self.conn);
        if let Err(error) = released {
            // The lock goes with the connection: the server releases it on close.
            tracing::warn!(%error, name = self.name, "could not release a singleton lock");
        }
    }
}

impl Singleton for PgSingleton {
    fn try_run(&self, name: &str, work: &mut dyn FnMut()) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        // Seed 1 keeps these locks apart from the write transactions' (seed 0).
        let Taken { taken } =
            diesel::sql_query("SELECT pg_try_advisory_lock(hashtextextended($1, 1)) AS taken")
                .bind::<Text, _>(name)
                .get_result(&mut conn)
                .map_err(|e| super::store_error(e, "asking for a singleton lock"))?;
        if !taken {
            return Ok(false);
        }
        let _held = Held { conn, name };
        work();
        Ok(true)
    }
}
