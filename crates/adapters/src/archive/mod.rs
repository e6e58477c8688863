//! Finished zips in a local folder (`user_data.file_system_zip_path`).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use udd_domain::OperationId;

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::io::Read;
use std::sync::Arc;
use udd_ports::{ArchiveEntry, ArchiveRead, ArchiveSource, ArchiveStore, BlobStore, ByteRange};

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

mod zip_write;

pub(crate) use zip_write::*;

/// Refuses an operation id that could not name an archive (every store checks it the
/// same way before it writes anything).
pub(crate) fn check_archive_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_plain_name(name), "refusing archive name `{name}`");
    Ok(())
}

impl ZipArchiveStore {
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
        check_archive_name(name)?;
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
        check_archive_name(name)?;
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
