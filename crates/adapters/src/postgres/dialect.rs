//! The PostgreSQL side of [`Dialect`]: advisory locks for named write transactions,
//! `FOR UPDATE SKIP LOCKED` for claims.

use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Nullable, Text};

use super::schema::export_operations;
use crate::dialect::{Dialect, Lease};

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = Text)]
    id: String,
}

impl Dialect for PgConnection {
    fn write_transaction<T, E, F>(&mut self, lock: Option<&str>, write: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.transaction(|conn| {
            if let Some(lock) = lock {
                // Held until the transaction ends; every statement after it sees what
                // the previous holder committed (READ COMMITTED takes a new snapshot
                // per statement).
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind::<Text, _>(lock)
                    .execute(conn)?;
            }
            write(conn)
        })
    }

    fn read_transaction<T, E, F>(&mut self, read: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.build_transaction()
            .repeatable_read()
            .read_only()
            .run(read)
    }

    fn has_index(&mut self, name: &str) -> QueryResult<bool> {
        let found: Vec<Candidate> = diesel::sql_query(
            "SELECT indexname::text AS id FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexname = $1",
        )
        .bind::<Text, _>(name)
        .load(self)?;
        Ok(!found.is_empty())
    }

    fn with_small_cache<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>,
    {
        work(self)
    }

    fn sort_on_disk<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>,
    {
        work(self)
    }

    fn lease_next(
        &mut self,
        only: Option<&str>,
        statuses: &[&str],
        lease: &Lease<'_>,
    ) -> QueryResult<Option<String>> {
        // SKIP LOCKED: an operation another claimer has just locked is passed over, so
        // workers on many hosts claim different operations without waiting in line.
        let candidate: Option<Candidate> = diesel::sql_query(
            "SELECT id FROM export_operations \
             WHERE status = ANY($1) \
               AND (lease_expires_at IS NULL OR lease_expires_at <= $2) \
               AND ($3::text IS NULL OR id = $3) \
             ORDER BY created_at, id \
             LIMIT 1 \
             FOR UPDATE SKIP LOCKED",
        )
        .bind::<Array<Text>, _>(statuses)
        .bind::<BigInt, _>(lease.now)
        .bind::<Nullable<Text>, _>(only)
        .get_result(self)
        .optional()?;
        let Some(Candidate { id }) = candidate else {
            return Ok(None);
        };
        diesel::update(export_operations::table.find(id.as_str()))
            .set((
                export_operations::lease_owner.eq(lease.owner),
                export_operations::lease_expires_at.eq(lease.until),
                export_operations::attempts.eq(export_operations::attempts + 1),
            ))
            .execute(self)?;
        Ok(Some(id))
    }
}
