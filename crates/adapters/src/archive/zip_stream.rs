//! A zip writer that only appends and keeps nothing per entry in memory.
//!
//! Every entry arrives already deflated with its CRC-32 and sizes known, so its local
//! header is written once, right, and its data follows; no data descriptor and no seek
//! back. The central directory's records go to a spill file (`directory`) as the
//! entries are written and are copied behind them at the end, followed by the end
//! records: memory stays the same whether an archive holds ten entries or a million.
//!
//! What it writes, every time the same for the same entries: UTF-8 names (flag bit
//! 11), deflate or stored as each entry says, the timestamp given, unix permissions `0o644` on a regular file
//! ("version made by" unix). zip64 fields are written exactly where the format needs
//! them: sizes or offsets of 4 GiB or more, more than 65,534 entries, or a central
//! directory that starts or ends past 4 GiB.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use anyhow::Context;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// The tag of the zip64 extended information extra field.
const ZIP64_EXTRA: u16 = 0x0001;
/// Bit 11 of the general purpose flags: the name is UTF-8.
const UTF8_NAME: u16 = 0x0800;
/// The version needed to extract a stored entry (1.0), a deflated one (2.0), and one
/// with zip64 fields (4.5).
const VERSION_STORED: u16 = 10;
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Made by" a unix system (high byte 3), to version 4.5 of the format: readers then
/// take the permissions from the external attributes.
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
/// A regular file, `rw-r--r--`, in the high half of the external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;
/// What a 32-bit field holds when the value is in the zip64 extra field.
const MASK32: u32 = u32::MAX;
/// What the end record's entry counts hold when the count is in the zip64 record.
const MASK16: u16 = u16::MAX;
/// How much of the central directory waits in memory before it goes to the spill file.
const DIRECTORY_BUFFER: usize = 64 << 10;

/// How an entry's bytes are kept in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// As they are (what deflate cannot shrink: photos, videos, archives).
    Stored,
    /// Deflated.
    Deflated,
}

impl Method {
    /// The format's code for the method.
    fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflated => 8,
        }
    }

    /// The version of the format needed to extract an entry kept this way (without
    /// zip64 fields).
    fn version_needed(self) -> u16 {
        match self {
            Method::Stored => VERSION_STORED,
            Method::Deflated => VERSION_DEFLATE,
        }
    }
}

/// One entry as it goes into the archive: already deflated (or stored), its sizes and
/// CRC known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryHead {
    /// The path inside the archive.
    pub name: String,
    /// How its bytes are kept.
    pub method: Method,
    /// The CRC-32 of the raw bytes.
    pub crc: u32,
    /// The raw size.
    pub size: u64,
    /// The size of its data in the archive (the raw size when stored).
    pub compressed: u64,
    /// The modification time, as the zip's DOS date and time.
    pub stamp: zip::DateTime,
}

/// An archive being written into `out`, its central directory spilled into `directory`.
pub(crate) struct ZipStream<W, D: Write> {
    out: W,
    /// Where the next byte of `out` lies in the archive.
    position: u64,
    directory: BufWriter<D>,
    /// The bytes of central directory written so far.
    directory_len: u64,
    entries: u64,
}

impl<W: Write, D: Read + Write + Seek> ZipStream<W, D> {
    /// An archive written into `out` from its first byte; `directory` is an empty
    /// scratch file (or buffer) it may write and read back.
    pub(crate) fn new(out: W, directory: D) -> Self {
        Self::at(out, directory, 0)
    }

    /// An archive whose first byte written into `out` lies at `position` of the
    /// file (what comes before is not part of the archive's entries): how tests reach
    /// offsets past 4 GiB without writing 4 GiB.
    #[cfg(test)]
    pub(crate) fn starting_at(out: W, directory: D, position: u64) -> Self {
        Self::at(out, directory, position)
    }

    fn at(out: W, directory: D, position: u64) -> Self {
        Self {
            out,
            position,
            directory: BufWriter::with_capacity(DIRECTORY_BUFFER, directory),
            directory_len: 0,
            entries: 0,
        }
    }

    /// Appends one entry: its local header, then exactly `head.compressed` bytes of
    /// its data (deflated or stored) read from `data`; its central record goes to the spill file.
    ///
    /// Errors: I/O failures; a name over 64 KiB; `data` that is not as long as said.
    pub(crate) fn append(&mut self, head: &EntryHead, data: &mut dyn Read) -> anyhow::Result<()> {
        let offset = self.position;
        let header = local_header(head)?;
        self.write(&header)?;
        let copied = std::io::copy(&mut data.take(head.compressed), &mut self.out)
            .with_context(|| format!("writing {}", head.name))?;
        anyhow::ensure!(
            copied == head.compressed,
            "{}: {copied} bytes of data where {} were announced",
            head.name,
            head.compressed
        );
        self.position += copied;
        let record = central_record(head, offset)?;
        self.directory.write_all(&record)?;
        self.directory_len += record.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// The entries appended so far.
    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends the central directory and the end records; returns `out`, flushed.
    ///
    /// Errors: I/O failures.
    pub(crate) fn finish(mut self) -> anyhow::Result<W> {
        let start = self.position;
        let mut directory = self
            .directory
            .into_inner()
            .map_err(|e| anyhow::anyhow!("spilling the central directory: {}", e.error()))?;
        directory.seek(SeekFrom::Start(0))?;
        let copied = std::io::copy(&mut directory.take(self.directory_len), &mut self.out)
            .context("copying the central directory")?;
        anyhow::ensure!(
            copied == self.directory_len,
            "the central directory's spill file lost bytes"
        );
        self.position += copied;
        let end = end_records(self.entries, start, self.directory_len, self.position);
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }
}

/// Whether `value` does not fit a 32-bit field (whose all-ones value means "see zip64").
fn needs_zip64(value: u64) -> bool {
    value >= u64::from(MASK32)
}

/// `value` in a 32-bit field, or the all-ones mark when it goes in the zip64 field.
fn field32(value: u64) -> u32 {
    u32::try_from(value)
        .ok()
        .filter(|v| *v != MASK32)
        .unwrap_or(MASK32)
}

fn name_length(head: &EntryHead) -> anyhow::Result<u16> {
    u16::try_from(head.name.len())
        .with_context(|| format!("an entry name over 64 KiB: {}", head.name))
}

/// Little-endian bytes, appended.
trait Put {
    fn u16(&mut self, v: u16) -> &mut Self;
    fn u32(&mut self, v: u32) -> &mut Self;
    fn u64(&mut self, v: u64) -> &mut Self;
}

impl Put for Vec<u8> {
    fn u16(&mut self, v: u16) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// The local file header of `head`. When either size needs zip64, both sizes go in
/// its zip64 extra field, as the format asks of a local header.
pub(crate) fn local_header(head: &EntryHead) -> anyhow::Result<Vec<u8>> {
    let zip64 = needs_zip64(head.size) || needs_zip64(head.compressed);
    let mut extra = Vec::new();
    if zip64 {
        extra
            .u16(ZIP64_EXTRA)
            .u16(16)
            .u64(head.size)
            .u64(head.compressed);
    }
    let (compressed, size) = if zip64 {
        (MASK32, MASK32)
    } else {
        (field32(head.compressed), field32(head.size))
    };
    let mut header = Vec::with_capacity(30 + head.name.len() + extra.len());
    header
        .u32(LOCAL_HEADER)
        .u16(if zip64 {
            VERSION_ZIP64
        } else {
            head.method.version_needed()
        })
        .u16(UTF8_NAME)
        .u16(head.method.code())
        .u16(head.stamp.timepart())
        .u16(head.stamp.datepart())
        .u32(head.crc)
        .u32(compressed)
        .u32(size)
        .u16(name_length(head)?)
        .u16(u16::try_from(extra.len())?);
    header.extend_from_slice(head.name.as_bytes());
    header.extend_from_slice(&extra);
    Ok(header)
}

/// The central directory record of `head`, whose local header lies at `offset`. Its
/// zip64 extra field holds, in the format's order, only the values too large for
/// their own fields.
pub(crate) fn central_record(head: &EntryHead, offset: u64) -> anyhow::Result<Vec<u8>> {
    let mut extra = Vec::new();
    let mut large = Vec::new();
    for value in [head.size, head.compressed, offset] {
        if needs_zip64(value) {
            large.u64(value);
        }
    }
    if !large.is_empty() {
        extra.u16(ZIP64_EXTRA).u16(u16::try_from(large.len())?);
        extra.extend_from_slice(&large);
    }
    let mut record = Vec::with_capacity(46 + head.name.len() + extra.len());
    record
        .u32(CENTRAL_HEADER)
        .u16(MADE_BY)
        .u16(if extra.is_empty() {
            head.method.version_needed()
        } else {
            VERSION_ZIP64
        })
        .u16(UTF8_NAME)
        .u16(head.method.code())
        .u16(head.stamp.timepart())
        .u16(head.stamp.datepart())
        .u32(head.crc)
        .u32(field32(head.compressed))
        .u32(field32(head.size))
        .u16(name_length(head)?)
        .u16(u16::try_from(extra.len())?)
        // No comment, first disk, no internal attributes.
        .u16(0)
        .u16(0)
        .u16(0)
        .u32(EXTERNAL_ATTRIBUTES)
        .u32(field32(offset));
    record.extend_from_slice(head.name.as_bytes());
    record.extend_from_slice(&extra);
    Ok(record)
}

/// The records that end an archive of `entries` whose central directory is `len`
/// bytes from `start`, and which are written at `position`: the zip64 end record and
/// its locator when a count or an offset does not fit the classic end record, then
/// the classic end record, its fields marked where the zip64 record holds the value.
pub(crate) fn end_records(entries: u64, start: u64, len: u64, position: u64) -> Vec<u8> {
    let many = entries >= u64::from(MASK16);
    let zip64 = many || needs_zip64(start) || needs_zip64(len) || needs_zip64(position);
    let mut end = Vec::with_capacity(56 + 20 + 22);
    if zip64 {
        end.u32(ZIP64_END)
            // The size of the rest of the record.
            .u64(44)
            .u16(MADE_BY)
            .u16(VERSION_ZIP64)
            .u32(0)
            .u32(0)
            .u64(entries)
            .u64(entries)
            .u64(len)
            .u64(start);
        end.u32(ZIP64_LOCATOR).u32(0).u64(position).u32(1);
    }
    let count = if many {
        MASK16
    } else {
        u16::try_from(entries).unwrap_or(MASK16)
    };
    end.u32(END)
        .u16(0)
        .u16(0)
        .u16(count)
        .u16(count)
        .u32(field32(len))
        .u32(field32(start))
        .u16(0);
    end
}

#[cfg(test)]
#[path = "zip_stream_tests.rs"]
pub(super) mod tests;
