//! The lookups an export makes batch after batch (see [`udd_ports::BatchLookups`]):
//! on a connection of their own when the database has one to give, in a read
//! transaction renewed every [`PINNED_FOR`], else on the pool's connections.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::TransactionManager;
use diesel::prelude::*;
use udd_domain::{MessageCursor, RoomId, Upload, UploadId};
use udd_ports::{BatchLookups, StoreError, ThreadReplies};

use super::reader::upload_row;
use super::workspace::SqliteWorkspace;
use super::{store_error, DbConnection};

/// How long a [`PinnedConnection`] answers from one read transaction before it starts
/// another: long enough for dozens of batches, short enough that the write-ahead log
/// it keeps from being checkpointed stays small.
pub(super) const PINNED_FOR: Duration = Duration::from_millis(250);

/// See [`udd_ports::WorkspaceReader::batch_lookups`]: the lookups run on a connection
/// of their own when the database has one to give, else on the pool's, one per lookup.
pub(super) struct SessionLookups {
    workspace: SqliteWorkspace,
    own: Option<PinnedConnection>,
}

/// A connection of the lookups' own whose reads run in a read transaction renewed
/// every [`PINNED_FOR`]. Within one, SQLite keeps the connection's cache, which it
/// drops at the start of every transaction that follows a change.
struct PinnedConnection {
    conn: DbConnection,
    /// When the open read transaction began, if one is open.
    since: Option<Instant>,
}

type Transactions = <DbConnection as Connection>::TransactionManager;

impl PinnedConnection {
    /// The connection, in a read transaction no older than [`PINNED_FOR`].
    fn pinned(&mut self) -> QueryResult<&mut DbConnection> {
        self.unpin_if_stale()?;
        if self.since.is_none() {
            Transactions::begin_transaction(&mut self.conn)?;
            self.since = Some(Instant::now());
        }
        Ok(&mut self.conn)
    }

    /// Ends the read transaction if it is [`PINNED_FOR`] old.
    fn unpin_if_stale(&mut self) -> QueryResult<()> {
        if self
            .since
            .is_some_and(|since| since.elapsed() >= PINNED_FOR)
        {
            self.unpin()?;
        }
        Ok(())
    }

    /// Ends the read transaction, if one is open.
    fn unpin(&mut self) -> QueryResult<()> {
        if self.since.take().is_some() {
            Transactions::commit_transaction(&mut self.conn)?;
        }
        Ok(())
    }
}

impl SessionLookups {
    /// Lookups in `workspace`, on `own` connection when there is one.
    pub(super) fn new(workspace: SqliteWorkspace, own: Option<DbConnection>) -> Self {
        Self {
            workspace,
            own: own.map(|conn| PinnedConnection { conn, since: None }),
        }
    }

    /// Runs `read` on the lookups' connection, or on one of the pool's.
    fn read<T>(
        &mut self,
        what: &str,
        read: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> Result<T, StoreError> {
        match &mut self.own {
            Some(own) => own
                .pinned()
                .and_then(read)
                .map_err(|e| store_error(e, what)),
            None => self.workspace.read(what, read),
        }
    }

    /// Applies `end` to the lookups' own connection, if they have one.
    fn end(
        &mut self,
        end: impl FnOnce(&mut PinnedConnection) -> QueryResult<()>,
    ) -> Result<(), StoreError> {
        match &mut self.own {
            Some(own) => {
                end(own).map_err(|e| store_error(e, "ending the lookups' read transaction"))
            }
            None => Ok(()),
        }
    }
}

impl BatchLookups for SessionLookups {
    fn threads_started(
        &mut self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        parents: &[MessageCursor],
    ) -> Result<Vec<ThreadReplies>, StoreError> {
        self.read("counting thread replies", |conn| {
            super::links::threads_started(conn, room_id, cutoff, parents)
        })
    }

    fn upload(&mut self, id: &UploadId) -> Result<Upload, StoreError> {
        let load = |conn: &mut DbConnection| upload_row(conn, id);
        if let Some(upload) = self.read("loading an upload", load)? {
            return Ok(upload);
        }
        // Perhaps added since the read transaction began: asked again, as of now.
        self.end(PinnedConnection::unpin)?;
        self.read("loading an upload", load)?
            .ok_or(StoreError::NotFound)
    }

    fn batch_done(&mut self) -> Result<(), StoreError> {
        self.end(PinnedConnection::unpin_if_stale)
    }
}
