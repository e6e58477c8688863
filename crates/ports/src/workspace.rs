//! Loading a chat workspace: where documents come from (a dump), where they go (the
//! workspace store and the blob store), and how progress is shown.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use udd_domain::render::LinkedMessages;
use udd_domain::{Avatar, Message, MessageCursor, Room, SecondFactors, Subscription, Upload, User};

use crate::StoreError;
use udd_domain::{RoomId, UploadId, UserId};

/// A user as a workspace dump carries them, secrets included, for storage only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceUser {
    /// The profile.
    pub user: User,
    /// `services.password.bcrypt`.
    pub password_bcrypt: Option<String>,
    /// `services.resume.loginTokens`: (hashed token, when issued).
    pub login_tokens: Vec<(String, DateTime<Utc>)>,
    /// `_updatedAt`.
    pub updated_at: DateTime<Utc>,
    /// `services.totp` (enabled, with its base32 `secret`) and `services.email2fa`
    /// (enabled): the second factors the user turned on.
    pub second_factors: SecondFactors,
    /// `services.totp.hashedBackup`: hex SHA-256 of each backup code.
    pub backup_codes: Vec<String>,
}

impl WorkspaceUser {
    /// `user` as a dump carries them when they have no password, tokens or second
    /// factors, last updated when they were created.
    pub fn new(user: User) -> Self {
        Self {
            updated_at: user.created_at,
            user,
            password_bcrypt: None,
            login_tokens: Vec::new(),
            second_factors: SecondFactors::default(),
            backup_codes: Vec::new(),
        }
    }
}

/// What changed hands between two loads of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovedKind {
    /// A username.
    Username,
    /// An e-mail address.
    Email,
}

/// A username or e-mail address that a user took over from another user who held it
/// in the store (it was renamed or removed in Rocket.Chat between two dumps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Which kind of value.
    pub kind: MovedKind,
    /// The value, as the new holder has it.
    pub value: String,
    /// The user id that held it.
    pub from_user: String,
    /// The user id that holds it now.
    pub to_user: String,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            MovedKind::Username => "username",
            MovedKind::Email => "e-mail",
        };
        write!(
            f,
            "{kind} {:?} moved from user {} to user {}",
            self.value, self.from_user, self.to_user
        )
    }
}

/// The workspace store, written in batches. Each call is one transaction; writing a
/// document whose id exists replaces it, so loading the same data twice changes nothing.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WorkspaceWriter: Send + Sync {
    /// Inserts or replaces users with their emails. Each user's imported login tokens
    /// are replaced by the set the dump lists (an empty set revokes them all); tokens
    /// issued by a login here stay.
    ///
    /// A username or e-mail address that another user holds in the store moves to the
    /// user written, in the order a database with unique usernames and addresses allows:
    /// the old holder gives it up first (a username is replaced by a placeholder until
    /// that user's own document is loaded), so loading a newer dump never stops on a
    /// value that changed hands. Returns the moves made.
    ///
    /// Errors: `Unexpected` only.
    fn upsert_users(&self, users: &[WorkspaceUser]) -> Result<Vec<Moved>, StoreError>;
    /// Inserts or replaces rooms. Errors: `Unexpected` only.
    fn upsert_rooms(&self, rooms: &[Room]) -> Result<(), StoreError>;
    /// Inserts or replaces subscriptions (unique per user and room). Errors: `Unexpected` only.
    fn upsert_subscriptions(&self, subscriptions: &[Subscription]) -> Result<(), StoreError>;
    /// Inserts or replaces messages. Errors: `Unexpected` only.
    fn upsert_messages(&self, messages: &[Message]) -> Result<(), StoreError>;
    /// Inserts or replaces uploads; one written without a blob key keeps the key it
    /// had. Errors: `Unexpected` only.
    fn upsert_uploads(&self, uploads: &[Upload]) -> Result<(), StoreError>;
    /// Inserts or replaces avatars; one written without a blob key keeps the key it
    /// had. Errors: `Unexpected` only.
    fn upsert_avatars(&self, avatars: &[Avatar]) -> Result<(), StoreError>;
    /// Starts loading many messages at once (an import's, the demo's). A store that
    /// holds no message may then put off what finds messages by id (its index on the
    /// id) until [`finish_message_load`](Self::finish_message_load), and answers `true`:
    /// until then every message written is taken as new, a message written twice under
    /// one id and another room or time is kept twice, and the caller asks neither
    /// [`versions`](Self::versions) nor [`delete_documents`](Self::delete_documents)
    /// about messages. `false`: nothing changed, write as usual (the default).
    ///
    /// A load that was left unfinished (its process killed) is finished here first, so
    /// the store is whole again whatever the answer.
    ///
    /// Errors: `Unexpected` only.
    fn start_message_load(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Finishes a load that [`start_message_load`](Self::start_message_load) began
    /// with `true`: builds what it put off. Of a message id written more than once, the
    /// newest version (latest `_updatedAt`) is kept; returns how many copies were
    /// dropped so. Does nothing when no load is unfinished.
    ///
    /// Errors: `Unexpected` only.
    fn finish_message_load(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Whether the workspace holds no user at all.
    ///
    /// Errors: `Unexpected` only.
    fn is_empty(&self) -> Result<bool, StoreError>;

    /// The stored version of each of `ids` in `collection` that the store holds (ids it
    /// does not hold are absent from the map); empty for [`Collection::Trash`].
    ///
    /// Errors: `Unexpected` only.
    fn versions(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<HashMap<String, StoredVersion>, StoreError>;

    /// What [`versions`](Self::versions) answers for [`Collection::Messages`] and the ids
    /// of `messages`; given the messages themselves, a store may find most where they
    /// sit (by room and time) rather than by id (the default asks `versions`).
    ///
    /// Errors: `Unexpected` only.
    fn message_versions(
        &self,
        messages: &[Message],
    ) -> Result<HashMap<String, StoredVersion>, StoreError> {
        let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        self.versions(Collection::Messages, &ids)
    }

    /// Deletes, in one transaction, each document of `deletions` that the store holds in
    /// a version not newer than the deletion (`updated_at <= deleted_at`: a document
    /// Rocket.Chat wrote again after deleting it stays). A room takes its messages and
    /// subscriptions with it; a user their e-mail addresses, login tokens and second
    /// factors. Blobs are not touched: their keys are returned for the caller to
    /// delete once the transaction is committed.
    ///
    /// Errors: `Unexpected` only.
    fn delete_documents(&self, deletions: &[Deletion]) -> Result<Removed, StoreError>;

    /// For each collection, the newest `_updatedAt` (for [`Collection::Trash`], the
    /// newest `_deletedAt`) applied by an import so far; collections never imported are
    /// absent.
    ///
    /// Errors: `Unexpected` only.
    fn sync_marks(&self) -> Result<Vec<(Collection, DateTime<Utc>)>, StoreError>;

    /// Raises each collection's mark to the date given, keeping a newer stored one.
    ///
    /// Errors: `Unexpected` only.
    fn advance_sync_marks(&self, marks: &[(Collection, DateTime<Utc>)]) -> Result<(), StoreError>;
}

/// What the store holds of a document, to tell a changed one from an unchanged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredVersion {
    /// Its `_updatedAt`.
    pub updated_at: DateTime<Utc>,
    /// An upload or avatar stored without its bytes (always `false` for other
    /// documents): loading it again may bring them.
    pub missing_blob: bool,
}

/// A document Rocket.Chat deleted: a record of its `rocketchat__trash` collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The collection it was deleted from (`__collection__`).
    pub collection: Collection,
    /// Its `_id`.
    pub id: String,
    /// `_deletedAt`.
    pub deleted_at: DateTime<Utc>,
}

/// What [`WorkspaceWriter::delete_documents`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// The documents deleted, each with its collection; a deletion of a document the
    /// store did not hold (or held in a newer version) is not listed.
    pub documents: Vec<(Collection, String)>,
    /// Messages deleted along with their rooms.
    pub messages_of_rooms: u64,
    /// Subscriptions deleted along with their rooms.
    pub subscriptions_of_rooms: u64,
    /// The blob keys of the uploads and avatars deleted.
    pub blobs: Vec<String>,
}

/// Which kind of file a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A message upload.
    Upload,
    /// A user avatar.
    Avatar,
}

/// Where upload and avatar bytes are kept.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait BlobStore: Send + Sync {
    /// Stores the bytes of `content` as the blob of document `id`, replacing any earlier
    /// one, and returns its key. A half-written blob is never left under the key.
    ///
    /// Errors: I/O failures; an `id` that is not a plain name.
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String>;

    /// Opens the blob stored under `key`; `Ok(None)` when it is gone.
    ///
    /// Errors: I/O failures other than absence.
    fn open(&self, key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>>;

    /// Makes every blob stored so far durable, in one go (called once at the end of a
    /// bulk load rather than once per blob).
    ///
    /// Errors: I/O failures.
    fn sync(&self) -> anyhow::Result<()>;

    /// Size and lowercase hex SHA-256 of the blob under `key`; `Ok(None)` when it is gone.
    ///
    /// Errors: I/O failures other than absence.
    fn describe(&self, key: &str) -> anyhow::Result<Option<(u64, String)>>;

    /// Deletes the blob under `key`; a blob already gone is not an error.
    ///
    /// Errors: I/O failures.
    fn delete(&self, key: &str) -> anyhow::Result<()>;
}

pub use crate::dump::{
    Collection, Document, DumpEntry, DumpLocation, NoProgress, Progress, WorkspaceDump,
};

/// A thread as the store counts it for an export: its replies sent up to the cutoff,
/// and the first of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadReplies {
    /// The parent's id.
    pub parent: String,
    /// How many replies.
    pub replies: u64,
    /// The first reply's place in (`ts`, `id`) order.
    pub first: MessageCursor,
}

/// The lookups an export makes for every batch of a room's messages: the threads its
/// messages start and the uploads they carry. They are answered from one view of the
/// store, renewed every fraction of a second rather than for every batch: a store
/// whose connections drop their cache whenever the database changes (SQLite's do, and
/// the export itself commits a batch every few milliseconds) would otherwise read the
/// same index pages again for each batch. An answer may therefore miss a reply that
/// arrived in the last fraction of a second; an upload it does not find is looked for
/// again in the store as it is now.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait BatchLookups: Send {
    /// The threads those of `parents` (messages of `room_id`, by their keys) start: each
    /// parent's replies (`tmid`) in the room sent at or before `cutoff`, counted, and the
    /// first of them, ordered by parent id. Parents without such replies are left out.
    /// Parents close together in time are answered by reading close together: a store
    /// may keep replies by their parent's time.
    ///
    /// Errors: `Unexpected` only.
    fn threads_started(
        &mut self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        parents: &[MessageCursor],
    ) -> Result<Vec<ThreadReplies>, StoreError>;

    /// An upload's metadata.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn upload(&mut self, id: &UploadId) -> Result<Upload, StoreError>;

    /// Called after each batch: a view older than its renewal period is let go, so that
    /// a stretch of batches that look nothing up holds nothing open.
    ///
    /// Errors: `Unexpected` only.
    fn batch_done(&mut self) -> Result<(), StoreError>;
}

/// The read side of the workspace, for exports.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WorkspaceReader: Send + Sync {
    /// The user's subscriptions, oldest first.
    ///
    /// Errors: `Unexpected` only.
    fn subscriptions_of(&self, user_id: &UserId) -> Result<Vec<Subscription>, StoreError>;

    /// A room.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn room(&self, id: &RoomId) -> Result<Room, StoreError>;

    /// Up to `limit` messages of `room_id` sent at or before `cutoff`, strictly after
    /// `after` in (`ts`, `id`) order (from the start when `None`), oldest first.
    ///
    /// Errors: `Unexpected` only.
    fn messages_page(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// How many messages of `room_id` were sent at or before `cutoff`.
    ///
    /// Errors: `Unexpected` only.
    fn count_messages(&self, room_id: &RoomId, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The places (`ts`, `id`) of those of `ids` that are messages of `room_id` sent at
    /// or before `cutoff`, in any order; the others are left out. Pages link to them.
    ///
    /// Errors: `Unexpected` only.
    fn message_keys(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        ids: &[String],
    ) -> Result<Vec<MessageCursor>, StoreError>;

    /// A session for the lookups an export makes batch after batch of its messages
    /// stage (see [`BatchLookups`]); it holds one connection until dropped.
    ///
    /// Errors: `Unexpected` only.
    fn batch_lookups(&self) -> Result<Box<dyn BatchLookups>, StoreError>;

    /// Records in `linked`, for the messages of the rooms `room_ids` sent at or before
    /// `cutoff`, the parent id (`tmid`) of every reply (which messages start threads)
    /// and the id of every message a quote names (`message_link`): which messages a
    /// link may point at, read in constant memory.
    ///
    /// Errors: `Unexpected` only.
    fn linked_messages(
        &self,
        room_ids: &[RoomId],
        cutoff: DateTime<Utc>,
        linked: &mut LinkedMessages,
    ) -> Result<(), StoreError>;

    /// How many messages of `room_id` sent at or before `cutoff` lie strictly between
    /// `after` and `before` in (`ts`, `id`) order: how far ahead a later message's page
    /// is. Costs in proportion to that distance, not to the room.
    ///
    /// Errors: `Unexpected` only.
    fn count_between(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        after: &MessageCursor,
        before: &MessageCursor,
    ) -> Result<u64, StoreError>;

    /// An upload's metadata.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn upload(&self, id: &UploadId) -> Result<Upload, StoreError>;

    /// The newest avatar of `username`, if any.
    ///
    /// Errors: `Unexpected` only.
    fn avatar_of(&self, username: &str) -> Result<Option<Avatar>, StoreError>;

    /// How many uploads and avatars keep their bytes under a blob key starting with
    /// `prefix`, and the least such key: which stores the workspace needs, and one blob
    /// to try in each.
    ///
    /// Errors: `Unexpected` only.
    fn blobs_under(&self, prefix: &str) -> Result<(u64, Option<String>), StoreError>;
}
