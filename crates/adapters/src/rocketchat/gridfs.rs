//! Upload and avatar bytes kept in GridFS, Rocket.Chat's `GridFS:Uploads` and
//! `GridFS:Avatars` stores: the buckets `rocketchat_uploads` and `rocketchat_avatars`,
//! each a `<bucket>.files` collection (one document per file: `_id`, `length`,
//! `chunkSize`, sometimes `md5`) and a `<bucket>.chunks` collection (`files_id`, `n`,
//! `data`). Rocket.Chat writes each file under the `_id` of its upload or avatar
//! document (`openUploadStreamWithId(fileId, fileId, …)` in its `ufs-gridfs.ts`).
//!
//! The chunks are indexed in one pass, in whatever order the dump holds them: a chunk
//! of a plain file (`.bson`, a plain archive) is remembered by its offset in that
//! file; one that had to be decoded (gzipped BSON, Extended JSON's base64) is appended
//! to an anonymous temporary file. Memory holds only the index (a few dozen bytes per
//! chunk), never the bytes. A file is checked (every chunk present once, the sizes
//! adding up to `length`, the MD5 when given) before its document is accepted.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ::bson::raw::RawBsonRef;
use anyhow::Context;
use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::Value;
use udd_ports::DumpEntry;

use super::{bson, extjson, Item, RawDoc, Source};

/// Where a chunk's bytes are.
#[derive(Debug, Clone, Copy)]
enum At {
    /// In the temporary file, at this offset.
    Spool(u64),
    /// In the dump file `sources[index]`, at this offset.
    Source(usize, u64),
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    n: i64,
    len: u32,
    at: At,
}

/// What a `.files` document says about a file.
#[derive(Debug, Default)]
struct FileInfo {
    length: Option<u64>,
    md5: Option<String>,
}

/// One GridFS bucket of a dump, indexed.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    name: String,
    files: HashMap<String, FileInfo>,
    chunks: HashMap<String, Vec<Chunk>>,
    sources: Arc<Vec<PathBuf>>,
    spool: Option<Arc<Mutex<File>>>,
    /// Bad `.files` and `.chunks` documents, to report once.
    problems: RefCell<Vec<DumpEntry>>,
}

/// The text of an id as the mapped documents carry it (object ids as hex).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

/// The bytes of an Extended JSON binary: `{"$binary": {"base64": …, "subType": …}}`
/// (v2) or `{"$binary": …, "$type": …}` (the legacy form of older mongoexport).
fn json_binary(value: &Value) -> Option<Vec<u8>> {
    let inner = &value["$binary"];
    let text = inner["base64"].as_str().or_else(|| inner.as_str())?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A chunk document, decoded.
struct ChunkDoc<'a> {
    files_id: String,
    n: i64,
    data: Data<'a>,
}

enum Data<'a> {
    /// Bytes inside the dump file, at this offset.
    InFile(u64, u32),
    /// Bytes decoded in memory (one chunk: 255 KiB by default).
    Decoded(std::borrow::Cow<'a, [u8]>),
}

fn chunk_doc(raw: RawDoc<'_>) -> Result<ChunkDoc<'_>, String> {
    match raw {
        RawDoc::Json(value) => {
            let data = json_binary(&value["data"]).ok_or("no `data` in base64")?;
            let value = extjson::relax(value);
            Ok(ChunkDoc {
                files_id: id_text(&value["files_id"]).ok_or("no `files_id`")?,
                n: number(&value["n"]).ok_or("no `n`")?,
                data: Data::Decoded(data.into()),
            })
        }
        RawDoc::JsonLine(_) => chunk_doc(raw.parsed()?),
        RawDoc::Bson { doc, file_offset } => {
            let field = |key: &str| -> Result<Value, String> {
                match doc.get(key) {
                    Ok(Some(value)) => bson::value_to_plain(value),
                    Ok(None) => Err(format!("no `{key}`")),
                    Err(e) => Err(format!("invalid BSON: {e}")),
                }
            };
            let files_id = id_text(&field("files_id")?)
                .ok_or("a `files_id` that is not a string or object id")?;
            let n = number(&field("n")?).ok_or("an `n` that is not a number")?;
            let binary = match doc.get("data") {
                Ok(Some(RawBsonRef::Binary(binary))) => binary,
                Ok(Some(_)) => return Err("`data` that is not binary".into()),
                Ok(None) => return Err("no `data`".into()),
                Err(e) => return Err(format!("invalid BSON ({e})")),
            };
            let data = match file_offset {
                Some(start) => {
                    // The offset of the bytes inside the document, from where the
                    // slice points into it.
                    let inside = binary.bytes.as_ptr() as usize - doc.as_bytes().as_ptr() as usize;
                    let len = u32::try_from(binary.bytes.len()).map_err(|_| "`data` too long")?;
                    Data::InFile(start + inside as u64, len)
                }
                None => Data::Decoded(binary.bytes.into()),
            };
            Ok(ChunkDoc { files_id, n, data })
        }
    }
}

impl Bucket {
    /// Indexes the bucket `name` (`rocketchat_uploads`) of `source`; empty when the
    /// dump holds neither of its collections.
    ///
    /// Errors: I/O failures (of the dump or of the temporary file).
    pub(crate) fn load(source: &Source, name: &str) -> anyhow::Result<Self> {
        let mut bucket = Bucket {
            name: name.to_owned(),
            ..Bucket::default()
        };
        let files = format!("{name}.files");
        let label = source.label(&files);
        let mut problems = Vec::new();
        source.read(&files, &mut |item, _| {
            match item {
                Item::Doc(raw, pos) => {
                    let at = pos.location(&label);
                    match raw.into_plain() {
                        Ok(doc) => match id_text(&doc["_id"]) {
                            Some(id) => {
                                let info = FileInfo {
                                    length: number(&doc["length"])
                                        .and_then(|n| u64::try_from(n).ok()),
                                    md5: doc["md5"].as_str().map(str::to_ascii_lowercase),
                                };
                                bucket.files.insert(id, info);
                            }
                            None => problems.push(DumpEntry::Skipped {
                                at,
                                reason: "a GridFS file without a usable `_id`".into(),
                            }),
                        },
                        Err(error) => problems.push(DumpEntry::Malformed { at, error }),
                    }
                }
                Item::Malformed(pos, error) => problems.push(DumpEntry::Malformed {
                    at: pos.location(&label),
                    error,
                }),
            }
            Ok(())
        })?;

        let chunks = format!("{name}.chunks");
        let label = source.label(&chunks);
        // Chunks of a plain file are read again from it, by offset.
        if let Some(path) = source.path_of(&chunks) {
            bucket.sources = Arc::new(vec![path]);
        }
        let source_index = (!bucket.sources.is_empty()).then_some(0);
        let mut spool: Option<(BufWriter<File>, u64)> = None;
        source.read(&chunks, &mut |item, _| {
            let parsed = match item {
                Item::Doc(raw, pos) => raw.parsed().map(|raw| (raw, pos)).map_err(|e| (pos, e)),
                Item::Malformed(pos, error) => Err((pos, error)),
            };
            let (raw, pos) = match parsed {
                Ok(parsed) => parsed,
                Err((pos, error)) => {
                    problems.push(DumpEntry::Malformed {
                        at: pos.location(&label),
                        error,
                    });
                    return Ok(());
                }
            };
            let chunk = match chunk_doc(raw) {
                Ok(chunk) => chunk,
                Err(reason) => {
                    problems.push(DumpEntry::Skipped {
                        at: pos.location(&label),
                        reason: format!("a GridFS chunk with {reason}"),
                    });
                    return Ok(());
                }
            };
            let (len, at) = match (chunk.data, source_index) {
                (Data::InFile(offset, len), Some(index)) => (len, At::Source(index, offset)),
                (Data::InFile(..), None) => {
                    anyhow::bail!("a chunk in a file that cannot be read again")
                }
                (Data::Decoded(bytes), _) => {
                    if spool.is_none() {
                        let file = tempfile::tempfile()
                            .context("creating a temporary file for GridFS chunks")?;
                        spool = Some((BufWriter::with_capacity(1024 * 1024, file), 0));
                    }
                    let Some((writer, end)) = spool.as_mut() else {
                        unreachable!("the spool was just created")
                    };
                    writer
                        .write_all(&bytes)
                        .context("writing GridFS chunks to a temporary file")?;
                    let at = At::Spool(*end);
                    *end += bytes.len() as u64;
                    (u32::try_from(bytes.len()).unwrap_or(u32::MAX), at)
                }
            };
            bucket
                .chunks
                .entry(chunk.files_id)
                .or_default()
                .push(Chunk {
                    n: chunk.n,
                    len,
                    at,
                });
            Ok(())
        })?;
        if let Some((writer, _)) = spool {
            let file = writer
                .into_inner()
                .map_err(|e| e.into_error())
                .context("writing GridFS chunks to a temporary file")?;
            bucket.spool = Some(Arc::new(Mutex::new(file)));
        }
        bucket.problems = RefCell::new(problems);
        Ok(bucket)
    }

    /// The bad `.files` and `.chunks` documents met while indexing; empty after the
    /// first call.
    pub(crate) fn take_problems(&self) -> Vec<DumpEntry> {
        std::mem::take(&mut self.problems.borrow_mut())
    }

    /// Whether the bucket holds anything for `id`.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.files.contains_key(id) || self.chunks.contains_key(id)
    }

    /// The chunks of `id` in order, after checking that none is missing or repeated
    /// and that they add up to the file's `length`.
    fn ordered(&self, id: &str) -> Result<Vec<Chunk>, String> {
        let mut chunks = self.chunks.get(id).cloned().unwrap_or_default();
        chunks.sort_by_key(|c| c.n);
        let info = self.files.get(id);
        for (expected, chunk) in chunks.iter().enumerate() {
            let expected = expected as i64;
            if chunk.n != expected {
                return Err(if chunk.n < expected {
                    format!("chunk {} appears more than once", chunk.n)
                } else {
                    format!(
                        "chunk {expected} is missing ({} chunk(s) present)",
                        chunks.len()
                    )
                });
            }
        }
        let total: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
        match info.and_then(|i| i.length) {
            Some(length) if length != total => Err(format!(
                "its chunks hold {total} bytes, its length is {length}{}",
                if total < length {
                    " (chunks missing at the end)"
                } else {
                    ""
                }
            )),
            None if info.is_some() => Err("its `.files` document has no `length`".into()),
            _ => Ok(chunks),
        }
    }

    /// Checks the file of `id`: `Err(reason)` when it cannot be used (a chunk missing
    /// or repeated, the wrong length, the wrong MD5).
    ///
    /// Errors of the outer result: I/O failures reading the chunks.
    pub(crate) fn check(&self, id: &str) -> anyhow::Result<Result<(), String>> {
        let chunks = match self.ordered(id) {
            Ok(chunks) => chunks,
            Err(reason) => return Ok(Err(self.unusable(reason))),
        };
        let Some(expected) = self.files.get(id).and_then(|i| i.md5.as_deref()) else {
            return Ok(Ok(()));
        };
        let mut md5 = Md5::new();
        io::copy(&mut self.reader(chunks), &mut md5)
            .with_context(|| format!("reading the GridFS chunks of {id}"))?;
        let actual = hex::encode(md5.finalize());
        Ok(if actual == expected {
            Ok(())
        } else {
            Err(self.unusable(format!("its MD5 is {expected}, its chunks give {actual}")))
        })
    }

    fn unusable(&self, reason: String) -> String {
        format!(
            "its file in GridFS ({}.chunks) is unusable: {reason}",
            self.name
        )
    }

    /// The bytes of `id`, read chunk by chunk; `None` when the bucket has no such file
    /// or it fails the checks of `check` (which has reported it).
    pub(crate) fn open(&self, id: &str) -> Option<ChunkReader> {
        self.ordered(id).ok().map(|chunks| self.reader(chunks))
    }

    fn reader(&self, chunks: Vec<Chunk>) -> ChunkReader {
        ChunkReader {
            chunks,
            next: 0,
            done: 0,
            sources: Arc::clone(&self.sources),
            open: None,
            spool: self.spool.clone(),
        }
    }
}

/// Reads a file's chunks in order.
pub(crate) struct ChunkReader {
    chunks: Vec<Chunk>,
    /// The chunk being read.
    next: usize,
    /// Bytes of it already read.
    done: u32,
    sources: Arc<Vec<PathBuf>>,
    /// The dump file last read from, by index.
    open: Option<(usize, File)>,
    spool: Option<Arc<Mutex<File>>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Past the chunks that are done (a chunk may hold nothing at all).
        let (chunk, left) = loop {
            let Some(chunk) = self.chunks.get(self.next).copied() else {
                return Ok(0);
            };
            let left = (chunk.len - self.done) as usize;
            if left > 0 {
                break (chunk, left);
            }
            self.next += 1;
            self.done = 0;
        };
        let want = left.min(buf.len());
        let read = match chunk.at {
            At::Spool(offset) => {
                let spool = self
                    .spool
                    .as_ref()
                    .ok_or_else(|| io::Error::other("GridFS chunk spool missing"))?;
                let mut file = spool
                    .lock()
                    .map_err(|_| io::Error::other("GridFS chunk spool poisoned"))?;
                file.seek(SeekFrom::Start(offset + u64::from(self.done)))?;
                file.read(&mut buf[..want])?
            }
            At::Source(index, offset) => {
                if self.open.as_ref().is_none_or(|(open, _)| *open != index) {
                    let path = self
                        .sources
                        .get(index)
                        .ok_or_else(|| io::Error::other("GridFS chunk source missing"))?;
                    self.open = Some((index, File::open(path)?));
                }
                let Some((_, file)) = self.open.as_mut() else {
                    unreachable!("opened above")
                };
                file.seek(SeekFrom::Start(offset + u64::from(self.done)))?;
                file.read(&mut buf[..want])?
            }
        };
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a GridFS chunk ends early: the dump changed while it was read",
            ));
        }
        self.done += read as u32;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extended_json_binaries_decode_in_both_forms() {
        let v2 = json!({"$binary": {"base64": "aGVsbG8=", "subType": "00"}});
        let legacy = json!({"$binary": "aGVsbG8=", "$type": "00"});
        assert_eq!(json_binary(&v2).as_deref(), Some(&b"hello"[..]));
        assert_eq!(json_binary(&legacy).as_deref(), Some(&b"hello"[..]));
        assert_eq!(json_binary(&json!({"$binary": {"base64": "!!"}})), None);
        assert_eq!(json_binary(&json!("aGVsbG8=")), None);
    }

    #[test]
    fn a_reader_passes_over_empty_chunks_and_reads_the_rest_in_order() -> anyhow::Result<()> {
        let mut spool = tempfile::tempfile()?;
        spool.write_all(b"worldhello ")?;
        let chunk = |n, len, offset| Chunk {
            n,
            len,
            at: At::Spool(offset),
        };
        let mut bucket = Bucket {
            spool: Some(Arc::new(Mutex::new(spool))),
            ..Bucket::default()
        };
        bucket.chunks.insert(
            "f".into(),
            vec![
                chunk(2, 5, 0),
                chunk(0, 6, 5),
                chunk(1, 0, 0),
                chunk(3, 0, 0),
            ],
        );
        let mut text = String::new();
        bucket
            .open("f")
            .ok_or_else(|| anyhow::anyhow!("unusable"))?
            .read_to_string(&mut text)?;
        assert_eq!(text, "hello world");
        Ok(())
    }
}
