//! Folders and files that only their owner can open.
//!
//! Everything udd keeps on disk is private: the database holds password hashes, zips
//! hold a user's messages, outbox mails hold bearer download links. So every folder it
//! creates is `0700` and every file `0600`, set explicitly rather than left to the
//! process umask (a umask of `000` would otherwise make them world-readable). The mode
//! given at creation is only ever narrowed by the umask, never widened, so these modes
//! hold whatever the umask is.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of every folder udd creates.
pub const FOLDER_MODE: u32 = 0o700;
/// The mode of every file udd creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents as `0700` folders; existing ones are left
/// as they are.
///
/// Errors: the underlying I/O error.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(FOLDER_MODE)
        .create(path)
}

/// Open options that create a missing file as `0600`.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates (or truncates) the file at `path` for writing, `0600` even when it existed
/// with a wider mode.
///
/// Errors: the underlying I/O error.
pub fn create(path: &Path) -> io::Result<File> {
    let file = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o777 != FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// Checks that files can be created in `folder` (created as `0700` when missing) by
/// writing and removing a probe file, so a folder that cannot work is reported when
/// the process starts rather than on the first export or mail.
///
/// Errors: the I/O error of the step that failed, saying which.
pub fn probe_writable(folder: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let probe = folder.join(format!(".udd-probe-{}", std::process::id()));
    let written = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut file| file.write_all(b"probe"));
    let removed = std::fs::remove_file(&probe);
    written.with_context(|| format!("cannot write into {}", folder.display()))?;
    removed.with_context(|| format!("cannot remove files from {}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn folders_and_files_are_for_their_owner_only() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let nested = dir.path().join("a/b/c");
        create_dir_all(&nested)?;
        for folder in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(folder)), 0o700, "{folder}");
        }
        let file = nested.join("f");
        std::fs::write(&file, b"x")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))?;
        create(&file)?.write_all(b"y")?;
        assert_eq!(mode(&file), 0o600, "an existing file is narrowed too");
        assert_eq!(std::fs::read(&file)?, b"y");
        Ok(())
    }

    #[test]
    fn a_probe_leaves_nothing_behind_and_names_a_folder_that_cannot_be_written(
    ) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        probe_writable(&dir.path().join("new"))?;
        assert_eq!(std::fs::read_dir(dir.path().join("new"))?.count(), 0);
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x")?;
        let err = probe_writable(&file.join("under")).unwrap_err();
        assert!(format!("{err:#}").contains("plain-file/under"), "{err:#}");
        Ok(())
    }
}
