//! Export working folders on the local filesystem.

use std::path::{Path, PathBuf};

use anyhow::Context;
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
        std::fs::create_dir_all(&paths.assets_path)
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
