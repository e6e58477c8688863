//! mongodump files: a stream of BSON documents, each prefixed by its length, read one
//! at a time into a reused buffer; and BSON values turned into the plain JSON the
//! mongoexport path produces, so that both forms share every later step.

use std::io::{self, Read};

use bson::raw::{ErrorKind, RawBsonRef, RawDocument};
use bson::Bson;
use serde_json::{Map, Number, Value};
use udd_domain::time::{from_millis, iso_millis};

use super::extjson;
use super::stream::Stream;
use super::{Emit, Item, Pos, RawDoc};

/// The largest document accepted: MongoDB's 16 MiB limit plus the 16 KiB it allows
/// internally (oplog entries, mongodump's own headers).
pub(crate) const MAX_DOCUMENT: u32 = 16 * 1024 * 1024 + 16 * 1024;

/// The smallest BSON document: a length and a terminating NUL.
const MIN_DOCUMENT: u32 = 5;

/// The archive format's end-of-block marker, read where a length would be.
pub(crate) const TERMINATOR: u32 = 0xffff_ffff;

/// What the next four bytes and what follows them turned out to be.
pub(crate) enum Frame {
    /// A document, now in the buffer.
    Document,
    /// The archive terminator.
    Terminator,
    /// The end of the stream, between two documents.
    End,
}

/// Reads length-prefixed documents, keeping the offset of each one's first byte.
pub(crate) struct Framer {
    pub(crate) stream: Stream,
    /// Offset of the next unread byte (in the decompressed stream).
    pub(crate) offset: u64,
    /// Offset where the last document or terminator started.
    pub(crate) start: u64,
    buffer: Vec<u8>,
}

impl Framer {
    pub(crate) fn new(stream: Stream) -> Self {
        Self {
            stream,
            offset: 0,
            start: 0,
            buffer: Vec::with_capacity(64 * 1024),
        }
    }

    /// The document the last `Frame::Document` put in the buffer. `next` checked its
    /// length prefix and final NUL, which is all `from_bytes` checks, so this only fails
    /// when there was no such frame.
    pub(crate) fn document(&self) -> Result<&RawDocument, String> {
        RawDocument::from_bytes(&self.buffer).map_err(|e| format!("invalid BSON: {e}"))
    }

    /// Reads up to four bytes, fewer only at the end of the stream.
    fn read_prefix(&mut self) -> io::Result<(usize, [u8; 4])> {
        let mut prefix = [0_u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.stream.read(&mut prefix[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((got, prefix))
    }

    /// Reads the next length prefix and, for a document, the document itself (or, with
    /// `skip`, jumps over it). `Ok(Err(why))` is damage that the framing cannot get
    /// past: what follows cannot be trusted to start a document.
    ///
    /// Errors: genuine I/O failures.
    pub(crate) fn next(&mut self, skip: bool) -> io::Result<Result<Frame, String>> {
        self.start = self.offset;
        let (got, prefix) = self.read_prefix()?;
        self.offset += got as u64;
        match got {
            0 => return Ok(Ok(Frame::End)),
            4 => {}
            _ => {
                return Ok(Err(format!(
                    "the file ends after {got} byte(s) of a length prefix"
                )))
            }
        }
        let length = u32::from_le_bytes(prefix);
        if length == TERMINATOR {
            return Ok(Ok(Frame::Terminator));
        }
        if !(MIN_DOCUMENT..=MAX_DOCUMENT).contains(&length) {
            return Ok(Err(format!(
                "{} is not the length of a BSON document ({MIN_DOCUMENT} to {MAX_DOCUMENT} bytes)",
                length as i32
            )));
        }
        let rest = u64::from(length) - 4;
        if skip {
            let skipped = self.stream.skip(rest)?;
            self.offset += skipped;
            return Ok(if skipped < rest {
                Err(truncated(length, skipped))
            } else {
                Ok(Frame::Document)
            });
        }
        self.buffer.clear();
        self.buffer.extend_from_slice(&prefix);
        let read = (&mut self.stream)
            .take(rest)
            .read_to_end(&mut self.buffer)? as u64;
        self.offset += read;
        if read < rest {
            return Ok(Err(truncated(length, read)));
        }
        if self.buffer.last() != Some(&0) {
            return Ok(Err(format!(
                "the document's {length} bytes do not end with a NUL byte (a wrong length prefix?)"
            )));
        }
        Ok(Ok(Frame::Document))
    }

    /// The damage message at the current position: the gzip note when the stream was
    /// cut there, else `why`.
    pub(crate) fn damage(&self, why: String) -> String {
        match self.stream.damage() {
            Some(note) => super::json::cut_short(&note),
            None => format!("{why}; the rest of the file was not read"),
        }
    }
}

fn truncated(length: u32, got: u64) -> String {
    format!(
        "the document is cut short: its length prefix says {length} bytes, the file ends after {}",
        got + 4
    )
}

/// Reads every document of a `.bson` file (or `.bson.gz`) into `emit`. A document that
/// is framed correctly but not valid inside (bad UTF-8, a value overrunning it) is
/// reported and the next one read; broken framing ends the file.
pub(crate) fn read(stream: Stream, emit: &mut Emit<'_>) -> anyhow::Result<()> {
    let plain = stream.is_plain_file();
    let mut framer = Framer::new(stream);
    let mut number = 0_u64;
    loop {
        let frame = framer.next(false)?;
        number += 1;
        let at = Pos {
            number,
            byte: Some(framer.start),
        };
        match frame {
            Ok(Frame::End) => {
                if let Some(note) = framer.stream.damage() {
                    emit(Item::Malformed(at, super::json::cut_short(&note)))?;
                }
                return Ok(());
            }
            Ok(Frame::Terminator) => {
                return emit(Item::Malformed(
                    at,
                    framer
                        .damage("0xFFFFFFFF is not a document length (is this an archive?)".into()),
                ))
            }
            Ok(Frame::Document) => {
                let file_offset = plain.then_some(framer.start);
                match framer.document() {
                    Ok(doc) => emit(Item::Doc(RawDoc::Bson { doc, file_offset }, at))?,
                    Err(why) => emit(Item::Malformed(at, why))?,
                }
            }
            Err(why) => return emit(Item::Malformed(at, framer.damage(why))),
        }
    }
}

/// A document as plain JSON: what `extjson::relax` makes of mongoexport's output for
/// the same document (dates as ISO-8601 strings with milliseconds, numbers as numbers,
/// object ids as hex strings).
///
/// Errors: the document's inside is not valid BSON (bad UTF-8, a value overrunning
/// it); the message names the field.
pub(crate) fn to_plain(doc: &RawDocument) -> Result<Value, String> {
    document(doc, "")
}

/// One value as plain JSON, as in [`to_plain`].
pub(crate) fn value_to_plain(value: RawBsonRef<'_>) -> Result<Value, String> {
    plain(value, "")
}

fn describe(error: &bson::raw::Error, path: &str) -> String {
    let what = match &error.kind {
        ErrorKind::Utf8EncodingError(e) => format!("invalid UTF-8 ({e})"),
        ErrorKind::MalformedValue { message, .. } => format!("invalid BSON ({message})"),
        _ => format!("invalid BSON ({error})"),
    };
    if path.is_empty() {
        what
    } else {
        format!("{what} in `{path}`")
    }
}

fn document(doc: &RawDocument, path: &str) -> Result<Value, String> {
    let mut map = Map::new();
    for element in doc.iter_elements() {
        let element = element.map_err(|e| describe(&e, path))?;
        let key = element.key();
        let inner = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        let value = element.value().map_err(|e| describe(&e, &inner))?;
        map.insert(key.to_owned(), plain(value, &inner)?);
    }
    Ok(Value::Object(map))
}

fn plain(value: RawBsonRef<'_>, path: &str) -> Result<Value, String> {
    Ok(match value {
        RawBsonRef::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        RawBsonRef::String(s) | RawBsonRef::Symbol(s) => Value::String(s.to_owned()),
        RawBsonRef::Document(doc) => document(doc, path)?,
        RawBsonRef::Array(array) => Value::Array(
            array
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let inner = format!("{path}.{i}");
                    item.map_err(|e| describe(&e, &inner))
                        .and_then(|item| plain(item, &inner))
                })
                .collect::<Result<_, _>>()?,
        ),
        RawBsonRef::Boolean(b) => Value::Bool(b),
        RawBsonRef::Null | RawBsonRef::Undefined => Value::Null,
        RawBsonRef::Int32(n) => Value::from(n),
        RawBsonRef::Int64(n) => Value::from(n),
        RawBsonRef::ObjectId(id) => Value::String(id.to_hex()),
        RawBsonRef::DateTime(at) => Value::String(iso_millis(from_millis(at.timestamp_millis()))),
        // The rare types take the long way, through the relaxed Extended JSON that
        // mongoexport would have written, so both forms agree on them too.
        other => match Bson::try_from(other.to_raw_bson()) {
            Ok(bson) => extjson::relax(bson.into_relaxed_extjson()),
            Err(e) => return Err(format!("invalid BSON ({e}) in `{path}`")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId, DateTime};
    use serde_json::json;

    fn bytes(doc: &bson::Document) -> Vec<u8> {
        bson::to_vec(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    fn plain_of(doc: &bson::Document) -> Value {
        let raw = bytes(doc);
        to_plain(RawDocument::from_bytes(&raw).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn bson_values_become_what_relaxing_mongoexport_json_gives() {
        let id = ObjectId::parse_str("5f1d7c3e9b1e8a3f4c2d1b0a").unwrap_or_else(|e| panic!("{e}"));
        let doc = doc! {
            "_id": id, "ts": DateTime::from_millis(1_709_283_952_431), "n": 3_i32,
            "big": 1_i64 << 40, "x": 1.5, "ok": true, "none": null,
            "deep": [{"at": DateTime::from_millis(0)}, "s"],
            "re": bson::Regex { pattern: "a+".into(), options: "i".into() },
        };
        let plain = plain_of(&doc);
        let relaxed = extjson::relax(Bson::Document(doc).into_relaxed_extjson());
        assert_eq!(plain, relaxed);
        assert_eq!(plain["_id"], "5f1d7c3e9b1e8a3f4c2d1b0a");
        assert_eq!(plain["ts"], "2024-03-01T09:05:52.431Z");
        assert_eq!(plain["deep"][0]["at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(plain["big"], json!(1_i64 << 40));
        let keys: Vec<&String> = plain
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys[..3], ["_id", "ts", "n"], "field order is kept");
    }

    #[test]
    fn invalid_utf8_inside_a_document_is_named() {
        let mut raw = bytes(&doc! {"_id": "m1", "msg": "héllo"});
        let at = raw
            .windows(2)
            .position(|w| w == "é".as_bytes())
            .unwrap_or_else(|| panic!("é not found"));
        raw[at] = 0xff;
        let err =
            to_plain(RawDocument::from_bytes(&raw).unwrap_or_else(|e| panic!("{e}"))).unwrap_err();
        assert!(
            err.contains("invalid UTF-8") && err.contains("`msg`"),
            "{err}"
        );
    }
}
