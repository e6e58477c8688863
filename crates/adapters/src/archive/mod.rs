//! Finished zips in a local folder (`user_data.file_system_zip_path`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use udd_domain::OperationId;

use anyhow::Context;
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::io::Read;
use std::sync::Arc;
use udd_ports::{ArchiveEntry, ArchiveRead, ArchiveSource, ArchiveStore, BlobStore, ByteRange};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::fs::{inside, is_plain_name, LocalExportFiles};
use crate::hashing::sha256_of;
use crate::owner_only;

mod chunks;

/// Zips written with deflate, entries in the given order and with fixed timestamps, so
/// the same export folder always gives the same bytes, whatever the thread timing.
/// Archives are keyed `exports/<operation id>.zip` and kept as `<root>/<operation id>.zip`.
#[derive(Clone)]
pub struct ZipArchiveStore {
    root: PathBuf,
    working: LocalExportFiles,
    blobs: Arc<dyn BlobStore>,
    /// The chunks made ahead (see [`chunks`]).
    packs: Arc<chunks::Packs>,
}

impl std::fmt::Debug for ZipArchiveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipArchiveStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl ZipArchiveStore {
    /// Zips under `root` (created on first write), made from the working folders of
    /// `working` and upload bytes from `blobs`.
    pub fn new(
        root: impl AsRef<Path>,
        working: LocalExportFiles,
        blobs: Arc<dyn BlobStore>,
    ) -> Self {
        let root = root.as_ref();
        Self {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            working,
            blobs,
            packs: Arc::default(),
        }
    }

    /// The file behind `key`, provided the key is one this store makes.
    pub fn path_of(&self, key: &str) -> anyhow::Result<PathBuf> {
        let name = operation_of_key(key)
            .with_context(|| format!("`{key}` is not an archive key of this store"))?;
        Ok(self.root.join(format!("{name}.zip")))
    }
}

/// The key of operation `operation_id`'s archive, whatever the store keeps it in.
pub fn archive_key(operation_id: &OperationId) -> String {
    format!("exports/{operation_id}.zip")
}

/// The operation an archive key names (`exports/<id>.zip`), if it is one.
pub fn operation_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("exports/")
        .and_then(|rest| rest.strip_suffix(".zip"))
        .filter(|name| is_plain_name(name))
}

/// The suffix of a zip being written (after a leading dot): it appears whole by rename.
const PARTIAL: &str = ".zip.partial";
/// The suffix of the folder of compressed parts of a zip being assembled.
const PARTS: &str = ".parts";

/// Which operation a name in the zip folder belongs to, and whether it is a finished
/// zip (`<id>.zip`) rather than something left while writing one (`.<id>.zip.partial`,
/// `.<id>.parts`). The one place that knows the folder's naming.
pub(crate) fn zip_folder_entry(name: &str) -> Option<(&str, bool)> {
    if let Some(id) = name.strip_suffix(".zip").filter(|id| !id.starts_with('.')) {
        return Some((id, true));
    }
    let hidden = name.strip_prefix('.')?;
    hidden
        .strip_suffix(PARTIAL)
        .or_else(|| hidden.strip_suffix(PARTS))
        .map(|id| (id, false))
}

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
fn compress_part(
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
const IN_MEMORY_PART: u64 = 4 << 20;

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

fn compress_into<W: Write + std::io::Seek>(
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

impl ZipArchiveStore {
    fn check_name(name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(is_plain_name(name), "refusing archive name `{name}`");
        Ok(())
    }

    fn parts_dir(&self, name: &str) -> PathBuf {
        self.root.join(format!(".{name}{PARTS}"))
    }

    /// The chunks of working-folder entry `entry` of `name`: whole ones while the file
    /// grows to `committed` bytes, all of them once it is complete (`None`).
    fn chunk_plan(
        &self,
        name: &OperationId,
        entry: &str,
        committed: Option<u64>,
    ) -> anyhow::Result<(PathBuf, PathBuf, Vec<chunks::Chunk>)> {
        let folder = self.working.folder(name)?;
        let source = self.working.file(name, entry)?;
        let len = match committed {
            Some(len) => len,
            None => std::fs::metadata(&source)
                .with_context(|| format!("reading {}", source.display()))?
                .len(),
        };
        Ok((
            folder,
            source,
            chunks::plan(entry, len, committed.is_none()),
        ))
    }

    /// Compresses every entry, in parallel (one thread per core): the chunks of the
    /// working-folder files that `prepare` has not made yet, and the uploads; the parts
    /// come back in entry order, ready for [`assemble`].
    pub(crate) fn compress(
        &self,
        operation_id: &OperationId,
        entries: &[ArchiveEntry],
        modified: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Part>> {
        let name = operation_id;
        Self::check_name(name)?;
        let stamp = zip_time(modified);
        enum Job<'a> {
            Chunk(&'a Path, &'a Path, &'a chunks::Chunk),
            Blob(usize),
        }
        let mut plans = Vec::with_capacity(entries.len());
        for entry in entries {
            // Entry names obey the working-folder rule: relative, no `..`, no hidden parts.
            inside(Path::new(""), &entry.name)?;
            plans.push(match &entry.source {
                ArchiveSource::Working(file) => Some(self.chunk_plan(name, file, None)?),
                ArchiveSource::Blob(_) => None,
            });
        }
        let mut jobs = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            match plan {
                Some((folder, source, plan)) => {
                    for chunk in plan {
                        if !self.packs.has(folder, chunk)? {
                            jobs.push(Job::Chunk(folder, source, chunk));
                        }
                    }
                }
                None => jobs.push(Job::Blob(i)),
            }
        }
        let next = std::sync::Mutex::new(jobs.into_iter());
        let blobs: std::sync::Mutex<Vec<Option<Part>>> =
            std::sync::Mutex::new((0..entries.len()).map(|_| None).collect());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let lock_failed = || anyhow::anyhow!("a compressing thread panicked");
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let Some(job) = next.lock().map_err(|_| lock_failed())?.next() else {
                                return Ok(());
                            };
                            match job {
                                Job::Chunk(folder, source, chunk) => {
                                    self.packs.make(folder, source, chunk)?
                                }
                                Job::Blob(i) => {
                                    let part = self.blob_part(&entries[i], name, i, stamp)?;
                                    blobs.lock().map_err(|_| lock_failed())?[i] = Some(part);
                                }
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().map_err(|_| lock_failed())??;
            }
            Ok(())
        })?;
        let blobs = blobs.into_inner().map_err(|_| lock_failed())?;
        entries
            .iter()
            .zip(plans)
            .zip(blobs)
            .map(|((entry, plan), blob)| match plan {
                Some((folder, _, plan)) => Ok(Part::Chunks {
                    name: entry.name.clone(),
                    stamp,
                    entry: self.packs.gather(&folder, &plan)?,
                }),
                None => blob.context("an entry was not compressed"),
            })
            .collect()
    }

    /// Removes the parts and chunks kept for `name` (its archive is stored, or given up).
    pub(crate) fn forget_parts(&self, name: &str) {
        let _ = std::fs::remove_dir_all(self.parts_dir(name));
        if let Ok(folder) = self.working.folder(&name.into()) {
            self.packs.forget(&folder);
        }
    }

    /// Compresses one upload.
    fn blob_part(
        &self,
        entry: &ArchiveEntry,
        name: &OperationId,
        index: usize,
        stamp: zip::DateTime,
    ) -> anyhow::Result<Part> {
        let ArchiveSource::Blob(key) = &entry.source else {
            anyhow::bail!("{} is not an upload", entry.name);
        };
        let mut input = self
            .blobs
            .open(key)?
            .with_context(|| format!("blob {key} is gone"))?;
        let mut head = Vec::new();
        (&mut input)
            .take(IN_MEMORY_PART + 1)
            .read_to_end(&mut head)?;
        if head.len() as u64 <= IN_MEMORY_PART {
            let buffer = std::io::Cursor::new(Vec::with_capacity(head.len() + 256));
            let buffer = compress_into(
                &mut head.as_slice(),
                head.len() as u64,
                &entry.name,
                buffer,
                stamp,
            )?;
            let folder = self.working.folder(name)?;
            return Ok(Part::Packed(self.packs.put(&folder, &buffer.into_inner())?));
        }
        owner_only::create_dir_all(&self.parts_dir(name))?;
        let part = self.parts_dir(name).join(format!("blob-{index}.zip"));
        let mut whole = head.as_slice().chain(input);
        // The full size is unknown here; an upload over 4 GiB (not expected in a
        // chat workspace) makes the zip writer fail cleanly.
        compress_part(&mut whole, 0, &entry.name, &part, stamp)?;
        Ok(Part::File(part))
    }
}

impl ArchiveStore for ZipArchiveStore {
    /// Makes the chunks of `entry` that are final and not made yet (see [`chunks`]).
    /// Chunks are looked for from the newest back to the first one already there, so a
    /// file that grows batch by batch costs a look at its new chunks only.
    fn prepare(
        &self,
        operation_id: &OperationId,
        entry: &str,
        committed: Option<u64>,
    ) -> anyhow::Result<()> {
        let name = operation_id;
        Self::check_name(name)?;
        let (folder, source, plan) = self.chunk_plan(name, entry, committed)?;
        let mut missing = Vec::new();
        for chunk in plan.iter().rev() {
            if self.packs.has(&folder, chunk)? {
                break;
            }
            missing.push(chunk);
        }
        for chunk in missing.into_iter().rev() {
            self.packs.make(&folder, &source, chunk)?;
        }
        Ok(())
    }

    fn store(
        &self,
        operation_id: &OperationId,
        entries: &[ArchiveEntry],
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let name = operation_id;
        let parts = self.compress(name, entries, modified)?;
        let path = self.root.join(format!("{name}.zip"));
        let temporary = self.root.join(format!(".{name}{PARTIAL}"));
        owner_only::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let file = owner_only::create(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        let writer = assemble(parts, BufWriter::with_capacity(1 << 20, file))?;
        let file = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("flushing the zip: {e}"))?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("storing {}", path.display()))?;
        self.forget_parts(name);
        Ok(archive_key(name))
    }

    fn describe(&self, key: &str) -> anyhow::Result<(u64, String)> {
        let path = self.path_of(key)?;
        let mut file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        sha256_of(&mut file).with_context(|| format!("reading {}", path.display()))
    }

    fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let path = self.path_of(key)?;
        match std::fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn open(&self, key: &str, range: Option<ByteRange>) -> anyhow::Result<Option<ArchiveRead>> {
        use std::io::{Seek, SeekFrom};
        let path = self.path_of(key)?;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let total = file.metadata()?.len();
        let (range, _) = ByteRange::inside(range, total, key)?;
        file.seek(SeekFrom::Start(range.start))?;
        Ok(Some(ArchiveRead {
            body: Box::new(file.take(range.len)),
            len: range.len,
            total,
        }))
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        // Only zips this store wrote: a key from a damaged record must not delete
        // anything else.
        let path = self.path_of(key)?;
        if let Some(name) = path.file_stem().and_then(|n| n.to_str()) {
            let _ = std::fs::remove_dir_all(self.parts_dir(name));
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
