//! mongoexport files: JSON lines, or one JSON array streamed element by element.

use std::cell::Cell;
use std::io::{BufRead, Read};
use std::rc::Rc;

use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;

use super::stream::Damage;
use super::{Emit, Item, Pos, RawDoc};

/// Reads every document of a mongoexport file from `reader`. `damage` is the note a
/// gzip stream leaves when it stops early: the line it stopped in is reported with it
/// rather than as a JSON error.
pub(crate) fn read(
    mut reader: impl BufRead,
    damage: &Damage,
    emit: &mut Emit<'_>,
) -> anyhow::Result<()> {
    if starts_with_array(&mut reader)? {
        read_array(reader, damage, emit)
    } else {
        read_lines(reader, damage, emit)
    }
}

fn line(number: u64) -> Pos {
    Pos { number, byte: None }
}

/// The message for a gzip stream that stopped early.
pub(crate) fn cut_short(note: &str) -> String {
    format!("the gzip stream is damaged or cut short ({note}); the rest of the file was not read")
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

/// One document per line, handed over as text (parsed where it is mapped); blank lines
/// are ignored.
fn read_lines(
    mut reader: impl BufRead,
    damage: &Damage,
    emit: &mut Emit<'_>,
) -> anyhow::Result<()> {
    let mut text = Vec::with_capacity(4096);
    let mut number = 0_u64;
    loop {
        text.clear();
        let read = reader.read_until(b'\n', &mut text)?;
        if let Some(note) = damage.borrow().as_ref() {
            // The stream stopped inside this line (or right before it): whatever part
            // of it was decompressed is not a document to trust.
            return emit(Item::Malformed(line(number + 1), cut_short(note)));
        }
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        emit(Item::Doc(RawDoc::JsonLine(&text), line(number)))?;
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
fn read_array(reader: impl BufRead, damage: &Damage, emit: &mut Emit<'_>) -> anyhow::Result<()> {
    let line_now = Rc::new(Cell::new(1_u64));
    // serde_json reads its input one byte at a time through `bytes()`, so the line
    // counter below is exact at each element's end.
    let counting = LineCounting {
        inner: reader,
        line: Rc::clone(&line_now),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counting);
    let mut stopped: Option<anyhow::Error> = None;
    let result = deserializer.deserialize_seq(ArrayVisitor {
        emit,
        line: &line_now,
        stopped: &mut stopped,
    });
    if let Some(err) = stopped {
        return Err(err);
    }
    let result = result.and_then(|()| deserializer.end());
    if let Some(note) = damage.borrow().as_ref() {
        return emit(Item::Malformed(line(line_now.get()), cut_short(note)));
    }
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.is_io() => Err(error.into()),
        Err(error) => emit(Item::Malformed(
            line(error.line() as u64),
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
            if let Err(err) = (self.emit)(Item::Doc(RawDoc::Json(value), line(self.line.get()))) {
                *self.stopped = Some(err);
                return Err(de::Error::custom("import stopped"));
            }
        }
        Ok(())
    }
}
