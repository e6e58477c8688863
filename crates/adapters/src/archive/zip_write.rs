//! How a zip is written: entry options and timestamps, entries compressed apart and
//! assembled in order, and an append-only writer.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::chunks;
use crate::owner_only;

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

/// Deflates `size` bytes of `input` (0 when unknown) into a single-entry zip at `part`.
pub(super) fn compress_part(
    input: &mut dyn Read,
    size: u64,
    entry: &str,
    part: &Path,
    stamp: zip::DateTime,
) -> anyhow::Result<()> {
    let output =
        owner_only::create(part).with_context(|| format!("creating {}", part.display()))?;
    compress_into(
        input,
        size,
        entry,
        BufWriter::with_capacity(1 << 20, output),
        stamp,
    )?;
    Ok(())
}

/// Uploads up to this size are compressed in memory and kept in the pack rather than
/// in a part file of their own: an export can hold thousands of small uploads, and a
/// file each costs more than the compression.
pub(super) const IN_MEMORY_PART: u64 = 4 << 20;

/// A compressed entry: a single-entry zip in a file of its own or in a pack, or a
/// working-folder file's chunks. Nothing compressed waits in memory: an export may
/// carry thousands of uploads.
pub(crate) enum Part {
    File(PathBuf),
    Packed(chunks::Packed),
    Chunks {
        name: String,
        stamp: zip::DateTime,
        entry: chunks::Chunked,
    },
}

/// How every entry of an archive is written: deflated, stamped, readable by all.
pub(crate) fn entry_options(stamp: zip::DateTime, size: u64) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(i64::from(chunks::LEVEL)))
        .last_modified_time(stamp)
        .unix_permissions(0o644)
        .large_file(size >= u64::from(u32::MAX))
}

pub(super) fn compress_into<W: Write + std::io::Seek>(
    input: &mut dyn Read,
    size: u64,
    entry: &str,
    output: W,
    stamp: zip::DateTime,
) -> anyhow::Result<W> {
    let mut zip = ZipWriter::new(output);
    zip.start_file(entry, entry_options(stamp, size))?;
    std::io::copy(input, &mut zip).with_context(|| format!("compressing {entry}"))?;
    let mut output = zip.finish()?;
    output.flush()?;
    Ok(output)
}

/// Writes the archive of `parts`, in order, into `output`: each part's entry is copied
/// still compressed, then the central directory. Only appends: `output` is never
/// sought backwards, so it may be a stream (see [`AppendOnly`]).
pub(crate) fn assemble<W: Write + std::io::Seek>(parts: Vec<Part>, output: W) -> anyhow::Result<W> {
    let mut zip = ZipWriter::new(output);
    for part in parts {
        match part {
            Part::File(path) => {
                let mut single = zip::ZipArchive::new(File::open(&path)?)
                    .with_context(|| format!("reading {}", path.display()))?;
                zip.raw_copy_file(single.by_index_raw(0)?)?;
            }
            Part::Packed(packed) => {
                let mut single = zip::ZipArchive::new(std::io::Cursor::new(packed.read()?))?;
                zip.raw_copy_file(single.by_index_raw(0)?)?;
            }
            Part::Chunks { name, stamp, entry } => {
                // The chunks are streamed in behind a header naming their sizes and CRC;
                // the zip writer copies them as they are.
                let header = chunks::local_header(&name, stamp, &entry)?;
                let mut stream = std::io::Cursor::new(header).chain(entry.reader);
                let file = zip::read::read_zipfile_from_stream(&mut stream)?
                    .with_context(|| format!("reading the chunks of {name}"))?;
                zip.raw_copy_file_touch(file, stamp, Some(0o644))?;
            }
        }
    }
    let mut output = zip.finish().context("finishing the zip")?;
    output.flush()?;
    Ok(output)
}

/// A writer that can only append, with the `Seek` a zip writer asks for: it answers
/// where it is, and refuses any move. Lets an archive be written straight into an
/// upload.
pub(crate) struct AppendOnly<W> {
    inner: W,
    position: u64,
}

impl<W: Write> AppendOnly<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, position: 0 }
    }

    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for AppendOnly<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> std::io::Seek for AppendOnly<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        use std::io::SeekFrom;
        match to {
            // Nothing lies past the end of what was appended.
            SeekFrom::Current(0) | SeekFrom::End(0) => Ok(self.position),
            SeekFrom::Start(at) if at == self.position => Ok(self.position),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "an archive being uploaded can only be appended to",
            )),
        }
    }
}
