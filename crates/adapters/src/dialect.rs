//! What the repository code shared by the SQLite and PostgreSQL adapters needs from a
//! connection beyond diesel's query builder: how a writing transaction keeps concurrent
//! writers out, and how a worker leases the next operation. Everything else those
//! adapters say is plain diesel and runs on both backends unchanged.

use diesel::result::Error;
use diesel::QueryResult;

/// One worker's lease on an operation: who holds it, the time of the claim and until when
/// (milliseconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease<'a> {
    /// The worker taking the operation.
    pub owner: &'a str,
    /// Now: a lease that ran out before this instant is free.
    pub now: i64,
    /// When the new lease runs out.
    pub until: i64,
}

/// A database connection as the shared repository code uses it.
pub(crate) trait Dialect: diesel::Connection {
    /// Runs `write` in a transaction that no other writer naming the same `lock` runs
    /// alongside, in this process or another.
    ///
    /// SQLite: an `IMMEDIATE` transaction (one writer per database, whatever the name).
    /// PostgreSQL: a transaction that first takes the advisory lock named `lock`; without
    /// a name, the row locks of the transaction's own `UPDATE`s are what keep order.
    fn write_transaction<T, E, F>(&mut self, lock: Option<&str>, write: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>;

    /// Runs `read` in a transaction that only reads and sees one consistent snapshot,
    /// taking no write lock (SQLite: a deferred transaction, which in WAL mode never
    /// waits for the writer; PostgreSQL: `REPEATABLE READ, READ ONLY`).
    fn read_transaction<T, E, F>(&mut self, read: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>;

    /// Whether the index `name` exists.
    fn has_index(&mut self, name: &str) -> QueryResult<bool>;

    /// Runs `work`, which streams through more pages than a cache could keep (a bulk
    /// load): SQLite gives it a small page cache, as large a cache buying nothing
    /// there but memory; PostgreSQL's cache is the server's.
    fn with_small_cache<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>;

    /// Runs `work`, outside any transaction, which sorts more than memory should hold
    /// (building an index): SQLite spills it to temporary files (its connections keep
    /// temporary data in memory otherwise) with a small cache; PostgreSQL sorts in the
    /// server as it always does.
    fn sort_on_disk<T, F>(&mut self, work: F) -> QueryResult<T>
    where
        F: FnOnce(&mut Self) -> QueryResult<T>;

    /// Inside a writing transaction: leases the oldest operation whose status is one of
    /// `statuses` and that nobody holds (only `only`, when given) to `lease.owner`,
    /// counting an attempt, and returns its id. A concurrent claimer never gets the same
    /// operation (SQLite: the write lock; PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    /// claimers pass each other instead of queueing).
    fn lease_next(
        &mut self,
        only: Option<&str>,
        statuses: &[&str],
        lease: &Lease<'_>,
    ) -> QueryResult<Option<String>>;
}
