//! Finished zips in a local folder (`user_data.file_system_zip_path`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use udd_domain::OperationId;

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::io::Read;
use std::sync::Arc;
use udd_ports::{
    ArchiveEntry, ArchiveRead, ArchiveSource, ArchiveStore, BlobStore, ByteRange, WorkingRange,
};

use crate::fs::{is_plain_name, LocalExportFiles};
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
/// The spill file of the central directory, in the parts folder.
const DIRECTORY: &str = "central-directory";

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

mod window;
mod zip_stream;
mod zip_write;

pub(crate) use zip_stream::ZipStream;
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

    /// The chunks of the working-folder entry `part` of `name`: whole ones while it may
    /// still grow, all of them once it is `complete`.
    fn chunk_plan(
        &self,
        name: &OperationId,
        part: &WorkingRange,
        complete: bool,
    ) -> anyhow::Result<(PathBuf, PathBuf, Vec<chunks::Chunk>)> {
        let folder = self.working.folder(name)?;
        let source = self.working.file(name, &part.file)?;
        Ok((folder, source, chunks::plan(part, complete)))
    }

    /// A whole file of the working folder of `name`, as the range it is now.
    fn whole_file(&self, name: &OperationId, file: &str) -> anyhow::Result<WorkingRange> {
        let source = self.working.file(name, file)?;
        let len = std::fs::metadata(&source)
            .with_context(|| format!("reading {}", source.display()))?
            .len();
        Ok(WorkingRange {
            file: file.to_owned(),
            range: ByteRange::whole(len),
        })
    }

    /// Writes the archive of `entries`, in their order, into `output`: compressed in
    /// parallel over a bounded window (see [`window`]), the central directory spilled
    /// into the parts folder until the end. Only appends to `output`, so it may be a
    /// stream such as an upload.
    pub(crate) fn write_archive<W: Write>(
        &self,
        operation_id: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        modified: DateTime<Utc>,
        output: W,
    ) -> anyhow::Result<W> {
        let name = operation_id;
        check_archive_name(name)?;
        let parts = self.parts_dir(name);
        owner_only::create_dir_all(&parts)
            .with_context(|| format!("creating {}", parts.display()))?;
        let spill = parts.join(DIRECTORY);
        let directory = owner_only::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spill)
            .with_context(|| format!("creating {}", spill.display()))?;
        let mut zip = ZipStream::new(output, directory);
        self.append_all(name, entries, zip_time(modified), &mut zip)?;
        tracing::debug!(operation = %name, entries = zip.entries(), "archive assembled");
        zip.finish()
    }

    /// Removes the parts and chunks kept for `name` (its archive is stored, or given up).
    pub(crate) fn forget_parts(&self, name: &str) {
        let _ = std::fs::remove_dir_all(self.parts_dir(name));
        if let Ok(folder) = self.working.folder(&name.into()) {
            self.packs.forget(&folder);
        }
    }

    /// Deflates one upload: in memory when it is small, kept there when it deflates
    /// small, put in the pack otherwise; a large one into a part file of its own.
    fn blob_part(
        &self,
        entry: &ArchiveEntry,
        name: &OperationId,
        number: u64,
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
        // Deflate only what it shrinks: a photo, a video or an archive goes in as it is.
        let deflating = head.len() <= SAMPLE || worth_deflating(&head)?;
        if head.len() as u64 <= IN_MEMORY_PART {
            let (found, bytes) = encode_in_memory(head, deflating)?;
            let data = if bytes.len() <= KEPT_IN_MEMORY {
                PartData::Memory(bytes)
            } else {
                PartData::Packed(self.packs.put(&self.working.folder(name)?, &bytes)?)
            };
            return Ok(Part::new(&entry.name, stamp, found, data));
        }
        let part = self.parts_dir(name).join(format!("blob-{number}.part"));
        let found = encode_to_file(&mut head.as_slice().chain(input), &part, deflating)
            .with_context(|| format!("packing upload {}", entry.name))?;
        Ok(Part::new(&entry.name, stamp, found, PartData::File(part)))
    }
}

impl ArchiveStore for ZipArchiveStore {
    /// Makes the chunks of `entry` that are final and not made yet (see [`chunks`]).
    /// Chunks are looked for from the newest back to the first one already there, so a
    /// file that grows batch by batch costs a look at its new chunks only.
    fn prepare(
        &self,
        operation_id: &OperationId,
        part: &WorkingRange,
        complete: bool,
    ) -> anyhow::Result<()> {
        let name = operation_id;
        check_archive_name(name)?;
        let (folder, source, plan) = self.chunk_plan(name, part, complete)?;
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
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let name = operation_id;
        check_archive_name(name)?;
        let path = self.root.join(format!("{name}.zip"));
        let temporary = self.root.join(format!(".{name}{PARTIAL}"));
        owner_only::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let file = owner_only::create(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        let writer = self.write_archive(
            name,
            entries,
            modified,
            BufWriter::with_capacity(1 << 20, file),
        )?;
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
