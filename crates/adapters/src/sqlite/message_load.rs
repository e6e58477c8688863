//! Loading many messages into an empty `messages` table.
//!
//! The table is kept in (room, time, id) order, which a dump, written in time order,
//! fills at one place per room; its unique index on the id is what costs: every message
//! goes to a random page of it, and each batch commits rewrites a page per message once
//! the index outgrows the cache (for a million messages, most of what an import wrote
//! to disk). Into an empty table the index is therefore dropped at the start of the load
//! and built once at its end, from sorted ids. While it is missing, rows are replaced
//! by their primary key and nobody looks messages up by id (the callers promise it; see
//! [`udd_ports::WorkspaceWriter::start_message_load`]).
//!
//! A missing index is itself the record of a load that did not finish: whoever starts
//! the next load builds it first.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_query;

use super::schema::messages;
use super::{DbConnection, USERS_LOCK};
use crate::dialect::Dialect;

/// The unique index on the message id.
pub(super) const ID_INDEX: &str = "messages_by_id";

const CREATE_ID_INDEX: &str = "CREATE UNIQUE INDEX messages_by_id ON messages (id)";

/// Of each id held more than once, every copy but the newest (by `_updatedAt`, then
/// time and room, so the choice does not depend on the order rows were read in).
const DROP_OLDER_COPIES: &str = "DELETE FROM messages WHERE (room_id, ts, id) IN (
    SELECT room_id, ts, id FROM (
        SELECT room_id, ts, id, row_number() OVER (
            PARTITION BY id ORDER BY updated_at DESC, ts DESC, room_id DESC) AS copy
        FROM messages) AS copies
    WHERE copy > 1)";

/// Finishes a load left unfinished, then, when the table is empty, drops the index on
/// the id; says whether it did.
pub(super) fn start(conn: &mut DbConnection) -> QueryResult<bool> {
    finish(conn)?;
    conn.write_transaction(Some(USERS_LOCK), |conn| {
        let any: Vec<String> = messages::table.select(messages::id).limit(1).load(conn)?;
        if !any.is_empty() {
            return Ok(false);
        }
        sql_query(format!("DROP INDEX {ID_INDEX}")).execute(conn)?;
        Ok(true)
    })
}

/// Builds the index on the id if it is missing, dropping older copies of ids held
/// twice first, then gives the replies loaded their parent's time; returns how many
/// copies it dropped.
pub(super) fn finish(conn: &mut DbConnection) -> QueryResult<u64> {
    if conn.has_index(ID_INDEX)? {
        return Ok(0);
    }
    conn.sort_on_disk(|conn| {
        conn.write_transaction(Some(USERS_LOCK), |conn| {
            if conn.has_index(ID_INDEX)? {
                return Ok(0);
            }
            // A savepoint: on PostgreSQL a failed statement spoils its transaction.
            let dropped = match conn.transaction(|conn| sql_query(CREATE_ID_INDEX).execute(conn)) {
                Ok(_) => 0,
                Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    let dropped = sql_query(DROP_OLDER_COPIES).execute(conn)?;
                    sql_query(CREATE_ID_INDEX).execute(conn)?;
                    dropped as u64
                }
                Err(other) => return Err(other),
            };
            super::replies::place_all(conn)?;
            Ok(dropped)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::workspace::SqliteWorkspace;
    use super::*;
    use udd_domain::time::from_millis;
    use udd_domain::Message;
    use udd_ports::{Collection, WorkspaceReader, WorkspaceWriter};

    fn message(id: &str, ts: i64, updated: i64) -> Message {
        Message {
            msg: format!("{id} at {updated}"),
            updated_at: from_millis(updated),
            ..Message::new(id, "R", from_millis(ts))
        }
    }

    fn indexed(workspace: &SqliteWorkspace) -> anyhow::Result<bool> {
        let mut conn = workspace.db().conn()?;
        Ok(conn.has_index(ID_INDEX)?)
    }

    #[test]
    fn a_load_into_an_empty_table_indexes_the_ids_at_its_end_keeping_the_newest_copy(
    ) -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        assert!(workspace.start_message_load()?);
        assert!(!indexed(&workspace)?);
        // 250 messages, and three copies of one id: at another time, newer; at the
        // same time and room, older (replaces by the primary key while unindexed).
        let mut batch: Vec<Message> = (0..250).map(|i| message(&format!("m{i}"), i, i)).collect();
        batch.push(message("m7", 900, 950));
        workspace.upsert_messages(&batch)?;
        workspace.upsert_messages(&[message("m8", 8, 1)])?;
        assert_eq!(workspace.finish_message_load()?, 1);
        assert!(indexed(&workspace)?);
        assert_eq!(
            workspace.finish_message_load()?,
            0,
            "nothing left to finish"
        );

        let versions = workspace.versions(Collection::Messages, &["m7".into(), "m8".into()])?;
        assert_eq!(versions["m7"].updated_at, from_millis(950));
        assert_eq!(versions["m8"].updated_at, from_millis(1));
        assert_eq!(workspace.message("m7")?.ts, from_millis(900));
        assert_eq!(
            workspace.count_messages(&"R".into(), from_millis(10_000))?,
            250
        );
        // Written by id again, as every later load does.
        workspace.upsert_messages(&[message("m7", 901, 960)])?;
        assert_eq!(
            workspace.count_messages(&"R".into(), from_millis(10_000))?,
            250
        );
        assert_eq!(workspace.message("m7")?.ts, from_millis(901));
        Ok(())
    }

    #[test]
    fn a_load_left_unfinished_is_finished_by_the_next_start() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        assert!(workspace.start_message_load()?);
        workspace.upsert_messages(&[message("a", 1, 1), message("a", 2, 2)])?;
        // The process dies here; the next load of another dump finds the table loaded.
        assert!(!workspace.start_message_load()?);
        assert!(indexed(&workspace)?);
        assert_eq!(workspace.count_messages(&"R".into(), from_millis(10))?, 1);
        assert_eq!(workspace.message("a")?.ts, from_millis(2));
        Ok(())
    }

    #[test]
    fn a_table_holding_messages_is_written_as_usual() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        workspace.upsert_messages(&[message("a", 1, 1)])?;
        assert!(!workspace.start_message_load()?);
        assert!(indexed(&workspace)?);
        assert_eq!(workspace.finish_message_load()?, 0);
        Ok(())
    }
}
