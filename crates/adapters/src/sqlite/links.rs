//! What a personal export asks about the messages a batch links to: where named
//! messages are, which threads the batch's messages start, and how far ahead a later
//! message is. Every query reads only the rows it answers about (the `(room_id, ts, id)`
//! key and `messages_by_thread`), never the whole room.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{MessageCursor, RoomId};
use udd_ports::ThreadReplies;

use super::schema::messages;
use super::DbConnection;

/// Ids per `IN (…)` list: well under SQLite's 32,766 bound values.
const IDS_PER_QUERY: usize = 1_000;

/// See [`udd_ports::WorkspaceReader::message_keys`].
pub(super) fn message_keys(
    conn: &mut DbConnection,
    room_id: &RoomId,
    cutoff: DateTime<Utc>,
    ids: &[String],
) -> QueryResult<Vec<MessageCursor>> {
    let mut keys = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<(String, i64)> = messages::table
            .filter(messages::id.eq_any(chunk))
            .filter(messages::room_id.eq(room_id.as_str()))
            .filter(messages::ts.le(to_millis(cutoff)))
            .select((messages::id, messages::ts))
            .load(conn)?;
        keys.extend(rows.into_iter().map(|(id, ts)| MessageCursor {
            ts: from_millis(ts),
            id,
        }));
    }
    Ok(keys)
}

/// See [`udd_ports::WorkspaceReader::threads_started`].
pub(super) fn threads_started(
    conn: &mut DbConnection,
    room_id: &RoomId,
    cutoff: DateTime<Utc>,
    parents: &[String],
) -> QueryResult<Vec<ThreadReplies>> {
    let cutoff = to_millis(cutoff);
    let mut threads = Vec::new();
    for chunk in parents.chunks(IDS_PER_QUERY) {
        let counted: Vec<(Option<String>, i64)> = messages::table
            .filter(messages::thread_id.eq_any(chunk))
            .filter(messages::room_id.eq(room_id.as_str()))
            .filter(messages::ts.le(cutoff))
            .group_by(messages::thread_id)
            .select((messages::thread_id, count_star()))
            .load(conn)?;
        for (parent, replies) in counted {
            let Some(parent) = parent else { continue };
            let first: Option<(String, i64)> = messages::table
                .filter(messages::thread_id.eq(&parent))
                .filter(messages::room_id.eq(room_id.as_str()))
                .filter(messages::ts.le(cutoff))
                .order((messages::ts.asc(), messages::id.asc()))
                .select((messages::id, messages::ts))
                .first(conn)
                .optional()?;
            if let Some((id, ts)) = first {
                threads.push(ThreadReplies {
                    parent,
                    replies: u64::try_from(replies).unwrap_or(0),
                    first: MessageCursor {
                        ts: from_millis(ts),
                        id,
                    },
                });
            }
        }
    }
    Ok(threads)
}

/// See [`udd_ports::WorkspaceReader::count_between`].
pub(super) fn count_between(
    conn: &mut DbConnection,
    room_id: &RoomId,
    cutoff: DateTime<Utc>,
    after: &MessageCursor,
    before: &MessageCursor,
) -> QueryResult<u64> {
    if after >= before {
        return Ok(0);
    }
    let (from, to) = (to_millis(after.ts), to_millis(before.ts));
    // The `ts` bounds let the (room_id, ts, id) key seek to the range; the ORs only
    // sort out the rows sharing an end's instant (as in `messages_page`).
    let n: i64 = messages::table
        .filter(messages::room_id.eq(room_id.as_str()))
        .filter(messages::ts.le(to_millis(cutoff)))
        .filter(messages::ts.ge(from))
        .filter(messages::ts.le(to))
        .filter(messages::ts.gt(from).or(messages::id.gt(&after.id)))
        .filter(messages::ts.lt(to).or(messages::id.lt(&before.id)))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
