//! `mongodump --archive` files, plain or gzipped (`--gzip`).
//!
//! The format (mongo-tools' `common/archive`): the magic number 0x8199e26d
//! (little-endian), a prelude (a header document, one metadata document per
//! collection, a terminator 0xFFFFFFFF), then blocks. A block is a namespace header
//! document (`db`, `collection`, `EOF`, `CRC`) followed by that collection's documents
//! and a terminator; collections dumped in parallel interleave their blocks, and each
//! collection ends with a header whose `EOF` is true followed at once by a terminator.
//!
//! A collection is read in one pass over the archive that keeps its blocks and skips
//! the others (a seek in a plain archive; a gzipped one is decompressed again for each
//! collection), and stops at its `EOF` header.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use bson::raw::RawDocument;

use super::bson::{Frame, Framer};
use super::stream::Stream;
use super::{Item, Pos, RawDoc, Visit, COLLECTION_NAMES};

/// The archive's first four bytes, little-endian.
pub(crate) const MAGIC: u32 = 0x8199_e26d;

/// An archive, its Rocket.Chat database chosen.
#[derive(Debug)]
pub(crate) struct Archive {
    path: PathBuf,
    db: String,
    /// The collections of `db` its prelude lists.
    collections: Vec<String>,
    /// Offsets of damage already reported: every pass that reaches it stops there, and
    /// it is reported by the first one only.
    reported: Mutex<HashSet<u64>>,
}

/// Whether the file at `path` is an archive (plain or gzipped).
pub(crate) fn is_archive(path: &Path) -> anyhow::Result<bool> {
    let Some(mut stream) = Stream::open(path, None)? else {
        return Ok(false);
    };
    let mut magic = Vec::with_capacity(4);
    (&mut stream)
        .take(4)
        .read_to_end(&mut magic)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(magic == MAGIC.to_le_bytes())
}

/// A namespace header: which collection the following documents belong to, or that
/// it has ended.
struct Header {
    db: String,
    collection: String,
    eof: bool,
}

fn header(doc: &RawDocument) -> Result<Header, String> {
    let text = |key: &str| {
        doc.get_str(key)
            .map(str::to_owned)
            .map_err(|e| format!("a namespace header without `{key}` ({e})"))
    };
    Ok(Header {
        db: text("db")?,
        collection: text("collection")?,
        eof: doc.get_bool("EOF").unwrap_or(false),
    })
}

/// Opens the archive and reads past its magic number and prelude; returns the framer
/// positioned at the first block and the (db, collection) pairs the prelude lists.
fn open_past_prelude(path: &Path) -> anyhow::Result<(Framer, Vec<(String, String)>)> {
    let not_archive = || format!("{} is not a mongodump archive", path.display());
    let mut stream =
        Stream::open(path, None)?.with_context(|| format!("{} not found", path.display()))?;
    let mut magic = [0_u8; 4];
    stream.read_exact(&mut magic).with_context(not_archive)?;
    anyhow::ensure!(u32::from_le_bytes(magic) == MAGIC, not_archive());
    let mut framer = Framer::new(stream);
    framer.offset = 4;
    let broken = |framer: &Framer, why: String| {
        anyhow::anyhow!(
            "{}: the archive's prelude is damaged at byte {}: {}",
            path.display(),
            framer.start,
            framer.damage(why)
        )
    };
    // The header document, then one metadata document per collection.
    let mut namespaces = Vec::new();
    let mut first = true;
    loop {
        match framer.next(false)? {
            Ok(Frame::Document) if first => first = false,
            Ok(Frame::Document) => {
                let doc = framer.document().map_err(|why| broken(&framer, why))?;
                if let (Ok(db), Ok(collection)) = (doc.get_str("db"), doc.get_str("collection")) {
                    namespaces.push((db.to_owned(), collection.to_owned()));
                }
            }
            Ok(Frame::Terminator) if !first => return Ok((framer, namespaces)),
            Ok(Frame::Terminator) => return Err(broken(&framer, "no header document".into())),
            Ok(Frame::End) => {
                return Err(broken(&framer, "the archive ends in its prelude".into()))
            }
            Err(why) => return Err(broken(&framer, why)),
        }
    }
}

impl Archive {
    /// Opens the archive at `path` and chooses its Rocket.Chat database: `db` when
    /// given, else the one database holding Rocket.Chat collections.
    pub(crate) fn open(path: &Path, db: Option<&str>) -> anyhow::Result<Self> {
        let (_, namespaces) = open_past_prelude(path)?;
        let mut candidates: Vec<&str> = Vec::new();
        for (name, collection) in &namespaces {
            if COLLECTION_NAMES.contains(&collection.as_str())
                && !candidates.contains(&name.as_str())
            {
                candidates.push(name);
            }
        }
        let db = match (db, candidates.as_slice()) {
            (Some(db), _) => {
                anyhow::ensure!(
                    namespaces.iter().any(|(name, _)| name == db),
                    "{} holds no database {db:?} (it holds {})",
                    path.display(),
                    list(namespaces.iter().map(|(name, _)| name.as_str()))
                );
                db.to_owned()
            }
            (None, [one]) => (*one).to_owned(),
            (None, []) => anyhow::bail!(
                "{} holds no Rocket.Chat collection (users, rocketchat_message, …); it holds {}",
                path.display(),
                list(namespaces.iter().map(|(db, c)| format!("{db}.{c}")))
            ),
            (None, several) => anyhow::bail!(
                "{} holds Rocket.Chat collections in several databases ({}): choose one with --db",
                path.display(),
                several.join(", ")
            ),
        };
        let collections = namespaces
            .into_iter()
            .filter(|(name, _)| *name == db)
            .map(|(_, collection)| collection)
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            db,
            collections,
            reported: Mutex::default(),
        })
    }

    /// The archive file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the prelude lists `collection`.
    pub(crate) fn has(&self, collection: &str) -> bool {
        self.collections.iter().any(|c| c == collection)
    }

    /// How a document of `collection` is located in problem lines.
    pub(crate) fn label(&self, collection: &str) -> String {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!("{name} ({}.{collection})", self.db)
    }

    /// Reads every document of `collection` into `emit`, with the archive bytes read
    /// so far.
    pub(crate) fn read(&self, collection: &str, emit: &mut Visit<'_>) -> anyhow::Result<()> {
        if !self.has(collection) {
            return Ok(());
        }
        let (mut framer, _) = open_past_prelude(&self.path)?;
        let plain = framer.stream.is_plain_file();
        let mut number = 0_u64;
        loop {
            // A block: its namespace header…
            let head = match framer.next(false)? {
                Ok(Frame::Document) => match framer.document().and_then(header) {
                    Ok(head) => head,
                    Err(why) => return self.broken(&framer, number, emit, why),
                },
                Ok(Frame::End) => {
                    let why = format!(
                        "the archive ends before {}.{collection} does (no end-of-collection header): it was cut short",
                        self.db
                    );
                    return self.broken(&framer, number, emit, why);
                }
                Ok(Frame::Terminator) => {
                    let why = "a terminator where a namespace header belongs".to_owned();
                    return self.broken(&framer, number, emit, why);
                }
                Err(why) => return self.broken(&framer, number, emit, why),
            };
            let ours = head.db == self.db && head.collection == collection;
            if head.eof {
                match framer.next(false)? {
                    Ok(Frame::Terminator) if ours => return Ok(()),
                    Ok(Frame::Terminator) => continue,
                    Ok(_) => {
                        let why = "no terminator after an end-of-collection header".to_owned();
                        return self.broken(&framer, number, emit, why);
                    }
                    Err(why) => return self.broken(&framer, number, emit, why),
                }
            }
            // …then its documents up to the terminator.
            loop {
                match framer.next(!ours)? {
                    Ok(Frame::Terminator) => break,
                    Ok(Frame::Document) if !ours => {}
                    Ok(Frame::Document) => {
                        number += 1;
                        let at = Pos {
                            number,
                            byte: Some(framer.start),
                        };
                        let file_offset = plain.then_some(framer.start);
                        let bytes = framer.stream.bytes_read();
                        match framer.document() {
                            Ok(doc) => {
                                emit(Item::Doc(RawDoc::Bson { doc, file_offset }, at), bytes)?
                            }
                            Err(why) => emit(Item::Malformed(at, why), bytes)?,
                        }
                    }
                    Ok(Frame::End) => {
                        let why = format!(
                            "the archive ends inside a block of {}.{}",
                            head.db, head.collection
                        );
                        return self.broken(&framer, number, emit, why);
                    }
                    Err(why) => return self.broken(&framer, number, emit, why),
                }
            }
        }
    }

    /// Reports damage that ends the pass, unless an earlier pass reported it already.
    fn broken(
        &self,
        framer: &Framer,
        number: u64,
        emit: &mut Visit<'_>,
        why: String,
    ) -> anyhow::Result<()> {
        let first = self
            .reported
            .lock()
            .map_or(true, |mut reported| reported.insert(framer.start));
        if !first {
            return Ok(());
        }
        let at = Pos {
            number: number + 1,
            byte: Some(framer.start),
        };
        let why = framer
            .damage(why)
            .replace("the rest of the file", "the rest of the archive");
        emit(Item::Malformed(at, why), framer.stream.bytes_read())
    }
}

fn list<T: AsRef<str>>(items: impl Iterator<Item = T>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for item in items {
        let item = item.as_ref().to_owned();
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    if seen.is_empty() {
        "nothing".to_owned()
    } else {
        seen.join(", ")
    }
}
