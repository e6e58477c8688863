//! The SQLite side of [`Dialect`]: one writer at a time, by `IMMEDIATE` transactions.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::Text;

use super::schema::export_operations;
use super::CACHE_KIB;

/// The page cache of bulk work, in KiB (when sorting, also the size of a sorted run).
const SMALL_CACHE_KIB: u32 = 8 * 1024;
use crate::dialect::{Dialect, Lease};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

impl Dialect for SqliteConnection {
    fn write_transaction<T, E, F>(&mut self, _lock: Option<&str>, write: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        // IMMEDIATE takes the database's write lock before the first read, which
        // serialises every writer, named or not.
        self.immediate_transaction(write)
    }

    fn read_transaction<T, E, F>(&mut self, read: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        // BEGIN DEFERRED: the snapshot is taken at the first read, no lock is asked for.
        self.transaction(read)
    }

    fn has_index(&mut self, name: &str) -> QueryResult<bool> {
        let found: Vec<String> =
            diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?")
                .bind::<Text, _>(name)
                .load::<Name>(self)?
                .into_iter()
                .map(|row| row.name)
                .collect();
        Ok(!found.is_empty())
    }

    fn with_small_cache<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>,
    {
        self.batch_execute(&format!("PRAGMA cache_size = -{SMALL_CACHE_KIB}"))?;
        let result = work(self);
        let restored = self.batch_execute(&format!("PRAGMA cache_size = -{CACHE_KIB}"));
        let value = result?;
        restored?;
        Ok(value)
    }

    fn sort_on_disk<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>,
    {
        // The connections keep temporary data in memory (`Pragmas`), which would hold
        // a whole index's worth of sorted keys; and SQLite sorts runs as large as the
        // page cache in memory before it writes them out, on top of the cache itself.
        self.batch_execute("PRAGMA temp_store = FILE")?;
        let result = self.with_small_cache(work);
        let restored = self.batch_execute("PRAGMA temp_store = MEMORY");
        let value = result?;
        restored?;
        Ok(value)
    }

    fn lease_next(
        &mut self,
        only: Option<&str>,
        statuses: &[&str],
        lease: &Lease<'_>,
    ) -> QueryResult<Option<String>> {
        let mut query = export_operations::table
            .filter(export_operations::status.eq_any(statuses))
            .filter(
                export_operations::lease_expires_at
                    .is_null()
                    .or(export_operations::lease_expires_at.le(lease.now)),
            )
            .into_boxed();
        if let Some(id) = only {
            query = query.filter(export_operations::id.eq(id));
        }
        let Some(id) = query
            .order((
                export_operations::created_at.asc(),
                export_operations::id.asc(),
            ))
            .select(export_operations::id)
            .first::<String>(self)
            .optional()?
        else {
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
