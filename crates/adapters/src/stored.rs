//! What operations leave on disk, as retention sees it: working folders under
//! `user_data.file_system_path` (one per operation id) and, under
//! `user_data.file_system_zip_path`, finished zips (`<id>.zip`) and the temporary files
//! of zips being written (`.<id>.zip.partial`, `.<id>.parts/`).
//!
//! Anything else found there is not ours and is never listed, so never removed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_ports::{StoredExports, StoredItem};

use crate::archive::zip_folder_entry;

/// The local working and zip folders.
#[derive(Debug, Clone)]
pub struct LocalStoredExports {
    working: PathBuf,
    zips: PathBuf,
}

impl LocalStoredExports {
    /// Looks after `working` (the export folders) and `zips` (the finished zips).
    pub fn new(working: impl AsRef<Path>, zips: impl AsRef<Path>) -> Self {
        Self {
            working: working.as_ref().to_path_buf(),
            zips: zips.as_ref().to_path_buf(),
        }
    }
}

/// Operation ids are Rocket.Chat-style random ids; anything else is not ours.
fn is_operation_id(name: &str) -> bool {
    crate::fs::is_plain_name(name)
}

fn entries(folder: &Path) -> anyhow::Result<Vec<(String, PathBuf, DateTime<Utc>)>> {
    let listing = match std::fs::read_dir(folder) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
    };
    let mut found = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .with_context(|| format!("reading {}", entry.path().display()))?;
        found.push((name, entry.path(), modified));
    }
    found.sort();
    Ok(found)
}

impl StoredExports for LocalStoredExports {
    fn list(&self) -> anyhow::Result<Vec<StoredItem>> {
        let mut items = Vec::new();
        for (name, path, modified) in entries(&self.working)? {
            if is_operation_id(&name) && path.is_dir() {
                items.push(StoredItem {
                    operation_id: name.into(),
                    path: path.to_string_lossy().into_owned(),
                    finished_zip: false,
                    modified,
                });
            }
        }
        for (name, path, modified) in entries(&self.zips)? {
            if let Some((id, finished_zip)) =
                zip_folder_entry(&name).filter(|(id, _)| is_operation_id(id))
            {
                items.push(StoredItem {
                    operation_id: id.to_owned().into(),
                    path: path.to_string_lossy().into_owned(),
                    finished_zip,
                    modified,
                });
            }
        }
        Ok(items)
    }

    fn remove(&self, item: &StoredItem) -> anyhow::Result<()> {
        let path = Path::new(&item.path);
        let parent = path.parent().unwrap_or(Path::new(""));
        anyhow::ensure!(
            parent == self.working || parent == self.zips,
            "{} is not in the export folders",
            item.path
        );
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", item.path))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_files_are_listed_and_foreign_ones_ignored() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (working, zips) = (dir.path().join("userData"), dir.path().join("zipFiles"));
        std::fs::create_dir_all(working.join("OP1/assets"))?;
        std::fs::write(working.join("notes.txt"), "not ours")?;
        std::fs::create_dir_all(working.join("with space"))?;
        std::fs::create_dir_all(zips.join(".OP2.parts"))?;
        std::fs::write(zips.join("OP3.zip"), "zip")?;
        std::fs::write(zips.join(".OP4.zip.partial"), "half")?;
        std::fs::write(zips.join("README"), "not ours")?;
        let stored = LocalStoredExports::new(&working, &zips);

        let listed: Vec<(String, bool)> = stored
            .list()?
            .into_iter()
            .map(|i| (i.operation_id.into_string(), i.finished_zip))
            .collect();
        assert_eq!(
            listed,
            [
                ("OP1".to_owned(), false),
                ("OP2".to_owned(), false),
                ("OP4".to_owned(), false),
                ("OP3".to_owned(), true)
            ]
        );
        for item in stored.list()? {
            stored.remove(&item)?;
            // Removing twice is fine.
            stored.remove(&item)?;
        }
        assert!(stored.list()?.is_empty());
        assert!(working.join("notes.txt").exists() && zips.join("README").exists());
        Ok(())
    }

    #[test]
    fn missing_folders_list_nothing_and_outside_paths_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let stored = LocalStoredExports::new(dir.path().join("a"), dir.path().join("b"));
        assert!(stored.list()?.is_empty());
        let outside = StoredItem {
            operation_id: "X".into(),
            path: dir.path().to_string_lossy().into_owned(),
            finished_zip: false,
            modified: Utc::now(),
        };
        assert!(stored.remove(&outside).is_err());
        assert!(dir.path().exists());
        Ok(())
    }
}
