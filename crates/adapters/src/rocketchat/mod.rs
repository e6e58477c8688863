//! Reading a Rocket.Chat workspace from a database dump, in any of the forms admins
//! have:
//!
//! - a folder of `mongoexport` files (`users.json`, `rocketchat_message.json`, …: JSON
//!   lines or one JSON array, relaxed or canonical Extended JSON), plain or gzipped;
//! - a folder of `mongodump` files (`users.bson`, …, or `.bson.gz` from `--gzip`), or
//!   mongodump's output folder holding one database folder of them;
//! - a `mongodump --archive` file, plain or gzipped;
//! - one collection of mongoexport JSON on standard input.
//!
//! Every form is decoded into plain JSON documents (BSON through [`bson`], Extended
//! JSON through [`extjson`]) and mapped by the same code ([`documents`]), so a
//! document is accepted or refused for the same reasons whatever the form.
//!
//! Upload and avatar bytes come from a FileSystem store's folders (`uploads/`,
//! `avatars/` next to the collection files, named by document id with or without an
//! extension) or from the GridFS buckets in the dump itself ([`gridfs`]).

mod ahead;
mod archive;
mod bson;
mod delta;
mod documents;
#[doc(hidden)] // Public for the fuzz targets in fuzz/; not an API.
pub mod extjson;
mod gridfs;
mod json;
mod message;
mod source;
mod stream;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ::bson::raw::RawDocument;
use anyhow::Context;
use serde_json::Value;
use udd_ports::{BlobKind, Collection, Document, DumpEntry, DumpLocation, WorkspaceDump};

use self::archive::Archive;
pub use self::delta::{delta_queries, DeltaQuery, DELTA_MARGIN};
pub(crate) use self::documents::emails as user_emails;
use self::documents::{Mapped, Refused};
use self::gridfs::Bucket;
use self::source::{Folder, Source, StandardInput};

/// The collections of a workspace's data, by their Rocket.Chat names: what a dump
/// holds besides the trash (and what tools making dumps write).
pub const DATA_COLLECTIONS: [&str; 6] = [
    "users",
    "rocketchat_room",
    "rocketchat_subscription",
    "rocketchat_message",
    "rocketchat_uploads",
    "rocketchat_avatars",
];

/// Where Rocket.Chat keeps deleted documents for a while.
pub const TRASH_COLLECTION: &str = "rocketchat__trash";

/// The collections a dump is read from: the data and the trash.
pub(crate) const COLLECTION_NAMES: [&str; 7] = {
    let mut names = [TRASH_COLLECTION; 7];
    let mut i = 0;
    while i < DATA_COLLECTIONS.len() {
        names[i] = DATA_COLLECTIONS[i];
        i += 1;
    }
    names
};

/// The files of the GridFS buckets of uploads and avatars, which a folder is searched
/// for beside the collections.
const GRIDFS_FILES: [&str; 4] = [
    "rocketchat_uploads.files",
    "rocketchat_uploads.chunks",
    "rocketchat_avatars.files",
    "rocketchat_avatars.chunks",
];

/// Whether `collection` names a file a folder is searched for: a collection, or a
/// GridFS bucket's files or chunks.
pub(crate) fn is_known_file(collection: &str) -> bool {
    COLLECTION_NAMES.contains(&collection) || GRIDFS_FILES.contains(&collection)
}

/// The Rocket.Chat name of a collection.
pub fn collection_name(collection: Collection) -> &'static str {
    match collection {
        Collection::Users => "users",
        Collection::Rooms => "rocketchat_room",
        Collection::Subscriptions => "rocketchat_subscription",
        Collection::Messages => "rocketchat_message",
        Collection::Uploads => "rocketchat_uploads",
        Collection::Avatars => "rocketchat_avatars",
        Collection::Trash => TRASH_COLLECTION,
    }
}

/// The GridFS bucket that holds the bytes of `kind`.
fn bucket_name(kind: BlobKind) -> &'static str {
    match kind {
        BlobKind::Upload => "rocketchat_uploads",
        BlobKind::Avatar => "rocketchat_avatars",
    }
}

/// Where a document was found in its file: a line (JSON) or a document number and
/// byte offset (BSON).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pos {
    pub(crate) number: u64,
    pub(crate) byte: Option<u64>,
}

impl Pos {
    pub(crate) fn location(self, file: &str) -> DumpLocation {
        match self.byte {
            None => DumpLocation::line(file, self.number),
            Some(byte) => DumpLocation::document(file, self.number, byte),
        }
    }
}

/// A document as its file holds it, before mapping.
pub(crate) enum RawDoc<'a> {
    /// A line of a mongoexport file, not parsed yet: messages are mapped straight from
    /// the text ([`message::from_json`]).
    JsonLine(&'a [u8]),
    /// A mongoexport document, still in Extended JSON.
    Json(Value),
    /// A mongodump document; `file_offset` is where it starts in its file when that
    /// file is plain (not gzipped), so that its bytes can be read again later.
    Bson {
        doc: &'a RawDocument,
        file_offset: Option<u64>,
    },
}

impl RawDoc<'_> {
    /// The document as plain JSON. Errors: the inside of a BSON document is invalid.
    pub(crate) fn into_plain(self) -> Result<Value, String> {
        match self {
            Self::JsonLine(text) => serde_json::from_slice(text)
                .map(extjson::relax)
                .map_err(|e| e.to_string()),
            Self::Json(value) => Ok(extjson::relax(value)),
            Self::Bson { doc, .. } => bson::to_plain(doc),
        }
    }

    /// The document with a mongoexport line parsed into Extended JSON. Errors: the line
    /// is not JSON.
    pub(crate) fn parsed(self) -> Result<Self, String> {
        match self {
            Self::JsonLine(text) => serde_json::from_slice(text)
                .map(Self::Json)
                .map_err(|e| e.to_string()),
            other => Ok(other),
        }
    }

    /// The document mapped as one of `collection`.
    fn map(self, collection: Collection) -> Result<Mapped, Refused> {
        match (self, collection) {
            (Self::JsonLine(text), Collection::Messages) => message::from_json(text),
            (raw, _) => {
                let value = raw.into_plain().map_err(Refused::Malformed)?;
                documents::map(collection, &value).map_err(Refused::Skipped)
            }
        }
    }
}

/// What the file readers find: a document, or something that is not one.
pub(crate) enum Item<'a> {
    Doc(RawDoc<'a>, Pos),
    Malformed(Pos, String),
}

/// Where a file reader hands its items.
pub(crate) type Emit<'a> = dyn FnMut(Item<'_>) -> anyhow::Result<()> + 'a;
/// Where a source hands its items, with the bytes read so far.
pub(crate) type Visit<'a> = dyn FnMut(Item<'_>, u64) -> anyhow::Result<()> + 'a;

/// A Rocket.Chat dump in any of the forms of this module.
#[derive(Debug)]
pub struct RocketChatDump {
    source: Source,
    uploads: HashMap<String, PathBuf>,
    avatars: HashMap<String, PathBuf>,
    /// GridFS buckets, indexed when first needed.
    buckets: RefCell<HashMap<BlobKind, Rc<Bucket>>>,
}

/// The name this reader had when it read mongoexport folders only.
pub type MongoExportDump = RocketChatDump;

impl RocketChatDump {
    /// Opens the dump at `path`: a folder of collection files, mongodump's output
    /// folder holding one database folder, or a mongodump archive.
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::open_database(path, None)
    }

    /// Opens the dump at `path` as [`open`](Self::open) does; `db` chooses the database
    /// of an archive or of mongodump's output folder holding several.
    pub fn open_database(path: impl AsRef<Path>, db: Option<&str>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        if path.is_file() {
            anyhow::ensure!(
                archive::is_archive(path)?,
                "{} is neither a folder nor a mongodump archive (mongodump --archive)",
                path.display()
            );
            return Self::with(Source::Archive(Archive::open(path, db)?), &[]);
        }
        anyhow::ensure!(
            path.is_dir(),
            "{} is not a folder or an archive file",
            path.display()
        );
        let folder = match (Folder::index(path)?, db) {
            (Some(_), Some(db)) => anyhow::bail!(
                "{} holds collection files itself: --db {db} chooses among database folders or in an archive",
                path.display()
            ),
            (Some(folder), None) => folder,
            (None, db) => database_folder(path, db)?,
        };
        // The blob folders may sit beside the collection files or, for mongodump's
        // output folder, beside the database folder.
        let mut blob_folders = vec![path];
        let dir = folder.dir().to_path_buf();
        if dir != path {
            blob_folders.push(&dir);
        }
        Self::with(Source::Folder(folder), &blob_folders)
    }

    /// One collection (its Rocket.Chat name: `users`, `rocketchat_message`, …) of
    /// mongoexport JSON, plain or gzipped, on standard input.
    pub fn stdin(collection: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            COLLECTION_NAMES.contains(&collection),
            "unknown collection {collection:?}: one of {}",
            COLLECTION_NAMES.join(", ")
        );
        Self::with(Source::Stdin(StandardInput::new(collection)), &[])
    }

    /// The dump reading `source`, with FileSystem blobs from the `uploads/` and
    /// `avatars/` folders of `blob_folders` (a later folder's file wins).
    fn with(source: Source, blob_folders: &[&Path]) -> anyhow::Result<Self> {
        let mut dump = Self {
            source,
            uploads: HashMap::new(),
            avatars: HashMap::new(),
            buckets: RefCell::default(),
        };
        for folder in blob_folders {
            dump.uploads.extend(index_blobs(&folder.join("uploads"))?);
            dump.avatars.extend(index_blobs(&folder.join("avatars"))?);
        }
        Ok(dump)
    }

    /// Which form the dump has, for the summary: `mongoexport folder`, `mongodump
    /// archive`, …
    pub fn form(&self) -> &'static str {
        match &self.source {
            Source::Folder(folder) if folder.has_bson() => "mongodump folder",
            Source::Folder(_) => "mongoexport folder",
            Source::Archive(_) => "mongodump archive",
            Source::Stdin(_) => "standard input",
        }
    }

    /// The GridFS bucket of `kind`, indexed on first use.
    fn bucket(&self, kind: BlobKind) -> anyhow::Result<Rc<Bucket>> {
        if let Some(bucket) = self.buckets.borrow().get(&kind) {
            return Ok(Rc::clone(bucket));
        }
        let bucket = Rc::new(Bucket::load(&self.source, bucket_name(kind))?);
        self.buckets.borrow_mut().insert(kind, Rc::clone(&bucket));
        Ok(bucket)
    }
}

/// The one database folder of mongodump's output folder (`dump/<db>/*.bson`), or the
/// one named `db`.
fn database_folder(path: &Path, db: Option<&str>) -> anyhow::Result<Folder> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", path.display()))?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if db.is_some_and(|db| db != name) {
            continue;
        }
        if let Some(folder) = Folder::index(&entry.path())? {
            found.push((name, folder));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    match (found.len(), db) {
        (1, _) => Ok(found.remove(0).1),
        (0, Some(db)) => anyhow::bail!(
            "{} holds no database folder {db} with Rocket.Chat collections",
            path.display()
        ),
        (0, None) => anyhow::bail!(
            "{} holds none of users.json, rocketchat_room.json, rocketchat_message.json, … \
             (mongoexport) or users.bson, rocketchat_message.bson, … (mongodump): is it a dump?",
            path.display()
        ),
        _ => anyhow::bail!(
            "{} holds several database folders with Rocket.Chat collections ({}): choose one with --db",
            path.display(),
            found.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Maps document id → blob file: `<id>` or `<id>.<extension>`.
fn index_blobs(folder: &Path) -> anyhow::Result<HashMap<String, PathBuf>> {
    let mut index = HashMap::new();
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(index),
        Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name
            .split_once('.')
            .map_or(name.as_str(), |(id, _)| id)
            .to_owned();
        // The bare `<id>` wins over `<id>.<ext>` when both exist: it is the newer form.
        if !name.contains('.') || !index.contains_key(&id) {
            index.insert(id, entry.path());
        }
    }
    Ok(index)
}

/// The id an upload's or avatar's bytes are stored under.
fn blob_of(document: &Document) -> Option<(BlobKind, &str)> {
    match document {
        Document::Upload(upload) => Some((BlobKind::Upload, &upload.id)),
        Document::Avatar(avatar) => Some((BlobKind::Avatar, &avatar.id)),
        _ => None,
    }
}

/// What an item of `collection`'s file (`label`) is to the workspace; `None` for a
/// document it does not hold. Uploads and avatars whose bytes `bucket` holds damaged
/// are skipped.
fn entry(
    collection: Collection,
    label: &str,
    item: Item<'_>,
    bucket: Option<&Bucket>,
) -> anyhow::Result<Option<DumpEntry>> {
    let (raw, pos) = match item {
        Item::Doc(raw, pos) => (raw, pos),
        Item::Malformed(pos, error) => {
            return Ok(Some(DumpEntry::Malformed {
                at: pos.location(label),
                error,
            }))
        }
    };
    let at = pos.location(label);
    Ok(Some(match raw.map(collection) {
        Err(Refused::Malformed(error)) => DumpEntry::Malformed { at, error },
        Err(Refused::Skipped(reason)) => DumpEntry::Skipped { at, reason },
        Ok(Mapped::Ignored) => return Ok(None),
        Ok(Mapped::Hidden(id)) => DumpEntry::Hidden { id },
        Ok(Mapped::Document(document)) => {
            let damaged = match (bucket, blob_of(&document)) {
                (Some(bucket), Some((_, id))) if bucket.holds(id) => bucket.check(id)?.err(),
                _ => None,
            };
            match damaged {
                Some(reason) => DumpEntry::Skipped { at, reason },
                None => DumpEntry::Document(document),
            }
        }
    }))
}

impl WorkspaceDump for RocketChatDump {
    fn read(
        &self,
        collection: Collection,
        visit: &mut dyn FnMut(DumpEntry, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let name = collection_name(collection);
        let label = self.source.label(name);
        let bucket = match collection {
            Collection::Uploads => self.bucket(BlobKind::Upload)?,
            Collection::Avatars => self.bucket(BlobKind::Avatar)?,
            // Mapped without the dump's own state: read ahead on a thread of its own.
            _ => {
                let map = |item: Item<'_>| entry(collection, &label, item, None);
                return ahead::read(&self.source, name, map, visit);
            }
        };
        for problem in bucket.take_problems() {
            visit(problem, 0)?;
        }
        self.source.read(name, &mut |item, bytes| match entry(
            collection,
            &label,
            item,
            Some(&bucket),
        )? {
            Some(entry) => visit(entry, bytes),
            None => Ok(()),
        })
    }

    fn size(&self, collection: Collection) -> Option<u64> {
        self.source.size(collection_name(collection))
    }

    fn open_blob(&self, kind: BlobKind, id: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        let bucket = self.bucket(kind)?;
        if bucket.holds(id) {
            return Ok(bucket
                .open(id)
                .map(|reader| Box::new(reader) as Box<dyn Read + Send>));
        }
        let index = match kind {
            BlobKind::Upload => &self.uploads,
            BlobKind::Avatar => &self.avatars,
        };
        let Some(path) = index.get(id) else {
            return Ok(None);
        };
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Some(Box::new(file)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_ports::Document;

    fn collect(dump: &MongoExportDump, collection: Collection) -> Vec<DumpEntry> {
        let mut entries = Vec::new();
        dump.read(collection, &mut |entry, _| {
            entries.push(entry);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
        entries
    }

    fn dump_with(file: &str, content: &str) -> (tempfile::TempDir, MongoExportDump) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join(file), content).unwrap_or_else(|e| panic!("{e}"));
        let dump = MongoExportDump::open(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
        (dir, dump)
    }

    const ROOM_A: &str =
        r#"{"_id":"A","t":"c","name":"a","ts":{"$date":"2024-01-01T00:00:00.000Z"}}"#;
    const ROOM_B: &str =
        r#"{"_id":"B","t":"d","uids":["u1","u2"],"ts":{"$date":{"$numberLong":"1704067200000"}}}"#;

    #[test]
    fn json_lines_and_a_json_array_give_the_same_documents() {
        let (_a, lines) = dump_with("rocketchat_room.json", &format!("{ROOM_A}\n\n{ROOM_B}\n"));
        let (_b, array) = dump_with(
            "rocketchat_room.json",
            &format!("[\n{ROOM_A},\n{ROOM_B}\n]\n"),
        );
        let from_lines = collect(&lines, Collection::Rooms);
        assert_eq!(from_lines.len(), 2);
        assert_eq!(from_lines, collect(&array, Collection::Rooms));
        let DumpEntry::Document(Document::Room(direct)) = &from_lines[1] else {
            panic!("{from_lines:?}")
        };
        assert_eq!(direct.member_ids, vec!["u1", "u2"]);
        assert_eq!(direct.created_at.timestamp_millis(), 1_704_067_200_000);
    }

    #[test]
    fn edits_and_reactions_arrive_from_a_mongoexport_line_and_from_bson() {
        let line = r#"{"_id":"m1","rid":"GENERAL","msg":"fixed","ts":{"$date":"2024-03-01T09:05:52.431Z"},"editedAt":{"$date":{"$numberLong":"1709287200000"}},"editedBy":{"_id":"u2","username":"bob"},"reactions":{":thumbsup:":{"usernames":["alice","bob"]},":tada:":{"usernames":["carol"]}},"_updatedAt":{"$date":"2024-03-01T10:00:00.001Z"}}"#;
        let (_j, from_json) = dump_with("rocketchat_message.json", line);
        let document = ::bson::doc! {
            "_id": "m1", "rid": "GENERAL", "msg": "fixed",
            "ts": ::bson::DateTime::from_millis(1_709_283_952_431),
            "editedAt": ::bson::DateTime::from_millis(1_709_287_200_000),
            "editedBy": {"_id": "u2", "username": "bob"},
            "reactions": {":thumbsup:": {"usernames": ["alice", "bob"]}, ":tada:": {"usernames": ["carol"]}},
            "_updatedAt": ::bson::DateTime::from_millis(1_709_287_200_001),
        };
        let bytes = ::bson::to_vec(&document).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("rocketchat_message.bson"), bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        let from_bson = MongoExportDump::open(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
        for (source, dump) in [("JSON", &from_json), ("BSON", &from_bson)] {
            let entries = collect(dump, Collection::Messages);
            let [DumpEntry::Document(Document::Message(m))] = entries.as_slice() else {
                panic!("{source}: {entries:?}")
            };
            assert_eq!(
                m.edited_at.map(|t| t.timestamp_millis()),
                Some(1_709_287_200_000),
                "{source}"
            );
            assert_eq!(m.edited_by.as_deref(), Some("bob"), "{source}");
            let reactions: Vec<(&str, usize)> = m
                .reactions
                .iter()
                .map(|r| (r.emoji.as_str(), r.usernames.len()))
                .collect();
            assert_eq!(reactions, [(":thumbsup:", 2), (":tada:", 1)], "{source}");
            assert_eq!(
                m.updated_at.timestamp_millis(),
                1_709_287_200_001,
                "{source}"
            );
        }
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_line_and_reading_goes_on() {
        let (_d, dump) = dump_with(
            "rocketchat_room.json",
            &format!("{ROOM_A}\n{{\"_id\": oops\n{ROOM_B}\n{{\"_id\":\"C\"}}\n"),
        );
        let entries = collect(&dump, Collection::Rooms);
        assert_eq!(entries.len(), 4);
        assert!(
            matches!(&entries[1], DumpEntry::Malformed { at, .. } if at.to_string() == "rocketchat_room.json:2")
        );
        assert!(matches!(&entries[2], DumpEntry::Document(_)));
        assert!(
            matches!(&entries[3], DumpEntry::Skipped { at, reason } if at.line == 4 && reason == "missing `t`")
        );
    }

    #[test]
    fn a_syntax_error_inside_an_array_ends_the_file_with_its_line_reported() {
        let (_d, dump) = dump_with(
            "rocketchat_room.json",
            &format!("[\n{ROOM_A},\n{{\"_id\": oops}},\n{ROOM_B}\n]"),
        );
        let entries = collect(&dump, Collection::Rooms);
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(
            matches!(&entries[1], DumpEntry::Malformed { at, error } if at.line == 3 && error.contains("rest of the file"))
        );
    }

    #[test]
    fn a_missing_collection_file_is_empty_and_a_folder_without_any_is_refused() {
        let (_d, dump) = dump_with("rocketchat_room.json", ROOM_A);
        assert!(collect(&dump, Collection::Messages).is_empty());
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = MongoExportDump::open(empty.path()).unwrap_err();
        assert!(err.to_string().contains("mongoexport"), "{err}");
    }

    #[test]
    fn blobs_are_found_with_or_without_an_extension() -> anyhow::Result<()> {
        let (dir, _) = dump_with("rocketchat_uploads.json", "");
        std::fs::create_dir(dir.path().join("uploads"))?;
        std::fs::write(dir.path().join("uploads/AAA.png"), b"png")?;
        std::fs::write(dir.path().join("uploads/BBB"), b"bare")?;
        let dump = MongoExportDump::open(dir.path())?;
        let mut content = String::new();
        dump.open_blob(BlobKind::Upload, "AAA")?
            .map(|mut r| r.read_to_string(&mut content));
        assert_eq!(content, "png");
        assert!(dump.open_blob(BlobKind::Upload, "BBB")?.is_some());
        assert!(dump.open_blob(BlobKind::Upload, "CCC")?.is_none());
        assert!(dump.open_blob(BlobKind::Avatar, "AAA")?.is_none());
        Ok(())
    }
}
