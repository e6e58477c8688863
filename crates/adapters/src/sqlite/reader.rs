//! The read side of the workspace, for exports.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::render::LinkedMessages;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{Avatar, Message, MessageCursor, Room, RoomType, Subscription, Upload};
use udd_domain::{RoomId, UploadId, UserId};
use udd_ports::{BatchLookups, StoreError, WorkspaceReader};

use super::schema::{avatars, messages, rooms, subscriptions, uploads};
use super::workspace::SqliteWorkspace;
use super::{json_list, store_error, DbConnection};

/// The most messages a page reserves room for before its first row (a caller may ask
/// for pages far larger than a workspace holds).
const MAX_PAGE_CAPACITY: usize = 10_000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = rooms)]
struct RoomRow {
    id: String,
    room_type: String,
    name: Option<String>,
    fname: Option<String>,
    member_ids: Option<String>,
    team_main: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<RoomRow> for Room {
    fn from(r: RoomRow) -> Self {
        Room {
            id: r.id.into(),
            room_type: RoomType::from_code(&r.room_type),
            name: r.name,
            fname: r.fname,
            member_ids: r
                .member_ids
                .as_deref()
                .map(json_list)
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            team_main: r.team_main,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
struct SubscriptionRow {
    id: String,
    user_id: String,
    room_id: String,
    room_type: String,
    name: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<SubscriptionRow> for Subscription {
    fn from(s: SubscriptionRow) -> Self {
        Subscription {
            id: s.id,
            user_id: s.user_id.into(),
            room_id: s.room_id.into(),
            room_type: RoomType::from_code(&s.room_type),
            name: s.name,
            created_at: from_millis(s.created_at),
            updated_at: from_millis(s.updated_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    id: String,
    room_id: String,
    ts: i64,
    user_id: Option<String>,
    username: Option<String>,
    msg: String,
    message_type: Option<String>,
    thread_id: Option<String>,
    file_id: Option<String>,
    attachments: Option<String>,
    updated_at: i64,
    edited_at: Option<i64>,
    edited_by: Option<String>,
    reactions: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(m: MessageRow) -> Self {
        Message {
            id: m.id,
            room_id: m.room_id.into(),
            ts: from_millis(m.ts),
            user_id: m.user_id.map(Into::into),
            username: m.username,
            msg: m.msg,
            message_type: m.message_type,
            thread_id: m.thread_id,
            file_id: m.file_id.map(Into::into),
            attachments: m.attachments.and_then(|a| serde_json::from_str(&a).ok()),
            edited_at: m.edited_at.map(from_millis),
            edited_by: m.edited_by,
            reactions: m
                .reactions
                .and_then(|r| serde_json::from_str(&r).ok())
                .unwrap_or_default(),
            updated_at: from_millis(m.updated_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = uploads)]
struct UploadRow {
    id: String,
    room_id: Option<String>,
    user_id: Option<String>,
    name: String,
    content_type: Option<String>,
    size: i64,
    blob_path: Option<String>,
    uploaded_at: i64,
    updated_at: i64,
}

impl From<UploadRow> for Upload {
    fn from(u: UploadRow) -> Self {
        Upload {
            id: u.id.into(),
            room_id: u.room_id.map(Into::into),
            user_id: u.user_id.map(Into::into),
            name: u.name,
            content_type: u.content_type,
            size: u64::try_from(u.size).unwrap_or(0),
            blob: u.blob_path,
            uploaded_at: from_millis(u.uploaded_at),
            updated_at: from_millis(u.updated_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = avatars)]
struct AvatarRow {
    id: String,
    username: String,
    user_id: Option<String>,
    content_type: Option<String>,
    size: i64,
    blob_path: Option<String>,
    uploaded_at: i64,
    updated_at: i64,
}

impl From<AvatarRow> for Avatar {
    fn from(a: AvatarRow) -> Self {
        Avatar {
            id: a.id,
            username: a.username,
            user_id: a.user_id.map(Into::into),
            content_type: a.content_type,
            size: u64::try_from(a.size).unwrap_or(0),
            blob: a.blob_path,
            uploaded_at: from_millis(a.uploaded_at),
            updated_at: from_millis(a.updated_at),
        }
    }
}

impl SqliteWorkspace {
    /// Runs `read` on a pooled connection; its errors are `Unexpected`, saying `what`.
    pub(super) fn read<T>(
        &self,
        what: &str,
        read: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.db().conn()?;
        read(&mut conn).map_err(|e| store_error(e, what))
    }
}

#[cfg(any(test, feature = "testing"))]
impl SqliteWorkspace {
    /// One message by id (tests check what an import stored).
    ///
    /// Errors: `NotFound`; `Unexpected`.
    pub fn message(&self, id: &str) -> Result<Message, StoreError> {
        let mut conn = self.db().conn()?;
        messages::table
            .find(id)
            .select(MessageRow::as_select())
            .first(&mut conn)
            .map(Message::from)
            .map_err(|e| store_error(e, "loading a message"))
    }
}

impl WorkspaceReader for SqliteWorkspace {
    fn subscriptions_of(&self, user_id: &UserId) -> Result<Vec<Subscription>, StoreError> {
        let mut conn = self.db().conn()?;
        Ok(subscriptions::table
            .filter(subscriptions::user_id.eq(user_id.as_str()))
            .order((subscriptions::created_at.asc(), subscriptions::id.asc()))
            .select(SubscriptionRow::as_select())
            .load(&mut conn)
            .map_err(|e| store_error(e, "loading subscriptions"))?
            .into_iter()
            .map(Subscription::from)
            .collect())
    }

    fn room(&self, id: &RoomId) -> Result<Room, StoreError> {
        let mut conn = self.db().conn()?;
        rooms::table
            .find(id.as_str())
            .select(RoomRow::as_select())
            .first(&mut conn)
            .map(Room::from)
            .map_err(|e| store_error(e, "loading a room"))
    }

    fn messages_page(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.db().conn()?;
        let mut query = messages::table
            .filter(messages::room_id.eq(room_id.as_str()))
            .filter(messages::ts.le(to_millis(cutoff)))
            .into_boxed();
        if let Some(cursor) = after {
            let ts = to_millis(cursor.ts);
            // `ts >= cursor` is what lets SQLite seek straight to the cursor in the
            // (room_id, ts, id) key; the OR then only filters rows of the same instant.
            // Written as `ts > c OR (ts = c AND id > c)` alone, it scans the room from its
            // start on every page, and an export turns quadratic.
            query = query
                .filter(messages::ts.ge(ts))
                .filter(messages::ts.gt(ts).or(messages::id.gt(cursor.id)));
        }
        let mut query = query.order((messages::ts.asc(), messages::id.asc()));
        // SQLite: no `LIMIT ?`, which would make it prepare the statement again every
        // time it is bound (see the module's notes on requests); the rows come in key
        // order without a sort, so stepping `limit` of them and dropping the rest costs
        // no more. PostgreSQL sends a result whole, so it gets its `LIMIT`.
        if !super::PAGE_BY_STEPPING {
            query = query.limit(i64::from(limit));
        }
        let what = "loading a page of messages";
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        super::scan_once(&mut conn, |conn| {
            let rows = query
                .select(MessageRow::as_select())
                .load_iter::<MessageRow, diesel::connection::DefaultLoadingMode>(conn)
                .map_err(|e| store_error(e, what))?;
            // Sized once: a page grown by doubling copies its messages (a few hundred
            // bytes each) about twice over.
            let mut page = Vec::with_capacity(limit.min(MAX_PAGE_CAPACITY));
            for row in rows.take(limit) {
                page.push(Message::from(row.map_err(|e| store_error(e, what))?));
            }
            Ok(page)
        })
    }

    fn count_messages(&self, room_id: &RoomId, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.db().conn()?;
        let n: i64 = super::scan_once(&mut conn, |conn| {
            messages::table
                .filter(messages::room_id.eq(room_id.as_str()))
                .filter(messages::ts.le(to_millis(cutoff)))
                .count()
                .get_result(conn)
                .map_err(|e| store_error(e, "counting messages"))
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn message_keys(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        ids: &[String],
    ) -> Result<Vec<MessageCursor>, StoreError> {
        self.read("finding linked messages", |conn| {
            super::links::message_keys(conn, room_id, cutoff, ids)
        })
    }

    fn batch_lookups(&self) -> Result<Box<dyn BatchLookups>, StoreError> {
        let own = self.db().dedicated()?;
        Ok(Box::new(super::lookups::SessionLookups::new(
            self.clone(),
            own,
        )))
    }

    fn linked_messages(
        &self,
        room_ids: &[RoomId],
        cutoff: DateTime<Utc>,
        linked: &mut LinkedMessages,
    ) -> Result<(), StoreError> {
        // One pass over the whole reply index and the rooms: their pages are read
        // once, and must not fill the connection's cache.
        let mut conn = self.db().conn()?;
        super::scan_once(&mut conn, |conn| {
            super::links::linked_messages(conn, room_ids, cutoff, linked)
                .map_err(|e| store_error(e, "finding linked messages"))
        })
    }

    fn count_between(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        after: &MessageCursor,
        before: &MessageCursor,
    ) -> Result<u64, StoreError> {
        self.read("counting messages between two", |conn| {
            super::links::count_between(conn, room_id, cutoff, after, before)
        })
    }

    fn upload(&self, id: &UploadId) -> Result<Upload, StoreError> {
        self.read("loading an upload", |conn| upload_row(conn, id))?
            .ok_or(StoreError::NotFound)
    }

    fn avatar_of(&self, username: &str) -> Result<Option<Avatar>, StoreError> {
        let mut conn = self.db().conn()?;
        avatars::table
            .filter(avatars::username.eq(username))
            .order((avatars::uploaded_at.desc(), avatars::id.desc()))
            .select(AvatarRow::as_select())
            .first(&mut conn)
            .optional()
            .map(|row| row.map(Avatar::from))
            .map_err(|e| store_error(e, "loading an avatar"))
    }

    fn blobs_under(&self, prefix: &str) -> Result<(u64, Option<String>), StoreError> {
        use diesel::dsl::{count_star, min};
        let mut conn = self.db().conn()?;
        // `\` escapes LIKE's wildcards, so the prefix is matched as it is written.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let what = "counting blobs by store";
        let (uploads, first_upload): (i64, Option<String>) = uploads::table
            .filter(uploads::blob_path.like(&pattern).escape('\\'))
            .select((count_star(), min(uploads::blob_path)))
            .get_result(&mut conn)
            .map_err(|e| store_error(e, what))?;
        let (avatars, first_avatar): (i64, Option<String>) = avatars::table
            .filter(avatars::blob_path.like(&pattern).escape('\\'))
            .select((count_star(), min(avatars::blob_path)))
            .get_result(&mut conn)
            .map_err(|e| store_error(e, what))?;
        let count = u64::try_from(uploads + avatars).unwrap_or(0);
        Ok((count, first_upload.into_iter().chain(first_avatar).min()))
    }
}

/// One upload by its key, read without `LIMIT ?` (a message with a file asks once).
pub(super) fn upload_row(conn: &mut DbConnection, id: &UploadId) -> QueryResult<Option<Upload>> {
    Ok(uploads::table
        .find(id.as_str())
        .select(UploadRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(Upload::from))
}

#[cfg(test)]
mod tests {
    use super::super::lookups::PINNED_FOR;
    use super::super::testing;
    use super::*;
    use udd_ports::ThreadReplies;
    use udd_ports::WorkspaceWriter;

    #[test]
    fn blobs_are_counted_by_the_prefix_of_their_key_as_it_is_written() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db);
        let upload = |id: &str, blob: Option<&str>| Upload {
            id: id.into(),
            room_id: None,
            user_id: None,
            name: format!("{id}.txt"),
            content_type: None,
            size: 1,
            blob: blob.map(str::to_owned),
            uploaded_at: from_millis(1),
            updated_at: from_millis(1),
        };
        workspace.upsert_uploads(&[
            upload("F1", Some("uploads/F1")),
            upload("F2", Some("rocketchat-s3/b/F2")),
            upload("F3", Some("rocketchat-s3/a/F3")),
            upload("F4", None),
        ])?;
        workspace.upsert_avatars(&[Avatar {
            id: "A1".into(),
            username: "alice".into(),
            user_id: None,
            content_type: None,
            size: 1,
            blob: Some("rocketchat-s3/0/A1".into()),
            uploaded_at: from_millis(1),
            updated_at: from_millis(1),
        }])?;
        assert_eq!(
            workspace.blobs_under("rocketchat-s3/")?,
            (3, Some("rocketchat-s3/0/A1".to_owned()))
        );
        assert_eq!(
            workspace.blobs_under("uploads/")?,
            (1, Some("uploads/F1".to_owned()))
        );
        // `_` and `%` are characters of the prefix, not wildcards.
        assert_eq!(workspace.blobs_under("rocketchat_s3/")?, (0, None));
        assert_eq!(workspace.blobs_under("%")?, (0, None));
        assert_eq!(workspace.blobs_under("rocketchat-webdav/")?, (0, None));
        Ok(())
    }

    fn message(id: &str, room: &str, ts: i64) -> Message {
        Message {
            user_id: Some("u1".into()),
            username: Some("alice".into()),
            msg: format!("text of {id}"),
            attachments: Some(serde_json::json!([{"title": "t"}])),
            ..Message::new(id, room, from_millis(ts))
        }
    }

    #[test]
    fn pages_follow_ts_then_id_stop_at_the_cutoff_and_stay_in_their_room() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        ws.upsert_messages(&[
            message("b", "R", 10),
            message("a", "R", 10),
            message("c", "R", 5),
            message("d", "R", 30),
            message("x", "OTHER", 1),
        ])?;
        let cutoff = from_millis(20);
        let first = ws.messages_page(&"R".into(), cutoff, None, 2)?;
        assert_eq!(
            first.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["c", "a"]
        );
        let rest = ws.messages_page(
            &"R".into(),
            cutoff,
            Some(MessageCursor::after(&first[1])),
            10,
        )?;
        assert_eq!(
            rest.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["b"],
            "d is after the cutoff"
        );
        assert_eq!(ws.count_messages(&"R".into(), cutoff)?, 3);
        assert_eq!(
            first[0].attachments,
            Some(serde_json::json!([{"title": "t"}]))
        );
        Ok(())
    }

    #[test]
    fn edits_and_reactions_are_stored_and_replaced_by_a_newer_version() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        ws.upsert_messages(&[message("a", "R", 1)])?;
        let stored = ws.message("a")?;
        assert_eq!(stored.edited_at, None);
        assert!(stored.reactions.is_empty());

        let mut edited = message("a", "R", 1);
        edited.edited_at = Some(from_millis(1_709_287_200_000));
        edited.edited_by = Some("bob".into());
        edited.reactions = vec![
            udd_domain::Reaction {
                emoji: ":thumbsup:".into(),
                usernames: vec!["alice".into(), "bob".into()],
            },
            udd_domain::Reaction {
                emoji: "\"><script>".into(),
                usernames: vec!["carol".into()],
            },
        ];
        edited.updated_at = from_millis(1_709_287_200_000);
        ws.upsert_messages(&[edited.clone()])?;
        assert_eq!(ws.message("a")?, edited);
        let page = ws.messages_page(&"R".into(), from_millis(100), None, 10)?;
        assert_eq!(page, [edited.clone()], "the export reads them too");

        // Reactions taken back and the edit mark gone in a newer version: stored so.
        ws.upsert_messages(&[message("a", "R", 1)])?;
        assert_eq!(ws.message("a")?, message("a", "R", 1));
        Ok(())
    }

    #[test]
    fn batch_lookups_catch_up_with_the_store_and_leave_the_pool_alone() -> anyhow::Result<()> {
        let (guard, _db) = testing::database();
        // One connection, which the export's other reads need while the lookups last.
        let ws = SqliteWorkspace::new(testing::pool_of(&guard, 1));
        let writer = SqliteWorkspace::new(testing::another_pool(&guard));
        let (room, cutoff) = (RoomId::from("R"), from_millis(100));
        let parents = [MessageCursor {
            ts: from_millis(10),
            id: "p".into(),
        }];
        let upload = |id: &str| Upload {
            id: id.into(),
            room_id: Some("R".into()),
            user_id: None,
            name: format!("{id}.txt"),
            content_type: None,
            size: 1,
            blob: None,
            uploaded_at: from_millis(1),
            updated_at: from_millis(1),
        };
        writer.upsert_messages(&[message("p", "R", 10), reply("r1", "p", 20)])?;
        writer.upsert_uploads(&[upload("F1")])?;

        let mut lookups = ws.batch_lookups()?;
        let replies = |threads: Vec<ThreadReplies>| threads.iter().map(|t| t.replies).sum::<u64>();
        assert_eq!(
            replies(lookups.threads_started(&room, cutoff, &parents)?),
            1
        );
        assert_eq!(lookups.upload(&"F1".into())?.name, "F1.txt");
        assert_eq!(
            ws.count_messages(&room, cutoff)?,
            2,
            "the pool's connection is free"
        );
        // Another connection writes while the lookups read.
        writer.upsert_messages(&[reply("r2", "p", 30)])?;
        writer.upsert_uploads(&[upload("F2")])?;
        assert_eq!(
            lookups.upload(&"F2".into())?.name,
            "F2.txt",
            "an upload not found is looked for again as the store is now"
        );
        assert!(matches!(
            lookups.upload(&"F3".into()),
            Err(StoreError::NotFound)
        ));
        std::thread::sleep(PINNED_FOR);
        assert_eq!(
            replies(lookups.threads_started(&room, cutoff, &parents)?),
            2,
            "a reply is seen once the view is renewed"
        );

        drop(lookups);
        writer.upsert_messages(&[reply("r3", "p", 40)])?;
        let threads = ws
            .batch_lookups()?
            .threads_started(&room, cutoff, &parents)?;
        assert_eq!(replies(threads), 3);
        assert_eq!(ws.count_messages(&room, cutoff)?, 4);
        Ok(())
    }

    /// Message `id` quoting message `quoted`, as Rocket.Chat stores a quote.
    fn quote(id: &str, room: &str, ts: i64, quoted: &str) -> Message {
        Message {
            attachments: Some(serde_json::json!([{
                "text": "what was said",
                "message_link": format!("https://chat.example.org/channel/general?msg={quoted}"),
            }])),
            ..message(id, room, ts)
        }
    }

    fn reply(id: &str, parent: &str, ts: i64) -> Message {
        Message {
            thread_id: Some(parent.into()),
            ..message(id, "R", ts)
        }
    }

    #[test]
    fn links_find_named_messages_threads_and_distances_in_one_room_up_to_the_cutoff(
    ) -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        ws.upsert_messages(&[
            message("p1", "R", 10),
            message("p2", "R", 10),
            reply("r3", "p1", 30),
            reply("r1", "p1", 20),
            reply("r2", "p1", 20),
            reply("late", "p2", 500),
            message("x", "OTHER", 15),
            Message {
                thread_id: Some("p1".into()),
                ..message("elsewhere", "OTHER", 15)
            },
            // Quotes, in a room of their own so that R's counts stay as they are.
            quote("q1", "QUOTES", 40, "p2"),
            quote("q2", "QUOTES", 500, "r2"),
            quote("q3", "OTHER", 40, "r3"),
            Message {
                attachments: Some(serde_json::json!({"message_link": "https://c/x?msg=x"})),
                ..message("not-a-list", "QUOTES", 40)
            },
        ])?;
        let room = RoomId::from("R");
        let cutoff = from_millis(100);
        let at = |ts: i64, id: &str| MessageCursor {
            ts: from_millis(ts),
            id: id.into(),
        };
        let ids: Vec<String> = ["r1", "x", "late", "nothing", "p2"]
            .map(String::from)
            .to_vec();
        let mut keys = ws.message_keys(&room, cutoff, &ids)?;
        keys.sort();
        assert_eq!(
            keys,
            [
                MessageCursor {
                    ts: from_millis(10),
                    id: "p2".into()
                },
                MessageCursor {
                    ts: from_millis(20),
                    id: "r1".into()
                },
            ],
            "other rooms and messages after the cutoff are not this archive's"
        );

        let parents = [at(10, "p1"), at(10, "p2"), at(20, "r1"), at(15, "x")];
        let threads = ws
            .batch_lookups()?
            .threads_started(&room, cutoff, &parents)?;
        assert_eq!(
            threads,
            [ThreadReplies {
                parent: "p1".into(),
                replies: 3,
                first: MessageCursor {
                    ts: from_millis(20),
                    id: "r1".into()
                },
            }],
            "p2's only reply comes after the cutoff"
        );
        let mut linked = LinkedMessages::default();
        ws.linked_messages(&[room.clone(), "QUOTES".into()], cutoff, &mut linked)?;
        assert!(linked.may_start("p1"));
        for other in ["p2", "r1", "x", "elsewhere"] {
            assert!(
                !linked.may_start(other),
                "{other}: p2's reply is after the cutoff, the others answer nothing here"
            );
        }
        let linked_here = |id: &str| linked.may_be_linked(&message(id, "R", 0));
        assert!(linked_here("p1"), "a parent");
        assert!(linked_here("p2"), "quoted before the cutoff");
        for other in ["r2", "r3", "x", "q1"] {
            assert!(
                !linked_here(other),
                "{other}: quoted after the cutoff, from another room, not from a list, or not at all"
            );
        }
        // R in order: p1 p2 (10), r1 r2 (20), r3 (30); late is after the cutoff.
        assert_eq!(
            ws.count_between(&room, cutoff, &at(10, "p1"), &at(30, "r3"))?,
            3
        );
        assert_eq!(
            ws.count_between(&room, cutoff, &at(10, "p2"), &at(20, "r2"))?,
            1
        );
        assert_eq!(
            ws.count_between(&room, cutoff, &at(10, "p1"), &at(10, "p2"))?,
            0
        );
        assert_eq!(
            ws.count_between(&room, cutoff, &at(30, "r3"), &at(10, "p1"))?,
            0
        );
        assert_eq!(
            ws.count_between(&room, cutoff, &at(10, "p1"), &at(600, "z"))?,
            4,
            "a bound past the cutoff still counts only up to it: p2, r1, r2 and r3, not late"
        );
        assert_eq!(
            ws.count_between(&room, cutoff, &at(0, ""), &at(999, "z"))?,
            5
        );
        Ok(())
    }

    #[test]
    fn writing_the_same_message_twice_keeps_one_updated_copy() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ws = SqliteWorkspace::new(db);
        ws.upsert_messages(&[message("a", "R", 1)])?;
        let mut edited = message("a", "R", 1);
        edited.msg = "edited".into();
        ws.upsert_messages(&[edited])?;
        assert_eq!(ws.count_messages(&"R".into(), from_millis(100))?, 1);
        assert_eq!(ws.message("a")?.msg, "edited");
        assert!(matches!(ws.message("zz"), Err(StoreError::NotFound)));
        Ok(())
    }
}
