//! Export working folders on the local filesystem.

use std::path::{Path, PathBuf};

use anyhow::Context;
use udd_domain::render::ManifestFile;
use udd_domain::ExportPaths;
use udd_ports::ExportFolders;

/// Keeps each operation's files under `<root>/<operation id>/`.
#[derive(Debug, Clone)]
pub struct LocalExportFolders {
    root: PathBuf,
}

impl LocalExportFolders {
    /// Folders under `root` (`user_data.file_system_path`). A relative root is made
    /// absolute against the working directory, so recorded paths stay valid.
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Self { root }
    }
}

impl ExportFolders for LocalExportFolders {
    fn paths_for(&self, operation_id: &str) -> ExportPaths {
        let export = self.root.join(operation_id);
        ExportPaths {
            export_path: export.to_string_lossy().into_owned(),
            assets_path: export.join("assets").to_string_lossy().into_owned(),
        }
    }

    fn create(&self, paths: &ExportPaths) -> anyhow::Result<()> {
        crate::owner_only::create_dir_all(Path::new(&paths.assets_path))
            .with_context(|| format!("creating export folder {}", paths.assets_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_export_and_assets_folders_under_the_root() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let folders = LocalExportFolders::new(dir.path().join("userData"));
        let paths = folders.paths_for("OP1");
        assert_eq!(
            Path::new(&paths.export_path),
            dir.path().join("userData/OP1")
        );
        assert_eq!(
            Path::new(&paths.assets_path),
            dir.path().join("userData/OP1/assets")
        );
        folders.create(&paths)?;
        folders.create(&paths)?;
        assert!(Path::new(&paths.assets_path).is_dir());
        Ok(())
    }

    #[test]
    fn a_relative_root_is_recorded_as_an_absolute_path() {
        let paths = LocalExportFolders::new("data/userData").paths_for("OP1");
        assert!(Path::new(&paths.export_path).is_absolute());
    }

    #[test]
    fn an_unwritable_root_is_an_error_not_a_panic() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x")?;
        let folders = LocalExportFolders::new(&file);
        assert!(folders.create(&folders.paths_for("OP1")).is_err());
        Ok(())
    }
}

/// The files of export working folders on the local filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExportFiles;

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
    fn append(
        &self,
        paths: &ExportPaths,
        name: &str,
        committed_len: u64,
        bytes: &[u8],
    ) -> anyhow::Result<u64> {
        use std::io::{Seek, SeekFrom, Write};
        let path = inside(Path::new(&paths.export_path), name)?;
        if let Some(parent) = path.parent() {
            crate::owner_only::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = crate::owner_only::options()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let on_disk = file.metadata()?.len();
        anyhow::ensure!(
            on_disk >= committed_len,
            "{} is shorter ({on_disk} bytes) than its committed length ({committed_len}): the export folder was altered",
            path.display()
        );
        // Whatever lies past the committed length was written by a batch that never
        // committed: it is written again now, so it goes.
        file.set_len(committed_len)?;
        file.seek(SeekFrom::Start(committed_len))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("syncing {}", path.display()))?;
        Ok(committed_len + bytes.len() as u64)
    }

    fn write(&self, paths: &ExportPaths, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let mut content = bytes;
        self.write_from(paths, name, &mut content).map(|_| ())
    }

    fn write_from(
        &self,
        paths: &ExportPaths,
        name: &str,
        content: &mut dyn std::io::Read,
    ) -> anyhow::Result<u64> {
        // No temporary name, rename or sync here: the engine rewrites whole files of the
        // working folder whenever it resumes a stage, and syncs them all before it
        // commits the stage, so a torn file never survives.
        let path = inside(Path::new(&paths.export_path), name)?;
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

    fn sync(&self, paths: &ExportPaths) -> anyhow::Result<()> {
        // One filesystem-wide flush instead of one per file: an export may hold
        // thousands of uploads, and a sync each would dominate the time.
        sync_filesystem(Path::new(&paths.export_path))
    }

    fn list(&self, paths: &ExportPaths) -> anyhow::Result<Vec<ManifestFile>> {
        let root = Path::new(&paths.export_path);
        let mut files = Vec::new();
        collect(root, root, &mut files)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn remove_all(&self, paths: &ExportPaths) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(&paths.export_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", paths.export_path))
            }
            _ => Ok(()),
        }
    }
}

/// Adds every visible file under `dir` with its size and SHA-256 (temporary `.partial`
/// files and other hidden names are not part of an export).
fn collect(root: &Path, dir: &Path, out: &mut Vec<ManifestFile>) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
            continue;
        }
        let mut file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        out.push(ManifestFile {
            path: relative,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use udd_ports::ExportFiles;

    fn paths(dir: &tempfile::TempDir) -> ExportPaths {
        LocalExportFolders::new(dir.path()).paths_for("OP")
    }

    #[test]
    fn append_cuts_back_to_the_committed_length_before_writing() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = paths(&dir);
        let files = LocalExportFiles;
        let len = files.append(&p, "room.json", 0, b"one\n")?;
        assert_eq!(len, 4);
        // A batch that was written but never committed…
        files.append(&p, "room.json", 4, b"two\n")?;
        // …is replaced on resume, which starts again from the committed length.
        let len = files.append(&p, "room.json", 4, b"TWO\n")?;
        assert_eq!(len, 8);
        assert_eq!(
            std::fs::read_to_string(Path::new(&p.export_path).join("room.json"))?,
            "one\nTWO\n"
        );
        assert!(
            files.append(&p, "room.json", 100, b"x").is_err(),
            "a file shorter than committed is an error"
        );
        Ok(())
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = paths(&dir);
        for name in [
            "../x",
            "/etc/passwd",
            "assets/../../x",
            "",
            ".hidden",
            "a//b",
            "a\\..\\b",
        ] {
            assert!(LocalExportFiles.write(&p, name, b"x").is_err(), "{name:?}");
        }
        assert!(!dir.path().join("x").exists());
        Ok(())
    }

    #[test]
    fn list_hashes_every_visible_file_sorted_and_skips_partials() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = paths(&dir);
        let files = LocalExportFiles;
        files.write(&p, "user.json", b"{}")?;
        files.write(&p, "assets/F1-a.png", b"png")?;
        std::fs::write(Path::new(&p.export_path).join(".x.partial"), b"junk")?;
        let listed = files.list(&p)?;
        assert_eq!(
            listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["assets/F1-a.png", "user.json"]
        );
        assert_eq!(listed[1].size, 2);
        assert_eq!(
            listed[1].sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        files.remove_all(&p)?;
        files.remove_all(&p)?;
        assert!(!Path::new(&p.export_path).exists());
        Ok(())
    }
}
