//! How an entry is made ready for the archive: timestamps, deflating an upload on its
//! own (or storing it, when deflate cannot shrink it), and the parts that wait, in
//! memory or on disk, to be appended.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Datelike, Timelike, Utc};
use flate2::FlushCompress;

use super::chunks;
use super::zip_stream::{EntryHead, Method, ZipStream};

/// A zip timestamp for `at`.
pub(crate) fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    // Zip timestamps start in 1980 and have two-second resolution.
    let clamp = |v: u32| u8::try_from(v).unwrap_or(0);
    zip::DateTime::from_date_and_time(
        u16::try_from(at.year().clamp(1980, 2107)).unwrap_or(1980),
        clamp(at.month()),
        clamp(at.day()),
        clamp(at.hour()),
        clamp(at.minute()),
        clamp(at.second()),
    )
    .unwrap_or_default()
}

/// Uploads up to this size are made ready in memory; larger ones in a part file of
/// their own, so a thread never holds more than this of one upload.
pub(super) const IN_MEMORY_PART: u64 = 4 << 20;

/// Uploads made ready up to this size wait in memory for their turn; larger ones wait in
/// the pack on disk. With a bounded number of entries in flight, this bounds the
/// memory they take.
pub(super) const KEPT_IN_MEMORY: usize = 64 << 10;

/// What making an entry's data found: the CRC-32 and size of the raw bytes, how they
/// are kept and the size of what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoded {
    pub method: Method,
    pub crc: u32,
    pub size: u64,
    pub compressed: u64,
}

impl Encoded {
    /// `raw` kept as it is.
    fn stored(raw: &[u8]) -> Self {
        Self {
            method: Method::Stored,
            crc: crc32fast::hash(raw),
            size: raw.len() as u64,
            compressed: raw.len() as u64,
        }
    }
}

/// Deflates all of `input` (at [`chunks::LEVEL`], as the working-folder chunks are)
/// into `output`; returns what was found and `output`.
pub(crate) fn deflate<W: Write>(
    input: &mut dyn Read,
    mut output: W,
) -> anyhow::Result<(Encoded, W)> {
    // Read into a buffer on the stack: an export deflates tens of thousands of small
    // uploads, and a heap buffer each cost an allocation and its clearing every time.
    let mut raw = [0_u8; 32 << 10];
    let mut read = Checked::new(input);
    let mut out = Vec::new();
    let mut compressed = 0;
    chunks::with_deflate(|deflate| -> anyhow::Result<()> {
        loop {
            // Whole buffers only: how deflate is fed changes its output, and a stream
            // hands out its bytes in pieces of any size (a network read), which would
            // make the same upload deflate to other bytes in a resumed export.
            let n = fill(&mut read, &mut raw)?;
            let flush = if n < raw.len() {
                FlushCompress::Finish
            } else {
                FlushCompress::None
            };
            chunks::deflate_into(deflate, &raw[..n], flush, &mut out)?;
            output.write_all(&out)?;
            compressed += out.len() as u64;
            out.clear();
            if n < raw.len() {
                return Ok(());
            }
        }
    })?;
    let deflated = Encoded {
        method: Method::Deflated,
        crc: read.crc.finalize(),
        size: read.size,
        compressed,
    };
    Ok((deflated, output))
}

/// Reads into `buffer` until it is full or `input` ends; returns how much it read.
fn fill(input: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Copies all of `input` into `output` as it is; returns what was found and `output`.
fn store<W: Write>(input: &mut dyn Read, mut output: W) -> anyhow::Result<(Encoded, W)> {
    let mut read = Checked::new(input);
    std::io::copy(&mut read, &mut output)?;
    let stored = Encoded {
        method: Method::Stored,
        crc: read.crc.finalize(),
        size: read.size,
        compressed: read.size,
    };
    Ok((stored, output))
}

/// How much of a larger upload is deflated first, as a sample, to tell whether
/// deflating the whole is worth its time. Uploads up to this size are deflated whole
/// and kept as the smaller of the two.
pub(super) const SAMPLE: usize = 16 << 10;

/// Whether `compressed` deflated bytes are worth keeping instead of `size` raw ones:
/// they must save at least 1 %. Photos, videos, archives and other compressed formats
/// save less, or grow, and deflating them costs as much time as deflating text.
fn worth_it(size: u64, compressed: u64) -> bool {
    compressed.saturating_mul(100) <= size.saturating_mul(99)
}

/// Whether deflating the upload that begins with `head` is worth it, judged by its
/// first [`SAMPLE`] bytes.
pub(super) fn worth_deflating(head: &[u8]) -> anyhow::Result<bool> {
    let sample = &head[..head.len().min(SAMPLE)];
    let (found, _) = deflate(&mut &sample[..], std::io::sink())?;
    Ok(worth_it(found.size, found.compressed))
}

/// `raw` deflated when `deflating` and the result is worth it (see [`worth_it`]),
/// else as it is.
pub(super) fn encode_in_memory(
    raw: Vec<u8>,
    deflating: bool,
) -> anyhow::Result<(Encoded, Vec<u8>)> {
    if deflating {
        let buffer = Vec::with_capacity(raw.len() / 2 + 256);
        let (found, bytes) = deflate(&mut raw.as_slice(), buffer)?;
        if worth_it(found.size, found.compressed) {
            return Ok((found, bytes));
        }
    }
    Ok((Encoded::stored(&raw), raw))
}

/// A reader that keeps the CRC-32 and the length of what passes through it.
struct Checked<'a> {
    inner: &'a mut dyn Read,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<'a> Checked<'a> {
    fn new(inner: &'a mut dyn Read) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
            size: 0,
        }
    }
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.crc.update(&buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

/// Writes `input` into the file at `path` (created, owner-only), deflated when
/// `deflating`, else as it is.
pub(super) fn encode_to_file(
    input: &mut dyn Read,
    path: &std::path::Path,
    deflating: bool,
) -> anyhow::Result<Encoded> {
    let file =
        crate::owner_only::create(path).with_context(|| format!("creating {}", path.display()))?;
    let output = BufWriter::with_capacity(1 << 20, file);
    let (found, writer) = if deflating {
        deflate(input, output)?
    } else {
        store(input, output)?
    };
    writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", path.display(), e.error()))?;
    Ok(found)
}

/// Where an entry's data (deflated or stored) waits until its turn comes.
pub(crate) enum PartData {
    /// A small upload's, in memory.
    Memory(Vec<u8>),
    /// An upload's, in the pack of the working folder.
    Packed(chunks::Packed),
    /// A large upload's, in a part file of its own (removed once appended).
    File(PathBuf),
    /// A working-folder file's chunks, in the pack.
    Chunks(chunks::ChunkReader),
}

/// A compressed entry ready to be appended.
pub(crate) struct Part {
    pub head: EntryHead,
    pub data: PartData,
}

impl Part {
    /// The entry `name` whose data (as `found` says it is kept) is `data`.
    pub(crate) fn new(name: &str, stamp: zip::DateTime, found: Encoded, data: PartData) -> Self {
        Self {
            head: EntryHead {
                name: name.to_owned(),
                method: found.method,
                crc: found.crc,
                size: found.size,
                compressed: found.compressed,
                stamp,
            },
            data,
        }
    }

    /// The entry `name` made of a working-folder file's chunks.
    pub(crate) fn chunked(name: &str, stamp: zip::DateTime, entry: chunks::Chunked) -> Self {
        let found = Encoded {
            method: Method::Deflated,
            crc: entry.crc,
            size: entry.size,
            compressed: entry.compressed,
        };
        Self::new(name, stamp, found, PartData::Chunks(entry.reader))
    }

    /// Appends the entry to `zip`; a part file is removed once its bytes are in.
    pub(crate) fn append_to<W, D>(self, zip: &mut ZipStream<W, D>) -> anyhow::Result<()>
    where
        W: Write,
        D: Read + Write + std::io::Seek,
    {
        match self.data {
            PartData::Memory(bytes) => zip.append(&self.head, &mut bytes.as_slice()),
            PartData::Packed(packed) => zip.append(&self.head, &mut packed.read()?.as_slice()),
            PartData::Chunks(mut reader) => zip.append(&self.head, &mut reader),
            PartData::File(path) => {
                let mut file = std::io::BufReader::with_capacity(
                    1 << 20,
                    File::open(&path).with_context(|| format!("opening {}", path.display()))?,
                );
                zip.append(&self.head, &mut file)?;
                let _ = std::fs::remove_file(&path);
                Ok(())
            }
        }
    }
}
