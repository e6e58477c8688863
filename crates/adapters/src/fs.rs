//! Export working folders on the local filesystem: the one place where a running
//! export keeps files on the worker's own disk.

use std::path::{Path, PathBuf};
use udd_domain::OperationId;

use anyhow::Context;
use udd_domain::render::ManifestFile;
use udd_ports::{ByteRange, WorkingRange};

/// Keeps each operation's working files under `<root>/<operation id>/`.
#[derive(Debug, Clone)]
pub struct LocalExportFiles {
    root: PathBuf,
    /// Who this process is, written into the folders it adopts.
    instance: String,
}

/// The hidden file of a working folder naming the process that adopted it.
const INSTANCE_MARK: &str = ".instance";

impl LocalExportFiles {
    /// Working folders under `root` (`user_data.file_system_path`). A relative root is
    /// made absolute against the working directory.
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Self {
            root,
            instance: crate::system::process_mark().to_owned(),
        }
    }

    /// The same folders, adopted in the name of `instance` instead of this process's
    /// [`process_mark`](crate::system::process_mark).
    pub fn for_instance(mut self, instance: &str) -> Self {
        instance.clone_into(&mut self.instance);
        self
    }

    /// The working folder of `operation_id`, provided the id is a plain name.
    pub fn folder(&self, operation_id: &OperationId) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            is_plain_name(operation_id),
            "refusing operation id `{operation_id}`: not a plain name"
        );
        Ok(self.root.join(operation_id.as_str()))
    }

    /// `name` inside the working folder of `operation_id`.
    pub(crate) fn file(&self, operation_id: &OperationId, name: &str) -> anyhow::Result<PathBuf> {
        inside(&self.folder(operation_id)?, name)
    }
}

/// Ids become file names: only letters, digits, `-` and `_`, so no id can name a path.
pub(crate) fn is_plain_name(id: &str) -> bool {
    udd_domain::is_plain_id(id)
}

/// Resolves a relative name inside the export folder, refusing anything that could
/// leave it (absolute paths, `..`, empty or hidden components).
pub(crate) fn inside(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let mut path = root.to_path_buf();
    let mut components = 0;
    for component in name.split('/') {
        anyhow::ensure!(
            !component.is_empty()
                && component != "."
                && component != ".."
                && !component.starts_with('.')
                && !component.contains('\\'),
            "refusing export file name `{name}`"
        );
        path.push(component);
        components += 1;
    }
    anyhow::ensure!(components > 0, "refusing an empty export file name");
    Ok(path)
}

/// Writes `content` beside `path` and renames it into place.
pub(crate) fn write_atomically(
    path: &Path,
    content: &mut dyn std::io::Read,
) -> anyhow::Result<u64> {
    use std::io::Write;
    let parent = path.parent().context("a file needs a folder")?;
    if !parent.is_dir() {
        crate::owner_only::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let name = path
        .file_name()
        .context("a file needs a name")?
        .to_string_lossy();
    let temporary = parent.join(format!(".{name}.partial"));
    let mut file = crate::owner_only::create(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    let size = std::io::copy(content, &mut file)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.flush()?;
    // The rename makes the file appear whole or not at all; durability is the caller's
    // one filesystem-wide sync at the end of a bulk load, not a sync per file.
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(size)
}

/// Flushes the whole filesystem holding `folder` (one call instead of one per file).
pub(crate) fn sync_filesystem(folder: &Path) -> anyhow::Result<()> {
    let handle =
        std::fs::File::open(folder).with_context(|| format!("opening {}", folder.display()))?;
    rustix::fs::syncfs(&handle).with_context(|| format!("syncing {}", folder.display()))
}

impl udd_ports::ExportFiles for LocalExportFiles {
    fn prepare(&self, operation_id: &OperationId) -> anyhow::Result<()> {
        let assets = self.folder(operation_id)?.join("assets");
        crate::owner_only::create_dir_all(&assets)
            .with_context(|| format!("creating export folder {}", assets.display()))
    }

    fn adopt(&self, operation_id: &OperationId) -> anyhow::Result<bool> {
        let folder = self.folder(operation_id)?;
        let mark = folder.join(INSTANCE_MARK);
        if std::fs::read_to_string(&mark).is_ok_and(|owner| owner == self.instance) {
            return Ok(true);
        }
        // Whatever is here was written by another process: removed, never reused. A
        // process that still holds one of these files open writes into a file that is
        // no longer anyone's.
        self.remove_all(operation_id)?;
        self.prepare(operation_id)?;
        let mut file = crate::owner_only::create(&mark)
            .with_context(|| format!("creating {}", mark.display()))?;
        std::io::Write::write_all(&mut file, self.instance.as_bytes())
            .with_context(|| format!("writing {}", mark.display()))?;
        Ok(false)
    }

    fn append(
        &self,
        operation_id: &OperationId,
        name: &str,
        committed_len: u64,
        bytes: &[u8],
    ) -> anyhow::Result<u64> {
        use std::os::unix::fs::FileExt;
        let path = self.file(operation_id, name)?;
        let open = || {
            crate::owner_only::options()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
        };
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    crate::owner_only::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                open()
            }
            opened => opened,
        }
        .with_context(|| format!("opening {}", path.display()))?;
        let on_disk = file.metadata()?.len();
        anyhow::ensure!(
            on_disk >= committed_len,
            "{} is shorter ({on_disk} bytes) than its committed length ({committed_len}): the export folder was altered",
            path.display()
        );
        // Whatever lies past the committed length was written by a batch that never
        // committed: it is written again now, so it goes. Only then: cutting a file
        // to its own length still costs a truncation, and ext4 flushes a file cut to
        // nothing when it is closed.
        if on_disk > committed_len {
            file.set_len(committed_len)?;
        }
        // No sync: see `ExportFiles` on why nothing here needs to reach the disk.
        file.write_all_at(bytes, committed_len)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(committed_len + bytes.len() as u64)
    }

    fn write(&self, operation_id: &OperationId, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let mut content = bytes;
        self.write_from(operation_id, name, &mut content)
            .map(|_| ())
    }

    fn write_from(
        &self,
        operation_id: &OperationId,
        name: &str,
        content: &mut dyn std::io::Read,
    ) -> anyhow::Result<u64> {
        // No temporary name, rename or sync here: the engine rewrites whole files of the
        // working folder whenever it resumes a stage, and no other process ever reads
        // them (see `ExportFiles`), so a torn file never survives.
        let path = self.file(operation_id, name)?;
        // A stat is far cheaper than a mkdir that fails, and exports write thousands of
        // uploads into the same folder.
        if let Some(parent) = path.parent().filter(|p| !p.is_dir()) {
            crate::owner_only::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = crate::owner_only::create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::io::copy(content, &mut file).with_context(|| format!("writing {}", path.display()))
    }

    fn open(
        &self,
        operation_id: &OperationId,
        name: &str,
    ) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
        let path = self.file(operation_id, name)?;
        let file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Box::new(file))
    }

    fn list(
        &self,
        operation_id: &OperationId,
        leave_out: &[&str],
        ranges: &[(String, WorkingRange)],
    ) -> anyhow::Result<Vec<ManifestFile>> {
        let root = self.folder(operation_id)?;
        let mut listed = Vec::new();
        collect(&root, &root, leave_out, &mut listed)?;
        for (name, part) in ranges {
            listed.push(Listed {
                name: name.clone(),
                path: self.file(operation_id, &part.file)?,
                range: Some(part.range),
            });
        }
        let mut files = hash_all(&listed)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn remove_all(&self, operation_id: &OperationId) -> anyhow::Result<()> {
        let folder = self.folder(operation_id)?;
        match std::fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", folder.display()))
            }
            _ => Ok(()),
        }
    }
}

/// A file to list: its name in the listing, where it is, and which of its bytes
/// (`None`: all).
struct Listed {
    name: String,
    path: PathBuf,
    range: Option<ByteRange>,
}

/// Adds every visible file under `dir` to `out`, named relative to `root`, but those
/// `leave_out` names (temporary `.partial` files and other hidden names are not part of
/// an export either).
fn collect(
    root: &Path,
    dir: &Path,
    leave_out: &[&str],
    out: &mut Vec<Listed>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let folder = entry.file_type()?.is_dir();
        let left_out = leave_out.iter().any(|out| {
            out.strip_suffix('/')
                .map_or(*out == name, |left| folder && left == name)
        });
        if left_out {
            continue;
        }
        if folder {
            collect(root, &path, leave_out, out)?;
        } else {
            out.push(Listed {
                name,
                path,
                range: None,
            });
        }
    }
    Ok(())
}

/// Threads hashing a working folder: an export's room files are hundreds of megabytes.
const HASHING_THREADS: usize = 2;

/// The size and SHA-256 of each of `listed`, on [`HASHING_THREADS`] threads (in no
/// particular order).
fn hash_all(listed: &[Listed]) -> anyhow::Result<Vec<ManifestFile>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let hash = |listed: &Listed| -> anyhow::Result<ManifestFile> {
        let path = &listed.path;
        let mut file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let (size, sha256) = match listed.range {
            None => crate::hashing::sha256_of(&mut file),
            Some(range) => {
                let total = file.metadata()?.len();
                let (range, _) = ByteRange::inside(Some(range), total, &listed.name)?;
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(range.start))?;
                crate::hashing::sha256_of(&mut std::io::Read::take(file, range.len))
            }
        }
        .with_context(|| format!("reading {}", path.display()))?;
        Ok(ManifestFile {
            path: listed.name.clone(),
            size,
            sha256,
        })
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..HASHING_THREADS.min(listed.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut hashed = Vec::new();
                    while let Some(one) =
                        listed.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    {
                        hashed.push(hash(one)?);
                    }
                    Ok(hashed)
                })
            })
            .collect();
        let mut files = Vec::with_capacity(listed.len());
        for worker in workers {
            let hashed: anyhow::Result<Vec<ManifestFile>> = worker
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("hashing the working folder failed")));
            files.extend(hashed?);
        }
        Ok(files)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_ports::ExportFiles;

    #[test]
    fn prepare_creates_the_export_and_assets_folders_under_the_root() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = LocalExportFiles::new(dir.path().join("userData"));
        assert_eq!(
            files.folder(&"OP1".into())?,
            dir.path().join("userData/OP1")
        );
        files.prepare(&"OP1".into())?;
        files.prepare(&"OP1".into())?;
        assert!(dir.path().join("userData/OP1/assets").is_dir());
        assert!(LocalExportFiles::new("data/userData")
            .folder(&"OP1".into())?
            .is_absolute());
        for bad in ["", "..", "a/b", "a.b"] {
            assert!(files.prepare(&(*bad).into()).is_err(), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn an_unwritable_root_is_an_error_not_a_panic() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x")?;
        assert!(LocalExportFiles::new(&file).prepare(&"OP1".into()).is_err());
        Ok(())
    }

    #[test]
    fn append_cuts_back_to_the_committed_length_before_writing() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = LocalExportFiles::new(dir.path());
        let len = files.append(&"OP".into(), "room.json", 0, b"one\n")?;
        assert_eq!(len, 4);
        // A batch that was written but never committed…
        files.append(&"OP".into(), "room.json", 4, b"two\n")?;
        // …is replaced on resume, which starts again from the committed length.
        let len = files.append(&"OP".into(), "room.json", 4, b"TWO\n")?;
        assert_eq!(len, 8);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("OP/room.json"))?,
            "one\nTWO\n"
        );
        assert!(
            files.append(&"OP".into(), "room.json", 100, b"x").is_err(),
            "a file shorter than committed is an error"
        );
        Ok(())
    }

    #[test]
    fn a_folder_is_trusted_only_by_the_process_that_adopted_it() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let before = LocalExportFiles::new(dir.path()).for_instance("FIRST");
        let after = LocalExportFiles::new(dir.path()).for_instance("SECOND");
        let op: OperationId = "OP".into();
        assert!(!before.adopt(&op)?, "a missing folder is not trusted");
        before.append(&op, "room.json", 0, b"one\n")?;
        assert!(before.adopt(&op)?, "its own folder is");
        assert!(!after.adopt(&op)?, "another process's is not");
        assert!(!dir.path().join("OP/room.json").exists(), "and is emptied");
        assert!(dir.path().join("OP/assets").is_dir());
        assert!(after.adopt(&op)?);
        assert!(
            after.list(&op, &[], &[])?.is_empty(),
            "the mark is not part of an export"
        );
        Ok(())
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = LocalExportFiles::new(dir.path());
        for name in [
            "../x",
            "/etc/passwd",
            "assets/../../x",
            "",
            ".hidden",
            "a//b",
            "a\\..\\b",
        ] {
            assert!(files.write(&"OP".into(), name, b"x").is_err(), "{name:?}");
        }
        assert!(!dir.path().join("x").exists());
        Ok(())
    }

    #[test]
    fn list_hashes_every_visible_file_sorted_and_skips_partials() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = LocalExportFiles::new(dir.path());
        files.write(&"OP".into(), "user.json", b"{}")?;
        files.write(&"OP".into(), "assets/F1-a.png", b"png")?;
        std::fs::write(dir.path().join("OP/.x.partial"), b"junk")?;
        let listed = files.list(&"OP".into(), &[], &[])?;
        assert_eq!(
            listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["assets/F1-a.png", "user.json"]
        );
        assert_eq!(listed[1].size, 2);
        assert_eq!(
            listed[1].sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        files.remove_all(&"OP".into())?;
        files.remove_all(&"OP".into())?;
        assert!(!dir.path().join("OP").exists());
        Ok(())
    }

    #[test]
    fn list_leaves_out_what_it_is_told_and_lists_ranges_as_files() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = LocalExportFiles::new(dir.path());
        let op = OperationId::from("OP");
        files.write(&op, "user.json", b"{}")?;
        files.write(&op, "manifest.json", b"[]")?;
        files.write(&op, "pages/R1.html", b"firstsecond")?;
        files.write(&op, "pagesake.html", b"kept")?;
        let part = |start, len| WorkingRange {
            file: "pages/R1.html".into(),
            range: ByteRange { start, len },
        };
        let ranges = [
            ("R1.html".to_owned(), part(0, 5)),
            ("R1-2.html".to_owned(), part(5, 6)),
        ];
        let listed = files.list(&op, &["manifest.json", "pages/"], &ranges)?;
        assert_eq!(
            listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["R1-2.html", "R1.html", "pagesake.html", "user.json"]
        );
        let second = crate::hashing::sha256_of(&mut &b"second"[..])?;
        assert_eq!((listed[0].size, listed[0].sha256.clone()), second);
        assert_eq!(listed[1].size, 5);
        // A range past the end of its file is an error, not a short entry.
        let past = [("R1-3.html".to_owned(), part(5, 7))];
        assert!(files.list(&op, &["pages/"], &past).is_err());
        Ok(())
    }
}
