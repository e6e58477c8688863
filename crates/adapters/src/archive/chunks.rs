//! Working-folder entries deflated in fixed-size chunks, each as soon as its bytes are
//! final, on whichever core is free.
//!
//! A file is cut at multiples of [`CHUNK`]. Chunk `i` is deflated on its own, primed
//! with the 32 KiB before it as its dictionary, and ends with a sync flush (the last
//! chunk ends the stream instead), so the chunks laid end to end are one deflate stream
//! (the scheme of pigz). A chunk depends only on the file's bytes up to its end: it can
//! be made as soon as those bytes are committed, in any order, and the entry comes out
//! the same bytes whoever made which chunk and when — a resumed export zips to exactly
//! what an uninterrupted one does.
//!
//! Chunks live in the working folder, under `.chunks/<digest of the entry name>/` (a
//! hidden name: never listed, never an entry, and gone with the folder): `<i>.z` for a
//! chunk the file goes on after, `<i>-<raw length>.end` for the last one. Each starts
//! with the CRC-32 of its raw bytes (4 bytes, little-endian); the deflate data follows.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

/// The raw size of a chunk (all but the last).
pub(crate) const CHUNK: u64 = 1 << 20;
/// How much of the file before a chunk primes its dictionary: deflate's whole window.
const WINDOW: u64 = 32 << 10;
/// The compression level of every entry: deflate's default, as `zip -6`.
pub(crate) const LEVEL: u32 = 6;
/// Where a chunk file's deflate data starts (after the CRC-32).
const HEADER: u64 = 4;

/// The folder of `entry`'s chunks inside the working folder `folder`.
pub(crate) fn chunk_dir(folder: &Path, entry: &str) -> PathBuf {
    // A digest rather than the name: entry names may be longer than a file name may.
    let digest = Sha256::digest(entry.as_bytes());
    folder.join(".chunks").join(hex::encode(&digest[..16]))
}

/// One chunk of an entry: which, where it is kept, and the raw bytes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Where the compressed chunk is kept.
    pub path: PathBuf,
    /// The raw bytes it covers: `start..end` of the file.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Whether it ends the deflate stream.
    pub last: bool,
}

/// The chunks of a file `len` bytes long kept in `dir`: every whole chunk while the file
/// may still grow (`complete` false), all of them, the last ending the stream, once it
/// is complete. An empty complete file is one empty last chunk.
pub(crate) fn plan(dir: &Path, len: u64, complete: bool) -> Vec<Chunk> {
    let count = if complete {
        len.div_ceil(CHUNK).max(1)
    } else {
        len / CHUNK
    };
    (0..count)
        .map(|i| {
            let last = complete && i + 1 == count;
            let start = i * CHUNK;
            let end = if last { len } else { start + CHUNK };
            let name = if last {
                format!("{i}-{}.end", end - start)
            } else {
                format!("{i}.z")
            };
            Chunk {
                path: dir.join(name),
                start,
                end,
                last,
            }
        })
        .collect()
}

/// Deflates `chunk` of the file at `source` into its place (written aside, then renamed,
/// so a chunk file is whole or absent).
pub(crate) fn make(source: &Path, chunk: &Chunk) -> anyhow::Result<()> {
    let from = chunk.start.saturating_sub(WINDOW);
    let file = File::open(source).with_context(|| format!("reading {}", source.display()))?;
    let mut bytes = vec![0; usize::try_from(chunk.end - from)?];
    file.read_exact_at(&mut bytes, from)
        .with_context(|| format!("reading {} at {from}", source.display()))?;
    let (dictionary, raw) = bytes.split_at(usize::try_from(chunk.start - from)?);
    let mut deflate = Compress::new(Compression::new(LEVEL), false);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary)?;
    }
    let mut out = Vec::with_capacity(raw.len() / 3 + 1024);
    out.extend_from_slice(&crc32fast::hash(raw).to_le_bytes());
    let flush = if chunk.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    deflate_into(&mut deflate, raw, flush, &mut out)?;
    write_aside(&chunk.path, &out)
}

/// Runs `deflate` over all of `input` with `flush` at the end, appending to `out`.
fn deflate_into(
    deflate: &mut Compress,
    mut input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> anyhow::Result<()> {
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let before = deflate.total_in();
        let status = deflate.compress_vec(input, out, flush)?;
        let used = usize::try_from(deflate.total_in() - before)?;
        input = &input[used..];
        match status {
            Status::StreamEnd => return Ok(()),
            // A sync flush is done once all input is in and the output was not filled.
            _ if flush != FlushCompress::Finish
                && input.is_empty()
                && out.len() < out.capacity() =>
            {
                return Ok(())
            }
            Status::BufError if input.is_empty() && out.len() < out.capacity() => {
                anyhow::bail!("deflate made no progress")
            }
            _ => {}
        }
    }
}

/// Writes `bytes` to `path` through a temporary name unique to this call, so two
/// threads making the same chunk never write into one file.
fn write_aside(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().context("a chunk needs a folder")?;
    if !dir.is_dir() {
        crate::owner_only::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = dir.join(format!(
        ".{}.{}.partial",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = crate::owner_only::create(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    drop(file);
    std::fs::rename(&temporary, path).with_context(|| format!("storing {}", path.display()))
}

/// A whole entry made of its chunks, ready to be copied into an archive.
#[derive(Debug)]
pub(crate) struct Chunked {
    /// The chunk files, in order.
    pub files: Vec<PathBuf>,
    /// The CRC-32 of the raw bytes.
    pub crc: u32,
    /// The raw size.
    pub size: u64,
    /// The size of the deflate stream.
    pub compressed: u64,
}

/// The entry that `chunks` (all of a complete file's, every one made) add up to.
pub(crate) fn gather(chunks: &[Chunk]) -> anyhow::Result<Chunked> {
    let mut crc = crc32fast::Hasher::new();
    let mut compressed = 0;
    let mut size = 0;
    for chunk in chunks {
        let mut file = File::open(&chunk.path)
            .with_context(|| format!("reading {}", chunk.path.display()))?;
        let mut head = [0; HEADER as usize];
        file.read_exact(&mut head)
            .with_context(|| format!("reading {}", chunk.path.display()))?;
        let len = chunk.end - chunk.start;
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            u32::from_le_bytes(head),
            len,
        ));
        compressed += file.metadata()?.len().saturating_sub(HEADER);
        size += len;
    }
    Ok(Chunked {
        files: chunks.iter().map(|c| c.path.clone()).collect(),
        crc: crc.finalize(),
        size,
        compressed,
    })
}

/// The deflate data of chunk files one after the other.
pub(crate) struct ChunkReader {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<File>,
}

impl ChunkReader {
    /// Reads the data of `files`, in order.
    pub(crate) fn new(files: Vec<PathBuf>) -> Self {
        Self {
            files: files.into_iter(),
            current: None,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(file) = &mut self.current {
                let read = file.read(buf)?;
                if read > 0 || buf.is_empty() {
                    return Ok(read);
                }
                self.current = None;
            }
            let Some(path) = self.files.next() else {
                return Ok(0);
            };
            let mut file = File::open(&path)?;
            let mut head = [0; HEADER as usize];
            file.read_exact(&mut head)?;
            self.current = Some(file);
        }
    }
}

/// The local file header of a deflated entry `name` whose sizes and CRC are known, as
/// an archive reader parses it (the archive is then written by the zip writer).
pub(crate) fn local_header(
    name: &str,
    stamp: zip::DateTime,
    entry: &Chunked,
) -> anyhow::Result<Vec<u8>> {
    let zip64 = entry.size >= u64::from(u32::MAX) || entry.compressed >= u64::from(u32::MAX);
    let name_len = u16::try_from(name.len()).context("an entry name over 64 KiB")?;
    let mut header = Vec::with_capacity(30 + name.len() + 20);
    header.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
    header.extend_from_slice(&(if zip64 { 45_u16 } else { 20 }).to_le_bytes());
    // Bit 11: the name is UTF-8.
    header.extend_from_slice(&0x0800_u16.to_le_bytes());
    header.extend_from_slice(&8_u16.to_le_bytes());
    header.extend_from_slice(&stamp.timepart().to_le_bytes());
    header.extend_from_slice(&stamp.datepart().to_le_bytes());
    header.extend_from_slice(&entry.crc.to_le_bytes());
    let small = |v: u64| u32::try_from(v).ok().filter(|_| !zip64).unwrap_or(u32::MAX);
    header.extend_from_slice(&small(entry.compressed).to_le_bytes());
    header.extend_from_slice(&small(entry.size).to_le_bytes());
    header.extend_from_slice(&name_len.to_le_bytes());
    header.extend_from_slice(&(if zip64 { 20_u16 } else { 0 }).to_le_bytes());
    header.extend_from_slice(name.as_bytes());
    if zip64 {
        header.extend_from_slice(&1_u16.to_le_bytes());
        header.extend_from_slice(&16_u16.to_le_bytes());
        header.extend_from_slice(&entry.size.to_le_bytes());
        header.extend_from_slice(&entry.compressed.to_le_bytes());
    }
    Ok(header)
}
