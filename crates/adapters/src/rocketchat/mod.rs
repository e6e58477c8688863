//! Reading a Rocket.Chat workspace dumped with `mongoexport`: one file per collection
//! (JSON lines or one JSON array, relaxed or canonical Extended JSON) and the blobs of a
//! FileSystem store under `uploads/` and `avatars/`, named by document id with or
//! without an extension.

mod documents;
#[doc(hidden)] // Public for the fuzz targets in fuzz/; not an API.
pub mod extjson;

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Context;
use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;
use udd_ports::{BlobKind, Collection, DumpEntry, DumpLocation, WorkspaceDump};

/// A mongoexport dump in a folder.
#[derive(Debug)]
pub struct MongoExportDump {
    dir: PathBuf,
    uploads: HashMap<String, PathBuf>,
    avatars: HashMap<String, PathBuf>,
}

/// The file a collection is exported to.
fn file_name(collection: Collection) -> &'static str {
    match collection {
        Collection::Users => "users.json",
        Collection::Rooms => "rocketchat_room.json",
        Collection::Subscriptions => "rocketchat_subscription.json",
        Collection::Messages => "rocketchat_message.json",
        Collection::Uploads => "rocketchat_uploads.json",
        Collection::Avatars => "rocketchat_avatars.json",
    }
}

impl MongoExportDump {
    /// Opens the dump in `dir`, indexing its blob folders.
    pub fn open(dir: impl AsRef<Path>) -> anyhow::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
        let found = Collection::ALL
            .iter()
            .any(|c| dir.join(file_name(*c)).is_file());
        anyhow::ensure!(
            found,
            "{} holds none of users.json, rocketchat_room.json, rocketchat_message.json, …: is it a mongoexport dump?",
            dir.display()
        );
        Ok(Self {
            uploads: index_blobs(&dir.join("uploads"))?,
            avatars: index_blobs(&dir.join("avatars"))?,
            dir,
        })
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

impl WorkspaceDump for MongoExportDump {
    fn read(
        &self,
        collection: Collection,
        visit: &mut dyn FnMut(DumpEntry, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let name = file_name(collection);
        let path = self.dir.join(name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let bytes = Rc::new(Cell::new(0_u64));
        let mut reader = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: file,
                bytes: Rc::clone(&bytes),
            },
        );
        let mut emit = |raw: Raw| {
            let entry = match raw {
                Raw::Document(value, line) => {
                    match documents::map(collection, &extjson::relax(value)) {
                        Ok(document) => DumpEntry::Document(document),
                        Err(reason) => DumpEntry::Skipped {
                            at: DumpLocation {
                                file: name.to_owned(),
                                line,
                            },
                            reason,
                        },
                    }
                }
                Raw::Malformed(line, error) => DumpEntry::Malformed {
                    at: DumpLocation {
                        file: name.to_owned(),
                        line,
                    },
                    error,
                },
            };
            visit(entry, bytes.get())
        };
        let array = starts_with_array(&mut reader)
            .with_context(|| format!("reading {}", path.display()))?;
        let result = if array {
            read_array(reader, &mut emit)
        } else {
            read_lines(reader, &mut emit)
        };
        result.with_context(|| format!("reading {}", path.display()))
    }

    fn size(&self, collection: Collection) -> Option<u64> {
        std::fs::metadata(self.dir.join(file_name(collection)))
            .ok()
            .map(|m| m.len())
    }

    fn open_blob(&self, kind: BlobKind, id: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
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

/// What the file readers find, before mapping: a JSON value or a syntax error, each
/// with its 1-based line.
enum Raw {
    Document(Value, u64),
    Malformed(u64, String),
}

type Emit<'a> = dyn FnMut(Raw) -> anyhow::Result<()> + 'a;

/// Counts the bytes read from the file, for progress.
struct Counting<R> {
    inner: R,
    bytes: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// Whether the first non-blank byte is `[` (a JSON array rather than JSON lines).
fn starts_with_array(reader: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(false);
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => return Ok(buffer[i] == b'['),
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    }
}

/// One document per line; blank lines are ignored, a bad line is reported and the
/// next one read.
fn read_lines(mut reader: impl BufRead, emit: &mut Emit<'_>) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut number = 0_u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(value) => emit(Raw::Document(value, number))?,
            Err(error) => emit(Raw::Malformed(number, error.to_string()))?,
        }
    }
}

/// Tracks the line the JSON parser has reached inside an array, byte by byte as
/// serde_json consumes them.
struct LineCounting<R> {
    inner: R,
    line: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.line.set(self.line.get() + newlines);
        Ok(n)
    }
}

/// One JSON array, streamed element by element. A syntax error ends the file (nothing
/// after it can be trusted) and is reported as a last `Malformed` entry.
fn read_array(reader: impl BufRead, emit: &mut Emit<'_>) -> anyhow::Result<()> {
    let line = Rc::new(Cell::new(1_u64));
    // serde_json reads its input one byte at a time through `bytes()`, so the line
    // counter below is exact at each element's end.
    let counting = LineCounting {
        inner: reader,
        line: Rc::clone(&line),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counting);
    let mut stopped: Option<anyhow::Error> = None;
    let result = deserializer.deserialize_seq(ArrayVisitor {
        emit,
        line: &line,
        stopped: &mut stopped,
    });
    if let Some(err) = stopped {
        return Err(err);
    }
    match result.and_then(|()| deserializer.end()) {
        Ok(()) => Ok(()),
        Err(error) => emit(Raw::Malformed(
            error.line() as u64,
            format!("{error}; the rest of the file was not read"),
        )),
    }
}

struct ArrayVisitor<'a, 'b> {
    emit: &'a mut Emit<'b>,
    line: &'a Cell<u64>,
    stopped: &'a mut Option<anyhow::Error>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of documents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if let Err(err) = (self.emit)(Raw::Document(value, self.line.get())) {
                *self.stopped = Some(err);
                return Err(de::Error::custom("import stopped"));
            }
        }
        Ok(())
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
