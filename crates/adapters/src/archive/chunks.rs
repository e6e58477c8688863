//! Working-folder entries deflated in fixed-size chunks, each as soon as its bytes are
//! final, on whichever core is free.
//!
//! An entry is a file, or a range of one (a room's page); it is cut at multiples of
//! [`CHUNK`] from its first byte. Chunk `i` is deflated on its own, primed with the
//! 32 KiB of the entry before it as its dictionary, and ends with a sync flush (the last
//! chunk ends the stream instead), so the chunks laid end to end are one deflate stream
//! (the scheme of pigz). A chunk depends only on the file's bytes up to its end: it can
//! be made as soon as those bytes are committed, in any order, and the entry comes out
//! the same bytes whoever made which chunk and when — a resumed export zips to exactly
//! what an uninterrupted one does.
//!
//! The chunks of one working folder go into one pack file of this process,
//! `.chunks-<pid>` (a hidden name: never listed, never an entry, gone with the folder),
//! one after the other; where each lies is kept in memory. A pack file rather than a
//! file per chunk: creating and deleting thousands of small files cost the filesystem
//! more than the compression saved. What the memory holds is a few dozen bytes per
//! MiB of output, and a pack that vanished with its folder is noticed and started
//! anew.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use flate2::{Compress, Compression, FlushCompress, Status};
use udd_ports::{ByteRange, WorkingRange};

/// The raw size of a chunk (all but the last).
pub(crate) const CHUNK: u64 = 1 << 20;
/// How much of the file before a chunk primes its dictionary: deflate's whole window.
const WINDOW: u64 = 32 << 10;
/// The compression level of every entry: deflate's default, as `zip -6`.
pub(crate) const LEVEL: u32 = 6;

/// One chunk of an entry: the raw bytes it covers, and whether it ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Chunk {
    /// The working-folder file the entry's bytes are in.
    pub entry: String,
    /// Where the entry begins in the file: no dictionary reaches before it.
    pub from: u64,
    /// The raw bytes it covers: `start..end` of the file.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Whether it ends the deflate stream.
    pub last: bool,
}

/// The chunks of the entry `part` of its file: every whole chunk of the range while the
/// entry may still grow past it (`complete` false), all of them, the last ending the
/// stream, once it is complete. An empty complete entry is one empty last chunk.
pub(crate) fn plan(part: &WorkingRange, complete: bool) -> Vec<Chunk> {
    let ByteRange { start: from, len } = part.range;
    let count = if complete {
        len.div_ceil(CHUNK).max(1)
    } else {
        len / CHUNK
    };
    (0..count)
        .map(|i| {
            let last = complete && i + 1 == count;
            let start = from + i * CHUNK;
            Chunk {
                entry: part.file.clone(),
                from,
                start,
                end: if last { from + len } else { start + CHUNK },
                last,
            }
        })
        .collect()
}

/// Where a made chunk lies in its pack, and the CRC-32 of its raw bytes.
#[derive(Debug, Clone, Copy)]
struct Stored {
    offset: u64,
    len: u64,
    crc: u32,
}

#[derive(Debug)]
enum Slot {
    /// A thread is making it.
    Making,
    Made(Stored),
}

/// The pack file of one working folder.
#[derive(Debug)]
struct Pack {
    file: Arc<File>,
    /// The pack file's inode: a folder removed and made again has a new pack.
    inode: u64,
    len: u64,
    chunks: HashMap<Chunk, Slot>,
}

/// The chunks made by this process, by working folder.
#[derive(Debug, Default)]
pub(crate) struct Packs {
    packs: Mutex<HashMap<PathBuf, Pack>>,
}

fn pack_path(folder: &Path) -> PathBuf {
    folder.join(format!(".chunks-{}", std::process::id()))
}

impl Packs {
    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, HashMap<PathBuf, Pack>>> {
        self.packs
            .lock()
            .map_err(|_| anyhow::anyhow!("a compressing thread panicked"))
    }

    /// The pack of `folder` as it is on disk: the one known, or a new empty one when
    /// none is known or the known one is gone.
    fn pack<'a>(
        packs: &'a mut HashMap<PathBuf, Pack>,
        folder: &Path,
    ) -> anyhow::Result<&'a mut Pack> {
        let path = pack_path(folder);
        let on_disk = std::fs::metadata(&path).ok().map(|m| m.ino());
        let known = packs.get(folder).map(|p| p.inode);
        if on_disk.is_none() || on_disk != known {
            if !folder.is_dir() {
                crate::owner_only::create_dir_all(folder)
                    .with_context(|| format!("creating {}", folder.display()))?;
            }
            let file = crate::owner_only::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let inode = file.metadata()?.ino();
            packs.insert(
                folder.to_path_buf(),
                Pack {
                    file: Arc::new(file),
                    inode,
                    len: 0,
                    chunks: HashMap::new(),
                },
            );
        }
        packs.get_mut(folder).context("the pack was just made")
    }

    /// Whether `chunk` of `folder` is made or being made.
    pub(crate) fn has(&self, folder: &Path, chunk: &Chunk) -> anyhow::Result<bool> {
        let mut packs = self.lock()?;
        Ok(Self::pack(&mut packs, folder)?.chunks.contains_key(chunk))
    }

    /// Makes `chunk` of the file `source` in working folder `folder`, unless it is made
    /// or another thread is making it.
    pub(crate) fn make(&self, folder: &Path, source: &Path, chunk: &Chunk) -> anyhow::Result<()> {
        {
            let mut packs = self.lock()?;
            let pack = Self::pack(&mut packs, folder)?;
            if pack.chunks.contains_key(chunk) {
                return Ok(());
            }
            pack.chunks.insert(chunk.clone(), Slot::Making);
        }
        let made = deflate_chunk(source, chunk, |crc, deflated| {
            let packed = self.put(folder, deflated)?;
            Ok(Stored {
                offset: packed.offset,
                len: packed.len,
                crc,
            })
        });
        let mut packs = self.lock()?;
        let pack = Self::pack(&mut packs, folder)?;
        match made {
            Ok(stored) => {
                pack.chunks.insert(chunk.clone(), Slot::Made(stored));
                Ok(())
            }
            Err(e) => {
                pack.chunks.remove(chunk);
                Err(e)
            }
        }
    }

    /// The entry that `chunks` (all of a complete file's, every one made) add up to.
    pub(crate) fn gather(&self, folder: &Path, chunks: &[Chunk]) -> anyhow::Result<Chunked> {
        let mut packs = self.lock()?;
        let pack = Self::pack(&mut packs, folder)?;
        let mut crc = crc32fast::Hasher::new();
        let mut ranges = Vec::with_capacity(chunks.len());
        let mut size = 0;
        for chunk in chunks {
            let Some(Slot::Made(stored)) = pack.chunks.get(chunk) else {
                anyhow::bail!(
                    "chunk {}..{} of {} was not made",
                    chunk.start,
                    chunk.end,
                    chunk.entry
                );
            };
            let len = chunk.end - chunk.start;
            crc.combine(&crc32fast::Hasher::new_with_initial_len(stored.crc, len));
            ranges.push((stored.offset, stored.len));
            size += len;
        }
        Ok(Chunked {
            compressed: ranges.iter().map(|(_, len)| len).sum(),
            reader: ChunkReader {
                file: pack.file.clone(),
                ranges: ranges.into_iter(),
                current: None,
            },
            crc: crc.finalize(),
            size,
        })
    }

    /// Appends `bytes` (a chunk, or something compressed whole such as an upload's
    /// single-entry zip) to the pack of `folder`, so that it waits on disk rather than
    /// in memory. Threads take their places under the lock and write outside it.
    pub(crate) fn put(&self, folder: &Path, bytes: &[u8]) -> anyhow::Result<Packed> {
        let (file, offset) = {
            let mut packs = self.lock()?;
            let pack = Self::pack(&mut packs, folder)?;
            let offset = pack.len;
            pack.len += bytes.len() as u64;
            (pack.file.clone(), offset)
        };
        file.write_all_at(bytes, offset)
            .context("writing to the pack")?;
        Ok(Packed {
            file,
            offset,
            len: bytes.len() as u64,
        })
    }

    /// Drops the pack of `folder`, on disk and in memory.
    pub(crate) fn forget(&self, folder: &Path) {
        if let Ok(mut packs) = self.lock() {
            packs.remove(folder);
        }
        let _ = std::fs::remove_file(pack_path(folder));
    }
}

/// Deflates `chunk` of the file at `source` and hands `keep` the CRC-32 of its raw
/// bytes and the deflate data. The buffers are this thread's, kept from chunk to chunk:
/// a megabyte read into fresh memory each time cost the kernel more (faults and
/// zeroing) than deflate's own setup.
fn deflate_chunk<T>(
    source: &Path,
    chunk: &Chunk,
    keep: impl FnOnce(u32, &[u8]) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    thread_local! {
        static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
            const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }
    let (mut bytes, mut out) = BUFFERS.with(|buffers| buffers.take());
    let result =
        deflate_chunk_with(source, chunk, &mut bytes, &mut out).and_then(|crc| keep(crc, &out));
    // Large buffers (an entry bigger than usual) are let go rather than kept.
    if bytes.capacity() <= KEPT_BUFFER && out.capacity() <= KEPT_BUFFER {
        BUFFERS.with(|buffers| buffers.replace((bytes, out)));
    }
    result
}

/// The most a compressing thread keeps between chunks, per buffer.
const KEPT_BUFFER: usize = 4 << 20;

fn deflate_chunk_with(
    source: &Path,
    chunk: &Chunk,
    bytes: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> anyhow::Result<u32> {
    let from = chunk.start.saturating_sub(WINDOW).max(chunk.from);
    let file = File::open(source).with_context(|| format!("reading {}", source.display()))?;
    bytes.resize(usize::try_from(chunk.end - from)?, 0);
    file.read_exact_at(bytes, from)
        .with_context(|| format!("reading {} at {from}", source.display()))?;
    let (dictionary, raw) = bytes.split_at(usize::try_from(chunk.start - from)?);
    out.clear();
    out.reserve(raw.len() / 3 + 1024);
    let flush = if chunk.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    with_deflate(|deflate| {
        if !dictionary.is_empty() {
            deflate.set_dictionary(dictionary)?;
        }
        deflate_into(deflate, raw, flush, out)
    })?;
    Ok(crc32fast::hash(raw))
}

/// Runs `work` with this thread's deflate stream at [`LEVEL`], fresh (a raw stream,
/// nothing written yet). Starting a stream anew clears deflate's hash table; making a
/// new one also allocates and clears its window and chains, a few hundred KiB, which
/// an export deflating thousands of small uploads paid for each of them.
pub(super) fn with_deflate<T>(work: impl FnOnce(&mut Compress) -> T) -> T {
    thread_local! {
        static STREAM: std::cell::RefCell<Option<Compress>> = const { std::cell::RefCell::new(None) };
    }
    let mut deflate = match STREAM.with(|stream| stream.borrow_mut().take()) {
        Some(mut used) => {
            used.reset();
            used
        }
        None => Compress::new(Compression::new(LEVEL), false),
    };
    let result = work(&mut deflate);
    STREAM.with(|stream| *stream.borrow_mut() = Some(deflate));
    result
}

/// Runs `deflate` over all of `input` with `flush` at the end, appending to `out`.
pub(super) fn deflate_into(
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

/// A whole entry made of its chunks, ready to be copied into an archive.
#[derive(Debug)]
pub(crate) struct Chunked {
    /// The deflate stream.
    pub reader: ChunkReader,
    /// The CRC-32 of the raw bytes.
    pub crc: u32,
    /// The raw size.
    pub size: u64,
    /// The size of the deflate stream.
    pub compressed: u64,
}

/// The deflate data of an entry's chunks, read from the pack one after the other.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    file: Arc<File>,
    ranges: std::vec::IntoIter<(u64, u64)>,
    current: Option<(u64, u64)>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.current {
                Some((_, 0)) | None => match self.ranges.next() {
                    Some(range) => self.current = Some(range),
                    None => return Ok(0),
                },
                Some((offset, left)) => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let read = self.file.read_at(&mut buf[..want], offset)?;
                    if read == 0 && want > 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.current = Some((offset + read as u64, left - read as u64));
                    return Ok(read);
                }
            }
        }
    }
}

/// Bytes kept in a pack by [`Packs::put`].
#[derive(Debug)]
pub(crate) struct Packed {
    file: Arc<File>,
    offset: u64,
    len: u64,
}

impl Packed {
    /// Reads the bytes back.
    pub(crate) fn read(&self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = vec![0; usize::try_from(self.len)?];
        self.file
            .read_exact_at(&mut bytes, self.offset)
            .context("reading the pack")?;
        Ok(bytes)
    }
}
