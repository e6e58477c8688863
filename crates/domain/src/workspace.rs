//! The chat workspace an export reads: rooms, memberships, messages, uploads, avatars.
//! Ids are Rocket.Chat's, kept as they are so links and ids in an export match the
//! source workspace.

use chrono::{DateTime, Utc};

use crate::export::RoomType;
use crate::ids::{RoomId, UploadId, UserId};

/// A room (channel, private group, direct conversation, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Rocket.Chat's `_id`.
    pub id: RoomId,
    /// `t`.
    pub room_type: RoomType,
    /// `name`: the unique, URL-friendly name; absent for direct rooms.
    pub name: Option<String>,
    /// `fname`: the display name.
    pub fname: Option<String>,
    /// `uids`: the members of a direct room.
    pub member_ids: Vec<UserId>,
    /// `teamMain`: the room is a team's main room.
    pub team_main: bool,
    /// `ts`.
    pub created_at: DateTime<Utc>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
}

/// A user's membership of a room (Rocket.Chat's subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Rocket.Chat's `_id`.
    pub id: String,
    /// `u._id`.
    pub user_id: UserId,
    /// `rid`.
    pub room_id: RoomId,
    /// `t`.
    pub room_type: RoomType,
    /// `name`: the room name as the member sees it.
    pub name: Option<String>,
    /// `ts`.
    pub created_at: DateTime<Utc>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
}

/// One message, user-written or system (`t` set).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Rocket.Chat's `_id`.
    pub id: String,
    /// `rid`.
    pub room_id: RoomId,
    /// `ts`: when it was sent; messages are exported in (`ts`, `id`) order.
    pub ts: DateTime<Utc>,
    /// `u._id`.
    pub user_id: Option<UserId>,
    /// `u.username`.
    pub username: Option<String>,
    /// `msg`: the text (for system messages, the subject, e.g. a username).
    pub msg: String,
    /// `t`: the system message type (`uj`, `ul`, `au`, …), none for user text.
    pub message_type: Option<String>,
    /// `tmid`: the thread parent.
    pub thread_id: Option<String>,
    /// `file._id`: the upload this message carries.
    pub file_id: Option<UploadId>,
    /// `attachments`, as plain JSON (Extended JSON already relaxed).
    pub attachments: Option<serde_json::Value>,
    /// `editedAt`: when the text was last edited, none if it never was.
    pub edited_at: Option<DateTime<Utc>>,
    /// `editedBy.username`: who edited it last.
    pub edited_by: Option<String>,
    /// `reactions`, in the document's order.
    pub reactions: Vec<Reaction>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
}

impl Message {
    /// A message `id` in `room_id` sent (and last updated) at `ts`, with no author, no
    /// text and nothing else: the base a reader or a test fills in the fields it has.
    pub fn new(id: impl Into<String>, room_id: impl Into<RoomId>, ts: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            room_id: room_id.into(),
            ts,
            user_id: None,
            username: None,
            msg: String::new(),
            message_type: None,
            thread_id: None,
            file_id: None,
            attachments: None,
            edited_at: None,
            edited_by: None,
            reactions: Vec::new(),
            updated_at: ts,
        }
    }
}

/// One reaction to a message: an emoji and the people who chose it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reaction {
    /// The emoji's shortcode as Rocket.Chat keys it (`:thumbsup:`): untrusted text.
    pub emoji: String,
    /// `usernames`: who reacted, in the document's order.
    pub usernames: Vec<String>,
}

/// An uploaded file's metadata; its bytes live in the blob store under `blob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Rocket.Chat's `_id`.
    pub id: UploadId,
    /// `rid`.
    pub room_id: Option<RoomId>,
    /// `userId`: the uploader.
    pub user_id: Option<UserId>,
    /// `name`: the original file name — untrusted, never a path.
    pub name: String,
    /// `type`: the MIME type.
    pub content_type: Option<String>,
    /// `size` in bytes.
    pub size: u64,
    /// The blob store key, or none when the bytes were not available.
    pub blob: Option<String>,
    /// `uploadedAt`.
    pub uploaded_at: DateTime<Utc>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
}

impl Upload {
    /// Whether this upload may go into `requester`'s export of `rooms`: it belongs to
    /// one of those rooms, or the requester uploaded it. A message can name any upload
    /// in its `file._id`; without this rule a message in a shared room could pull a
    /// private room's file into someone else's archive.
    pub fn may_export<'a>(
        &self,
        requester: &str,
        mut rooms: impl Iterator<Item = &'a str>,
    ) -> bool {
        self.user_id.as_deref() == Some(requester)
            || self
                .room_id
                .as_deref()
                .is_some_and(|own| rooms.any(|room| room == own))
    }
}

/// Whether a document id can name a stored file: 1 to 128 ASCII letters, digits, `-`
/// and `_`. Rocket.Chat's ids always are; anything else (`/`, `..`, NUL, spaces) could
/// name a path, so an upload or avatar with such an id is not loaded.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A user's avatar image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// Rocket.Chat's `_id`.
    pub id: String,
    /// `name`: the username the avatar belongs to.
    pub username: String,
    /// `userId`.
    pub user_id: Option<UserId>,
    /// `type`: the MIME type.
    pub content_type: Option<String>,
    /// `size` in bytes.
    pub size: u64,
    /// The blob store key, or none when the bytes were not available.
    pub blob: Option<String>,
    /// `uploadedAt`.
    pub uploaded_at: DateTime<Utc>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
}

/// A position in a room's message stream for keyset paging: messages are ordered by
/// (`ts`, `id`) and a page starts strictly after the cursor. Unlike offsets, a cursor
/// neither skips nor repeats messages when others are inserted or deleted meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageCursor {
    /// The last exported message's `ts`.
    pub ts: DateTime<Utc>,
    /// The last exported message's id (breaks ties between equal timestamps).
    pub id: String,
}

impl MessageCursor {
    /// The cursor just after `message`.
    pub fn after(message: &Message) -> Self {
        Self {
            ts: message.ts,
            id: message.id.clone(),
        }
    }

    /// Whether `message` comes after this cursor in (`ts`, `id`) order.
    pub fn precedes(&self, message: &Message) -> bool {
        (message.ts, message.id.as_str()) > (self.ts, self.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_plain_ids_can_name_a_stored_file() {
        for good in ["nd6ssaJw6zJHrtFGs", "a", "A-b_9", &"x".repeat(128)] {
            assert!(is_plain_id(good), "{good:?}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "..",
            ".hidden",
            "a b",
            "nul\0",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!is_plain_id(bad), "{bad:?}");
        }
    }

    fn message(ts: i64, id: &str) -> Message {
        Message::new(id, "r", crate::time::from_millis(ts))
    }

    fn upload(room: Option<&str>, uploader: Option<&str>) -> Upload {
        Upload {
            id: "F1".into(),
            room_id: room.map(RoomId::from),
            user_id: uploader.map(UserId::from),
            name: "secret.pdf".into(),
            content_type: None,
            size: 1,
            blob: Some("F1".into()),
            uploaded_at: crate::time::from_millis(0),
            updated_at: crate::time::from_millis(0),
        }
    }

    #[test]
    fn an_upload_is_exported_only_from_the_exports_rooms_or_to_its_uploader() {
        let rooms = ["GENERAL", "dm"];
        assert!(upload(Some("GENERAL"), Some("bob")).may_export("alice", rooms.into_iter()));
        assert!(upload(Some("private"), Some("alice")).may_export("alice", rooms.into_iter()));
        assert!(!upload(Some("private"), Some("bob")).may_export("alice", rooms.into_iter()));
        assert!(!upload(None, None).may_export("alice", rooms.into_iter()));
        assert!(!upload(Some("private"), None).may_export("alice", [].into_iter()));
    }

    proptest! {
        /// Paging any set of messages with cursors visits each exactly once, in order.
        #[test]
        fn keyset_pages_visit_every_message_once(
            keys in proptest::collection::btree_set((0_i64..50, "[a-c]{1,2}"), 0..60),
            page in 1_usize..7,
        ) {
            let all: Vec<Message> = keys.iter().map(|(ts, id)| message(*ts, id)).collect();
            let mut seen = Vec::new();
            let mut cursor: Option<MessageCursor> = None;
            loop {
                let batch: Vec<&Message> = all
                    .iter()
                    .filter(|m| cursor.as_ref().is_none_or(|c| c.precedes(m)))
                    .take(page)
                    .collect();
                let Some(last) = batch.last() else { break };
                cursor = Some(MessageCursor::after(last));
                seen.extend(batch.iter().map(|m| m.id.clone() + &m.ts.timestamp_millis().to_string()));
            }
            let expected: Vec<String> = all.iter().map(|m| m.id.clone() + &m.ts.timestamp_millis().to_string()).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
