//! Each reply's parent time (`messages.thread_ts`, the `ts` of the message its
//! `thread_id` names), by which `messages_by_thread` keeps a room's replies: the replies
//! to consecutive messages are then one slice of the index (see
//! [`links::threads_started`](super::links::threads_started)).
//!
//! A reply is written with its parent's time when the parent is in the same batch
//! ([`rows`]: a dump in time order has most replies close to their parent), else with
//! NULL, filled here from the stored parent: after each batch written by id, for the
//! batch's replies and for the replies that were waiting for one of its messages (a
//! reply can come first); at the end of a bulk load, for all that still wait. The
//! migration's triggers keep it when a parent moves in time or is deleted. A reply
//! whose parent is missing keeps NULL; the lookups look for those too.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::Message;

use super::message_rows::MessageRow;
use super::schema::messages;
use super::DbConnection;

/// Ids per `IN (…)` list: well under SQLite's 32,766 bound values.
const IDS_PER_QUERY: usize = 1_000;

diesel::alias!(messages as parent_row: ParentRow);

/// The stored `ts` of the message `messages.thread_id` names, if it is stored.
macro_rules! parent_time {
    () => {
        parent_row
            .filter(
                parent_row
                    .field(messages::id)
                    .nullable()
                    .eq(messages::thread_id),
            )
            .select(parent_row.field(messages::ts))
            .single_value()
    };
}

/// `batch` as rows, each reply whose parent is in the batch with its parent's time.
pub(super) fn rows(batch: &[Message]) -> Vec<MessageRow<'_>> {
    let times: HashMap<&str, i64> = if batch.iter().any(|m| m.thread_id.is_some()) {
        batch
            .iter()
            .map(|m| (m.id.as_str(), to_millis(m.ts)))
            .collect()
    } else {
        HashMap::new()
    };
    batch
        .iter()
        .map(|m| {
            let parent = m.thread_id.as_deref().and_then(|p| times.get(p)).copied();
            MessageRow::from(m).with_parent_time(parent)
        })
        .collect()
}

/// After `batch` was written by id: gives its replies their parent's time (those
/// [`rows`] could not), and the replies that were waiting for one of its messages
/// theirs.
pub(super) fn place(conn: &mut DbConnection, batch: &[Message]) -> QueryResult<()> {
    let replies: Vec<&str> = batch
        .iter()
        .filter(|m| m.thread_id.is_some())
        .map(|m| m.id.as_str())
        .collect();
    for chunk in replies.chunks(IDS_PER_QUERY) {
        let unplaced = messages::table
            .filter(messages::id.eq_any(chunk))
            .filter(messages::thread_ts.is_null());
        diesel::update(unplaced)
            .set(messages::thread_ts.eq(parent_time!()))
            .execute(conn)?;
    }
    // Replies wait in their parent's room: one search per room, among its replies
    // without a parent time, by id.
    let mut by_room: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in batch {
        by_room
            .entry(m.room_id.as_str())
            .or_default()
            .push(m.id.as_str());
    }
    for (room, ids) in by_room {
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let waiting = messages::table
                .filter(messages::room_id.eq(room))
                .filter(messages::thread_ts.is_null())
                .filter(messages::thread_id.eq_any(chunk));
            diesel::update(waiting)
                .set(messages::thread_ts.eq(parent_time!()))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Gives every reply without a parent time its parent's, where the parent is stored:
/// the end of a bulk load, whose rows went in while nothing could be found by id.
pub(super) fn place_all(conn: &mut DbConnection) -> QueryResult<usize> {
    let waiting = messages::table
        .filter(messages::thread_id.is_not_null())
        .filter(messages::thread_ts.is_null());
    diesel::update(waiting)
        .set(messages::thread_ts.eq(parent_time!()))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::workspace::SqliteWorkspace;
    use super::*;
    use udd_domain::time::from_millis;
    use udd_domain::{MessageCursor, RoomId};
    use udd_ports::{Collection, Deletion, WorkspaceReader, WorkspaceWriter};

    fn message(id: &str, ts: i64) -> Message {
        Message::new(id, "R", from_millis(ts))
    }

    fn reply(id: &str, parent: &str, ts: i64) -> Message {
        Message {
            thread_id: Some(parent.into()),
            ..message(id, ts)
        }
    }

    /// Each reply's stored parent time, by reply id.
    fn parent_times(ws: &SqliteWorkspace) -> anyhow::Result<Vec<(String, Option<i64>)>> {
        let mut conn = ws.db().conn()?;
        Ok(messages::table
            .filter(messages::thread_id.is_not_null())
            .select((messages::id, messages::thread_ts))
            .order(messages::id)
            .load(&mut conn)?)
    }

    /// The replies the lookups count for `parent`, sent at `ts`.
    fn replies_to(ws: &SqliteWorkspace, id: &str, ts: i64) -> anyhow::Result<u64> {
        let parents = [MessageCursor {
            ts: from_millis(ts),
            id: id.into(),
        }];
        let threads = ws.batch_lookups()?.threads_started(
            &RoomId::from("R"),
            from_millis(10_000),
            &parents,
        )?;
        Ok(threads.iter().map(|t| t.replies).sum())
    }

    fn placed(pairs: &[(&str, Option<i64>)]) -> Vec<(String, Option<i64>)> {
        pairs
            .iter()
            .map(|(id, ts)| ((*id).to_owned(), *ts))
            .collect()
    }

    #[test]
    fn a_reply_gets_its_parents_time_whichever_is_written_first() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        // Together; the reply before its parent; the parent first; no parent at all.
        ws.upsert_messages(&[message("p", 10), reply("r1", "p", 20)])?;
        ws.upsert_messages(&[reply("r2", "q", 30)])?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[("r1", Some(10)), ("r2", None)])
        );
        assert_eq!(replies_to(&ws, "q", 25)?, 1, "found while it waits");
        ws.upsert_messages(&[message("q", 25), reply("r3", "p", 40)])?;
        ws.upsert_messages(&[reply("r4", "missing", 50)])?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[
                ("r1", Some(10)),
                ("r2", Some(25)),
                ("r3", Some(10)),
                ("r4", None)
            ])
        );
        assert_eq!(replies_to(&ws, "p", 10)?, 2);
        assert_eq!(replies_to(&ws, "q", 25)?, 1);
        // A reply written again (edited) keeps its place.
        ws.upsert_messages(&[Message {
            msg: "edited".into(),
            ..reply("r1", "p", 20)
        }])?;
        assert_eq!(parent_times(&ws)?[0], ("r1".to_owned(), Some(10)));
        Ok(())
    }

    #[test]
    fn a_parent_moved_or_deleted_and_written_again_keeps_its_replies() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        ws.upsert_messages(&[message("p", 10), reply("r1", "p", 20), reply("r2", "p", 30)])?;
        // Written again at another time (a newer version of the document).
        ws.upsert_messages(&[message("p", 15)])?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[("r1", Some(15)), ("r2", Some(15))])
        );
        assert_eq!(replies_to(&ws, "p", 15)?, 2);
        ws.delete_documents(&[Deletion {
            collection: Collection::Messages,
            id: "p".into(),
            deleted_at: from_millis(1_000),
        }])?;
        assert_eq!(parent_times(&ws)?, placed(&[("r1", None), ("r2", None)]));
        ws.upsert_messages(&[message("p", 5)])?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[("r1", Some(5)), ("r2", Some(5))])
        );
        assert_eq!(replies_to(&ws, "p", 5)?, 2);
        Ok(())
    }

    #[test]
    fn a_bulk_load_places_its_replies_at_its_end() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        assert!(ws.start_message_load()?);
        ws.upsert_messages(&[message("p", 10), reply("r1", "p", 20)])?;
        ws.upsert_messages(&[reply("r2", "p", 30), reply("r3", "missing", 40)])?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[("r1", Some(10)), ("r2", None), ("r3", None)]),
            "within a batch at once, across batches not yet"
        );
        ws.finish_message_load()?;
        assert_eq!(
            parent_times(&ws)?,
            placed(&[("r1", Some(10)), ("r2", Some(10)), ("r3", None)])
        );
        assert_eq!(replies_to(&ws, "p", 10)?, 2);
        Ok(())
    }
}
