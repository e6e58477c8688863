//! Keeping the workspace in step with Rocket.Chat between imports: the stored version
//! of documents (to leave unchanged ones alone), deletions from Rocket.Chat's trash, and
//! the newest date applied per collection (where the next incremental dump starts).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::Message;
use udd_ports::{Collection, Deletion, Removed, StoredVersion};

use super::schema::{avatars, messages, rooms, subscriptions, sync_marks, uploads, users};
use super::DbConnection;

/// Ids per `IN (…)` list: well under SQLite's 32,766 bound values.
const IDS_PER_QUERY: usize = 1_000;

/// The (id, `updated_at`, whether the blob's bytes are missing) rows of `$table` whose
/// ids are among `$ids`; a table without blobs never misses one.
macro_rules! versions_in {
    ($conn:expr, $table:ident, $ids:expr) => {
        versions_in!(
            $conn,
            $table,
            $ids,
            false.into_sql::<diesel::sql_types::Bool>()
        )
    };
    ($conn:expr, $table:ident, $ids:expr, $missing_blob:expr) => {
        $table::table
            .filter($table::id.eq_any($ids))
            .select(($table::id, $table::updated_at, $missing_blob))
            .load($conn)?
    };
}

/// The stored `_updatedAt` (and, for uploads and avatars, whether the bytes are
/// missing) of those of `ids` that `collection` holds.
pub(super) fn versions(
    conn: &mut DbConnection,
    collection: Collection,
    ids: &[String],
) -> QueryResult<HashMap<String, StoredVersion>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<(String, i64, bool)> = match collection {
            Collection::Users => versions_in!(conn, users, chunk),
            Collection::Rooms => versions_in!(conn, rooms, chunk),
            Collection::Subscriptions => versions_in!(conn, subscriptions, chunk),
            Collection::Messages => versions_in!(conn, messages, chunk),
            Collection::Uploads => versions_in!(conn, uploads, chunk, uploads::blob_path.is_null()),
            Collection::Avatars => versions_in!(conn, avatars, chunk, avatars::blob_path.is_null()),
            Collection::Trash => Vec::new(),
        };
        found.extend(rows.into_iter().map(|(id, updated_at, missing_blob)| {
            (
                id,
                StoredVersion {
                    updated_at: from_millis(updated_at),
                    missing_blob,
                },
            )
        }));
    }
    Ok(found)
}

/// How many more rows than it has messages a batch may read from the time window they
/// span before the window is given up for lookups by id.
const WINDOW_SLACK: usize = 4;

/// The stored `_updatedAt` of those of `messages` the table holds. The table is kept
/// in (room, time) order and a dump in time order, so a batch's messages sit in one
/// window of time in each of their rooms: read as a few ranges, they cost a fraction
/// of a lookup by id each. Messages not found there (new ones, ones moved in time or
/// room) are looked up by id, and so is a batch whose window holds too much else (a
/// dump out of time order).
pub(super) fn message_versions(
    conn: &mut DbConnection,
    messages: &[Message],
) -> QueryResult<HashMap<String, StoredVersion>> {
    let mut found = HashMap::with_capacity(messages.len());
    let (Some(first), Some(last)) = (
        messages.iter().map(|m| m.ts).min(),
        messages.iter().map(|m| m.ts).max(),
    ) else {
        return Ok(found);
    };
    let mut rooms: Vec<&str> = messages.iter().map(|m| m.room_id.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let cap = messages.len().saturating_mul(WINDOW_SLACK);
    let window: Vec<(String, i64)> = messages::table
        .filter(messages::room_id.eq_any(&rooms))
        .filter(messages::ts.between(to_millis(first), to_millis(last)))
        .select((messages::id, messages::updated_at))
        .limit(i64::try_from(cap).unwrap_or(i64::MAX).saturating_add(1))
        .load(conn)?;
    if window.len() <= cap {
        let wanted: std::collections::HashSet<&str> =
            messages.iter().map(|m| m.id.as_str()).collect();
        found.extend(
            window
                .into_iter()
                .filter(|(id, _)| wanted.contains(id.as_str()))
                .map(|(id, updated_at)| {
                    let version = StoredVersion {
                        updated_at: from_millis(updated_at),
                        missing_blob: false,
                    };
                    (id, version)
                }),
        );
    }
    let elsewhere: Vec<String> = messages
        .iter()
        .filter(|m| !found.contains_key(&m.id))
        .map(|m| m.id.clone())
        .collect();
    found.extend(versions(conn, Collection::Messages, &elsewhere)?);
    Ok(found)
}

/// The row of `$table` with the id `$id`, unless it is stored newer than `$until`.
macro_rules! not_newer {
    ($table:ident, $id:expr, $until:expr) => {
        $table::table
            .filter($table::id.eq($id))
            .filter($table::updated_at.le($until))
    };
}

/// Deletes the `not_newer!` row of `$table` (`uploads` or `avatars`), adding the key of
/// its bytes, if any, to the blobs `$removed` lists; how many rows went.
macro_rules! delete_with_blob {
    ($conn:expr, $table:ident, $id:expr, $until:expr, $removed:expr) => {{
        let held = not_newer!($table, $id, $until);
        let blob: Option<Option<String>> =
            held.select($table::blob_path).first($conn).optional()?;
        let deleted = diesel::delete(held).execute($conn)?;
        $removed.blobs.extend(blob.flatten());
        deleted
    }};
}

/// Deletes what `deletions` name, each only when the stored version is not newer than
/// the deletion; see [`udd_ports::WorkspaceWriter::delete_documents`].
pub(super) fn delete(conn: &mut DbConnection, deletions: &[Deletion]) -> QueryResult<Removed> {
    let mut removed = Removed::default();
    for deletion in deletions {
        let id = deletion.id.as_str();
        let until = to_millis(deletion.deleted_at);
        let deleted = match deletion.collection {
            Collection::Users => diesel::delete(not_newer!(users, id, until)).execute(conn)?,
            Collection::Rooms => {
                let deleted = diesel::delete(not_newer!(rooms, id, until)).execute(conn)?;
                if deleted > 0 {
                    removed.messages_of_rooms +=
                        diesel::delete(messages::table.filter(messages::room_id.eq(id)))
                            .execute(conn)? as u64;
                    removed.subscriptions_of_rooms +=
                        diesel::delete(subscriptions::table.filter(subscriptions::room_id.eq(id)))
                            .execute(conn)? as u64;
                }
                deleted
            }
            Collection::Subscriptions => {
                diesel::delete(not_newer!(subscriptions, id, until)).execute(conn)?
            }
            Collection::Messages => {
                diesel::delete(not_newer!(messages, id, until)).execute(conn)?
            }
            Collection::Uploads => delete_with_blob!(conn, uploads, id, until, removed),
            Collection::Avatars => delete_with_blob!(conn, avatars, id, until, removed),
            Collection::Trash => 0,
        };
        if deleted > 0 {
            removed
                .documents
                .push((deletion.collection, deletion.id.clone()));
        }
    }
    Ok(removed)
}

/// Every mark stored; rows naming no known collection are left out.
pub(super) fn marks(conn: &mut DbConnection) -> QueryResult<Vec<(Collection, DateTime<Utc>)>> {
    let rows: Vec<(String, i64)> = sync_marks::table
        .select((sync_marks::collection, sync_marks::newest))
        .order(sync_marks::collection)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, newest)| Some((Collection::from_label(&name)?, from_millis(newest))))
        .collect())
}

/// Raises each mark, keeping a newer stored one.
pub(super) fn advance(
    conn: &mut DbConnection,
    marks: &[(Collection, DateTime<Utc>)],
) -> QueryResult<()> {
    for (collection, newest) in marks {
        let label = collection.label();
        let stored: Option<i64> = sync_marks::table
            .find(label)
            .select(sync_marks::newest)
            .get_result(conn)
            .optional()?;
        let newest = stored.map_or(to_millis(*newest), |s| s.max(to_millis(*newest)));
        diesel::insert_into(sync_marks::table)
            .values((
                sync_marks::collection.eq(label),
                sync_marks::newest.eq(newest),
            ))
            .on_conflict(sync_marks::collection)
            .do_update()
            .set(sync_marks::newest.eq(newest))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::workspace::SqliteWorkspace;
    use super::*;
    use udd_domain::{Message, Room, RoomType, Subscription};
    use udd_ports::{WorkspaceReader, WorkspaceWriter};

    fn at(millis: i64) -> DateTime<Utc> {
        from_millis(millis)
    }

    fn room(id: &str, updated: i64) -> Room {
        Room {
            id: id.into(),
            room_type: RoomType::Channel,
            name: Some(id.to_lowercase()),
            fname: None,
            member_ids: Vec::new(),
            team_main: false,
            created_at: at(0),
            updated_at: at(updated),
        }
    }

    fn message(id: &str, room: &str, updated: i64) -> Message {
        Message {
            msg: id.into(),
            updated_at: at(updated),
            ..Message::new(id, room, at(10))
        }
    }

    fn subscription(id: &str, user: &str, room: &str) -> Subscription {
        Subscription {
            id: id.into(),
            user_id: user.into(),
            room_id: room.into(),
            room_type: RoomType::Channel,
            name: None,
            created_at: at(0),
            updated_at: at(5),
        }
    }

    fn deletion(collection: Collection, id: &str, when: i64) -> Deletion {
        Deletion {
            collection,
            id: id.into(),
            deleted_at: at(when),
        }
    }

    #[test]
    fn a_deleted_room_takes_its_messages_and_subscriptions_and_a_newer_version_stays(
    ) -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        workspace.upsert_rooms(&[room("A", 5), room("B", 5)])?;
        workspace.upsert_messages(&[
            message("a1", "A", 5),
            message("a2", "A", 5),
            message("b1", "B", 50),
        ])?;
        workspace.upsert_subscriptions(&[
            subscription("s1", "u1", "A"),
            subscription("s2", "u1", "B"),
        ])?;

        let versions = workspace.versions(Collection::Messages, &["a1".into(), "zz".into()])?;
        assert_eq!(versions.len(), 1);
        assert_eq!(versions["a1"].updated_at, at(5));
        assert!(!versions["a1"].missing_blob);

        let removed = workspace.delete_documents(&[
            deletion(Collection::Rooms, "A", 20),
            // Written again after its deletion: stays.
            deletion(Collection::Messages, "b1", 20),
            deletion(Collection::Messages, "gone", 20),
        ])?;
        assert_eq!(removed.documents, [(Collection::Rooms, "A".to_owned())]);
        assert_eq!(
            (removed.messages_of_rooms, removed.subscriptions_of_rooms),
            (2, 1)
        );
        assert!(matches!(
            workspace.room(&"A".into()),
            Err(udd_ports::StoreError::NotFound)
        ));
        assert_eq!(workspace.subscriptions_of(&"u1".into())?.len(), 1);
        assert_eq!(workspace.count_messages(&"A".into(), at(100))?, 0);
        assert_eq!(workspace.count_messages(&"B".into(), at(100))?, 1);
        Ok(())
    }

    #[test]
    fn messages_are_found_where_they_sit_or_else_by_id() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        workspace.upsert_messages(&[message("a", "A", 5), message("b", "A", 6)])?;
        let mut moved = message("b", "B", 7);
        moved.ts = at(99);
        let versions =
            workspace.message_versions(&[message("a", "A", 8), moved, message("new", "A", 1)])?;
        assert_eq!(versions.len(), 2, "{versions:?}");
        assert_eq!(versions["a"].updated_at, at(5));
        assert_eq!(versions["b"].updated_at, at(6));

        // A window holding far more than the batch: looked up by id all the same.
        let crowd: Vec<Message> = (0..30)
            .map(|i| {
                let mut m = message(&format!("c{i}"), "C", 40 + i);
                m.ts = at(100 + i);
                m
            })
            .collect();
        workspace.upsert_messages(&crowd)?;
        let versions = workspace.message_versions(&[crowd[0].clone(), crowd[29].clone()])?;
        assert_eq!(versions.len(), 2, "{versions:?}");
        assert_eq!(versions["c29"].updated_at, at(69));
        Ok(())
    }

    #[test]
    fn marks_only_rise() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        assert!(workspace.sync_marks()?.is_empty());
        workspace
            .advance_sync_marks(&[(Collection::Messages, at(50)), (Collection::Trash, at(7))])?;
        workspace.advance_sync_marks(&[(Collection::Messages, at(40))])?;
        assert_eq!(
            workspace.sync_marks()?,
            [(Collection::Messages, at(50)), (Collection::Trash, at(7))]
        );
        workspace.advance_sync_marks(&[(Collection::Messages, at(60))])?;
        assert_eq!(workspace.sync_marks()?[0], (Collection::Messages, at(60)));
        Ok(())
    }
}
