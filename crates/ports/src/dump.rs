//! Rocket.Chat workspace dumps as the import reads them: the collections, the documents
//! mapped to the model, where in a file each was found, and how a load reports progress.

use std::io::Read;

use udd_domain::{Avatar, Message, Room, Subscription, Upload};

use crate::workspace::{BlobKind, Deletion, WorkspaceUser};

/// The collections of a Rocket.Chat workspace, in the order they are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `users.json`
    Users,
    /// `rocketchat_room.json`
    Rooms,
    /// `rocketchat_subscription.json`
    Subscriptions,
    /// `rocketchat_uploads.json`
    Uploads,
    /// `rocketchat_avatars.json`
    Avatars,
    /// `rocketchat_message.json`
    Messages,
    /// `rocketchat__trash.json`: the documents Rocket.Chat deleted.
    Trash,
}

impl Collection {
    /// Every collection, in load order: messages after the rest (they are the bulk),
    /// then the deletions, which apply to all.
    pub const ALL: [Collection; 7] = [
        Self::Users,
        Self::Rooms,
        Self::Subscriptions,
        Self::Uploads,
        Self::Avatars,
        Self::Messages,
        Self::Trash,
    ];

    /// The short name used in summaries.
    pub fn label(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Rooms => "rooms",
            Self::Subscriptions => "subscriptions",
            Self::Uploads => "uploads",
            Self::Avatars => "avatars",
            Self::Messages => "messages",
            Self::Trash => "trash",
        }
    }

    /// The collection whose short name is `label`.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.label() == label)
    }
}

/// One document of a dump, already mapped to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// From `users.json`.
    User(WorkspaceUser),
    /// From `rocketchat_room.json`.
    Room(Room),
    /// From `rocketchat_subscription.json`.
    Subscription(Subscription),
    /// From `rocketchat_message.json`.
    Message(Message),
    /// From `rocketchat_uploads.json`; `blob` is not set yet.
    Upload(Upload),
    /// From `rocketchat_avatars.json`; `blob` is not set yet.
    Avatar(Avatar),
    /// From `rocketchat__trash.json`: a document of another collection was deleted.
    Deletion(Deletion),
}

/// Where in a dump file something was found: `users.json:12` in a text file,
/// `users.bson: document 12 at byte 3071` in a binary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpLocation {
    /// The file name (for an archive, the archive and the collection).
    pub file: String,
    /// The 1-based line of a text file, or the 1-based document number of a binary one.
    pub line: u64,
    /// In a binary file, the offset of the document's first byte (in the uncompressed
    /// stream when the file is gzipped); `None` in a text file.
    pub byte: Option<u64>,
}

impl DumpLocation {
    /// A line of a text file.
    pub fn line(file: impl Into<String>, line: u64) -> Self {
        Self {
            file: file.into(),
            line,
            byte: None,
        }
    }

    /// A document of a binary file, starting at `byte`.
    pub fn document(file: impl Into<String>, number: u64, byte: u64) -> Self {
        Self {
            file: file.into(),
            line: number,
            byte: Some(byte),
        }
    }
}

impl std::fmt::Display for DumpLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.byte {
            None => write!(f, "{}:{}", self.file, self.line),
            Some(byte) => write!(f, "{}: document {} at byte {byte}", self.file, self.line),
        }
    }
}

/// What reading a dump yields, one entry at a time.
// Entries are handed over one at a time and never stored in bulk, so the size of the
// document variant costs nothing worth a box per document.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DumpEntry {
    /// A usable document.
    Document(Document),
    /// A well-formed document that lacks a field the model requires, or whose file is
    /// damaged; skipped.
    Skipped {
        /// Where.
        at: DumpLocation,
        /// Which field was missing or wrong, or what is wrong with its file.
        reason: String,
    },
    /// A message Rocket.Chat keeps as an earlier version of an edited one (`_hidden`,
    /// with "keep history" on): never exported, so not loaded.
    Hidden {
        /// The copy's `_id`.
        id: String,
    },
    /// Not a document at all: not JSON, not BSON, or cut short.
    Malformed {
        /// Where.
        at: DumpLocation,
        /// The parser's message.
        error: String,
    },
}

/// A dump of a workspace, read collection by collection, streaming.
pub trait WorkspaceDump {
    /// Calls `visit` for every entry of `collection`, in file order, holding at most one
    /// document in memory; the second argument is the number of bytes read so far. A
    /// missing file is an empty collection. Damage that makes the rest of the file
    /// unreadable (a syntax error inside a JSON array, a broken BSON length, a gzip
    /// stream cut short) is reported as a last `Malformed` entry, after the documents
    /// that came before it.
    ///
    /// Errors: I/O failures, or an error returned by `visit`.
    fn read(
        &self,
        collection: Collection,
        visit: &mut dyn FnMut(DumpEntry, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;

    /// The size in bytes of the collection's file, for progress display.
    fn size(&self, collection: Collection) -> Option<u64>;

    /// Opens the blob of an upload or avatar document; `Ok(None)` when the dump has none.
    ///
    /// Errors: I/O failures other than absence.
    fn open_blob(&self, kind: BlobKind, id: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>>;
}

/// Shows how far a long task has got (a progress bar on a terminal, log lines elsewhere).
pub trait Progress: Send + Sync {
    /// Starts a phase of `total` units (`None` when unknown).
    fn start(&self, label: &str, total: Option<u64>);
    /// Sets the units done in the current phase.
    fn set(&self, done: u64);
    /// Ends the current phase with a one-line message.
    fn finish(&self, message: &str);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn set(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}
