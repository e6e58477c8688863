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

/// Zips written with deflate, entries in the given order and with fixed timestamps, so
/// the same export folder always gives the same bytes, whatever the thread timing.
/// Archives are keyed `exports/<operation id>.zip` and kept as `<root>/<operation id>.zip`.
#[derive(Clone)]
pub struct ZipArchiveStore {
    root: PathBuf,
    working: LocalExportFiles,
    blobs: Arc<dyn BlobStore>,
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

/// Deflates one file into a single-entry zip at `part`.
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

/// Uploads up to this size are compressed in memory rather than through a part file:
/// an export can hold thousands of small uploads, and a file each costs more than the
/// compression.
const IN_MEMORY_PART: u64 = 4 << 20;

/// A compressed single-entry zip, on disk or in memory.
pub(crate) enum Part {
    File(PathBuf),
    Memory(Vec<u8>),
}

/// How every entry of an archive is written: deflated, stamped, readable by all.
pub(crate) fn entry_options(stamp: zip::DateTime, size: u64) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
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
            Part::Memory(bytes) => {
                let mut single = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
                zip.raw_copy_file(single.by_index_raw(0)?)?;
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

    /// The compressed part of `entry` as it is when `len` bytes long. Entries only ever
    /// grow until they are final, so name and length identify the content.
    fn part_path(&self, name: &str, entry: &str, len: u64) -> PathBuf {
        self.parts_dir(name)
            .join(format!("{}-{len}.zip", hex::encode(entry.as_bytes())))
    }

    /// Compresses `entry` into its part unless that part already exists.
    fn ensure_part(
        &self,
        name: &str,
        source: &Path,
        entry: &str,
        stamp: zip::DateTime,
    ) -> anyhow::Result<PathBuf> {
        let len = std::fs::metadata(source)
            .with_context(|| format!("reading {}", source.display()))?
            .len();
        let part = self.part_path(name, entry, len);
        if !part.is_file() {
            owner_only::create_dir_all(&self.parts_dir(name))?;
            let temporary = part.with_extension("partial");
            let mut input =
                File::open(source).with_context(|| format!("reading {}", source.display()))?;
            compress_part(&mut input, len, entry, &temporary, stamp)?;
            std::fs::rename(&temporary, &part)?;
        }
        Ok(part)
    }

    /// Compresses every entry into its own single-entry part, in parallel (one thread
    /// per core, largest entries first), reusing parts made ahead by `prepare`; the
    /// parts come back in entry order, ready for [`assemble`].
    pub(crate) fn compress(
        &self,
        operation_id: &OperationId,
        entries: &[ArchiveEntry],
        modified: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Part>> {
        let name = operation_id;
        Self::check_name(name)?;
        for entry in entries {
            // Entry names obey the working-folder rule: relative, no `..`, no hidden parts.
            inside(Path::new(""), &entry.name)?;
        }
        let size = |entry: &ArchiveEntry| match &entry.source {
            ArchiveSource::Working(file) => self
                .working
                .file(name, file)
                .ok()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len()),
            ArchiveSource::Blob(_) => 0,
        };
        let stamp = zip_time(modified);

        // Largest first, handed out one at a time, so the cores finish together.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(size(&entries[i])));
        let next = std::sync::Mutex::new(order.into_iter());
        let parts: std::sync::Mutex<Vec<Option<Part>>> =
            std::sync::Mutex::new((0..entries.len()).map(|_| None).collect());
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(entries.len().max(1));
        let lock_failed = || anyhow::anyhow!("a compressing thread panicked");
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let Some(i) = next.lock().map_err(|_| lock_failed())?.next() else {
                                return Ok(());
                            };
                            let part = self.part_for(&entries[i], name, i, stamp)?;
                            parts.lock().map_err(|_| lock_failed())?[i] = Some(part);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().map_err(|_| lock_failed())??;
            }
            Ok(())
        })?;
        let parts = parts.into_inner().map_err(|_| lock_failed())?;
        parts
            .into_iter()
            .map(|part| part.context("an entry was not compressed"))
            .collect()
    }

    /// Removes the parts kept for `name` (its archive is stored, or given up).
    pub(crate) fn forget_parts(&self, name: &str) {
        let _ = std::fs::remove_dir_all(self.parts_dir(name));
    }

    /// Compresses one entry, from wherever its bytes are.
    fn part_for(
        &self,
        entry: &ArchiveEntry,
        name: &OperationId,
        index: usize,
        stamp: zip::DateTime,
    ) -> anyhow::Result<Part> {
        match &entry.source {
            ArchiveSource::Working(file) => {
                let source = self.working.file(name, file)?;
                self.ensure_part(name, &source, &entry.name, stamp)
                    .map(Part::File)
            }
            ArchiveSource::Blob(key) => {
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
                    return Ok(Part::Memory(buffer.into_inner()));
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
    }
}

impl ArchiveStore for ZipArchiveStore {
    /// Entries are deflated in parallel, one thread per core, each into a single-entry
    /// part; the parts are then copied, still compressed, into the archive in order.
    fn prepare(
        &self,
        operation_id: &OperationId,
        entry: &str,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let name = operation_id;
        Self::check_name(name)?;
        let source = self.working.file(name, entry)?;
        self.ensure_part(name, &source, entry, zip_time(modified))
            .map(|_| ())
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
mod tests {
    use super::*;
    use crate::blobs::LocalBlobStore;
    use udd_ports::{BlobKind, ExportFiles};

    fn working(name: &str) -> ArchiveEntry {
        ArchiveEntry {
            name: name.to_owned(),
            source: ArchiveSource::Working(name.to_owned()),
        }
    }

    fn store_in(
        dir: &tempfile::TempDir,
    ) -> (ZipArchiveStore, LocalExportFiles, Arc<LocalBlobStore>) {
        let blobs = Arc::new(LocalBlobStore::new(dir.path().join("blobs")));
        let files = LocalExportFiles::new(dir.path().join("work"));
        (
            ZipArchiveStore::new(dir.path().join("zips"), files.clone(), blobs.clone()),
            files,
            blobs,
        )
    }

    fn read_all(store: &ZipArchiveStore, key: &str, range: Option<ByteRange>) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut read = store.open(key, range).unwrap().expect("stored");
        read.body.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, read.len);
        bytes
    }

    #[test]
    fn the_same_entries_zip_to_the_same_bytes_in_order_from_folder_and_blobs() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let (store, files, blobs) = store_in(&dir);
        files.write(&"OP".into(), "b.txt", b"bbb")?;
        let key = blobs.put(BlobKind::Upload, "F1", &mut &b"aaa"[..])?;
        let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
        let entries = vec![
            working("b.txt"),
            ArchiveEntry {
                name: "assets/F1-a.png".into(),
                source: ArchiveSource::Blob(key),
            },
        ];
        let first = store.store(&"OP".into(), &entries, at)?;
        assert_eq!(first, "exports/OP.zip");
        let (size, sha) = store.describe(&first)?;
        let second = store.store(&"OP".into(), &entries, at)?;
        assert_eq!(store.describe(&second)?, (size, sha));
        assert!(!dir.path().join("zips/.OP.zip.partial").exists());

        let mut archive = zip::ZipArchive::new(File::open(store.path_of(&first)?)?)?;
        assert_eq!(
            archive.file_names().collect::<Vec<_>>(),
            ["b.txt", "assets/F1-a.png"]
        );
        let mut text = String::new();
        archive
            .by_name("assets/F1-a.png")?
            .read_to_string(&mut text)?;
        assert_eq!(text, "aaa");
        store.remove(&first)?;
        store.remove(&first)?;
        assert!(store.describe(&first).is_err());
        assert!(store.open(&first, None)?.is_none());

        // Nothing outside the store is removed, whatever a record says.
        let outside = dir.path().join("work/keep.zip");
        std::fs::write(&outside, "not ours")?;
        for key in [
            outside.to_string_lossy().into_owned(),
            "exports/../work/keep.zip".to_owned(),
            "exports/.zip".to_owned(),
            "uploads/F1".to_owned(),
        ] {
            assert!(store.remove(&key).is_err(), "{key}");
            assert!(store.open(&key, None).is_err(), "{key}");
        }
        assert!(outside.exists());
        Ok(())
    }

    #[test]
    fn an_archive_opens_whole_or_by_range_and_never_past_its_end() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (store, files, _) = store_in(&dir);
        files.write(&"OP".into(), "a.txt", &[7_u8; 5000])?;
        let key = store.store(&"OP".into(), &[working("a.txt")], DateTime::UNIX_EPOCH)?;
        let whole = std::fs::read(store.path_of(&key)?)?;
        assert_eq!(store.size(&key)?, Some(whole.len() as u64));
        assert_eq!(store.size("exports/none.zip")?, None);
        assert_eq!(read_all(&store, &key, None), whole);
        let range = ByteRange { start: 10, len: 20 };
        assert_eq!(read_all(&store, &key, Some(range)), &whole[10..30]);
        let total = whole.len() as u64;
        let tail = ByteRange {
            start: total - 1,
            len: 1,
        };
        assert_eq!(
            read_all(&store, &key, Some(tail)),
            &whole[whole.len() - 1..]
        );
        let past = ByteRange {
            start: total,
            len: 1,
        };
        assert!(store.open(&key, Some(past)).is_err());
        let huge = ByteRange {
            start: 1,
            len: u64::MAX,
        };
        assert!(store.open(&key, Some(huge)).is_err());
        Ok(())
    }

    #[test]
    fn a_prepared_entry_is_reused_only_while_the_file_is_unchanged() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (store, files, _) = store_in(&dir);
        let at = DateTime::UNIX_EPOCH;
        files.write(&"OP".into(), "room.json", b"first")?;
        store.prepare(&"OP".into(), "room.json", at)?;
        files.write(&"OP".into(), "room.json", b"first, then more")?;
        let zip = store.store(&"OP".into(), &[working("room.json")], at)?;
        let mut text = String::new();
        zip::ZipArchive::new(File::open(store.path_of(&zip)?)?)?
            .by_name("room.json")?
            .read_to_string(&mut text)?;
        assert_eq!(
            text, "first, then more",
            "a part of an older, shorter file is not used"
        );
        assert!(
            !dir.path().join("zips/.OP.parts").exists(),
            "parts are cleaned up"
        );
        Ok(())
    }

    #[test]
    fn entries_and_names_outside_the_folder_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (store, _, _) = store_in(&dir);
        let at = DateTime::UNIX_EPOCH;
        assert!(store
            .store(&"OP".into(), &[working("../secret")], at)
            .is_err());
        let escaping = ArchiveEntry {
            name: "../x".into(),
            source: ArchiveSource::Blob("uploads/F1".into()),
        };
        assert!(store.store(&"OP".into(), &[escaping], at).is_err());
        assert!(store.store(&"../OP".into(), &[], at).is_err());
        Ok(())
    }
}
