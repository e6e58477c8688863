//! What a personal export asks about the messages a batch links to: where named
//! messages are, which threads the batch's messages start, and how far ahead a later
//! message is. Every query reads only the rows it answers about (the `(room_id, ts, id)`
//! key, `messages_by_thread` and `messages_quoting`), never the whole room.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

use diesel::connection::DefaultLoadingMode;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use udd_domain::render::{quoted_messages, LinkedMessages};
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{MessageCursor, RoomId};
use udd_ports::ThreadReplies;

use super::schema::messages;
use super::DbConnection;

/// The condition of the `messages_quoting` index, written out as it is there: a
/// query names it literally (not as a bound pattern) for the index to serve it.
const QUOTING: &str = "attachments LIKE '%message_link%'";

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

/// See [`udd_ports::BatchLookups::threads_started`].
///
/// Replies are indexed by room, then by their parent's time (`thread_ts`), so the
/// replies to a batch's parents, which are consecutive in time, are one slice of
/// `messages_by_thread` rather than a random page of it per parent. Replies whose
/// parent the store has not seen (yet) have no parent time and are looked for among
/// the room's few such replies. One pair of queries per 1,000 parents; the replies are
/// streamed and tallied here (count and earliest key).
pub(super) fn threads_started(
    conn: &mut DbConnection,
    room_id: &RoomId,
    cutoff: DateTime<Utc>,
    parents: &[MessageCursor],
) -> QueryResult<Vec<ThreadReplies>> {
    let cutoff = to_millis(cutoff);
    let mut tally: HashMap<String, (u64, i64, String)> = HashMap::new();
    for chunk in parents.chunks(IDS_PER_QUERY) {
        let (Some(from), Some(to)) = (
            chunk.iter().map(|p| p.ts).min(),
            chunk.iter().map(|p| p.ts).max(),
        ) else {
            continue;
        };
        let ids: Vec<&str> = chunk.iter().map(|p| p.id.as_str()).collect();
        let placed = replies_to(room_id, &ids, cutoff)
            .filter(messages::thread_ts.between(to_millis(from), to_millis(to)))
            .load_iter::<(String, i64, String), DefaultLoadingMode>(conn)?;
        tally_replies(&mut tally, placed)?;
        let waiting = replies_to(room_id, &ids, cutoff)
            .filter(messages::thread_ts.is_null())
            .load_iter::<(String, i64, String), DefaultLoadingMode>(conn)?;
        tally_replies(&mut tally, waiting)?;
    }
    let mut threads: Vec<ThreadReplies> = tally
        .into_iter()
        .map(|(parent, (replies, ts, id))| ThreadReplies {
            parent,
            replies,
            first: MessageCursor {
                ts: from_millis(ts),
                id,
            },
        })
        .collect();
    threads.sort_by(|a, b| a.parent.cmp(&b.parent));
    Ok(threads)
}

/// The (parent, time, id) of the replies in `room` to those of `parents` sent at or
/// before `cutoff` (ms); [`threads_started`] narrows it by parent time.
pub(super) fn replies_to<'a>(
    room: &'a RoomId,
    parents: &'a [&'a str],
    cutoff: i64,
) -> messages::BoxedQuery<
    'a,
    <DbConnection as Connection>::Backend,
    (
        diesel::sql_types::Text,
        diesel::sql_types::BigInt,
        diesel::sql_types::Text,
    ),
> {
    messages::table
        .filter(messages::room_id.eq(room.as_str()))
        .filter(messages::thread_id.eq_any(parents))
        .filter(messages::ts.le(cutoff))
        .select((
            messages::thread_id.assume_not_null(),
            messages::ts,
            messages::id,
        ))
        .into_boxed()
}

/// Adds `replies` (parent, time, id) to `tally`: per parent, the count and the earliest
/// reply's key.
fn tally_replies(
    tally: &mut HashMap<String, (u64, i64, String)>,
    replies: impl Iterator<Item = QueryResult<(String, i64, String)>>,
) -> QueryResult<()> {
    for reply in replies {
        let (parent, ts, id) = reply?;
        match tally.get_mut(&parent) {
            Some((count, first_ts, first_id)) => {
                *count += 1;
                if (ts, id.as_str()) < (*first_ts, first_id.as_str()) {
                    (*first_ts, *first_id) = (ts, id);
                }
            }
            None => {
                tally.insert(parent, (1, ts, id));
            }
        }
    }
    Ok(())
}

/// See [`udd_ports::WorkspaceReader::linked_messages`]. Thread parents: every reply of
/// the workspace, read from `messages_by_thread` (which holds replies only, a small
/// part of the messages) in one pass, the rooms sorted out here; asking the store for
/// the rooms instead would have it walk every message of those rooms by the primary
/// key. Quoted messages: the rooms' messages whose attachments name a `message_link`,
/// read from `messages_quoting` (which holds those alone).
pub(super) fn linked_messages(
    conn: &mut DbConnection,
    room_ids: &[RoomId],
    cutoff: DateTime<Utc>,
    linked: &mut LinkedMessages,
) -> QueryResult<()> {
    let cutoff = to_millis(cutoff);
    let rooms: HashSet<&str> = room_ids.iter().map(RoomId::as_str).collect();
    let replies = messages::table
        .filter(messages::thread_id.is_not_null())
        .filter(messages::ts.le(cutoff))
        .select((messages::room_id, messages::thread_id.assume_not_null()))
        .load_iter::<(String, String), DefaultLoadingMode>(conn)?;
    for reply in replies {
        let (room, parent) = reply?;
        if rooms.contains(room.as_str()) {
            linked.insert_parent(&parent);
        }
    }
    for room in room_ids {
        for attachments in quotes(room, cutoff).load_iter::<String, DefaultLoadingMode>(conn)? {
            // Attachments that do not parse quote nothing the pages could link.
            let Ok(attachments) = serde_json::from_str(&attachments?) else {
                continue;
            };
            for id in quoted_messages(&attachments) {
                linked.insert_quoted(id);
            }
        }
    }
    Ok(())
}

/// The attachments of the messages of `room` sent at or before `cutoff` (ms) that
/// quote another message: a search of `messages_quoting`.
pub(super) fn quotes(
    room: &RoomId,
    cutoff: i64,
) -> messages::BoxedQuery<'_, <DbConnection as Connection>::Backend, diesel::sql_types::Text> {
    messages::table
        .filter(messages::room_id.eq(room.as_str()))
        .filter(messages::ts.le(cutoff))
        .filter(sql::<Bool>(QUOTING))
        .select(messages::attachments.assume_not_null())
        .into_boxed()
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
    // sort out the rows sharing an end's instant (as in `messages_page`). One upper
    // bound only: given both `ts <= to` and `ts <= cutoff`, SQLite may end the range at
    // the cutoff and step through the rest of the room on every call.
    let n: i64 = messages::table
        .filter(messages::room_id.eq(room_id.as_str()))
        .filter(messages::ts.ge(from))
        .filter(messages::ts.le(to.min(to_millis(cutoff))))
        .filter(messages::ts.gt(from).or(messages::id.gt(&after.id)))
        .filter(messages::ts.lt(to).or(messages::id.lt(&before.id)))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
