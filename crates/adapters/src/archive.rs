//! Finished zips in a local folder (`user_data.file_system_zip_path`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Datelike, Timelike, Utc};
use sha2::{Digest, Sha256};
use udd_domain::ExportPaths;
use udd_ports::ArchiveStore;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::fs::inside;

/// Zips written with deflate, entries in the given order and with fixed timestamps, so
/// the same export folder always gives the same bytes, whatever the thread timing.
#[derive(Debug, Clone)]
pub struct ZipArchiveStore {
    root: PathBuf,
}

impl ZipArchiveStore {
    /// Zips under `root` (created on first write).
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        Self {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
        }
    }
}

fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
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
fn compress_part(source: &Path, entry: &str, part: &Path, stamp: zip::DateTime) -> anyhow::Result<()> {
    let mut input = File::open(source).with_context(|| format!("reading {}", source.display()))?;
    let size = input.metadata()?.len();
    let output = File::create(part).with_context(|| format!("creating {}", part.display()))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, output));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(stamp)
        .unix_permissions(0o644)
        .large_file(size >= u64::from(u32::MAX));
    zip.start_file(entry, options)?;
    std::io::copy(&mut input, &mut zip).with_context(|| format!("compressing {}", source.display()))?;
    zip.finish()?.flush()?;
    Ok(())
}

impl ArchiveStore for ZipArchiveStore {
    /// Entries are deflated in parallel, one thread per core, each into a single-entry
    /// part; the parts are then copied, still compressed, into the archive in order.
    fn store(&self, paths: &ExportPaths, entries: &[String], name: &str, modified: DateTime<Utc>) -> anyhow::Result<String> {
        anyhow::ensure!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "refusing archive name `{name}`"
        );
        let sources = entries
            .iter()
            .map(|entry| inside(Path::new(&paths.export_path), entry))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let parts_dir = self.root.join(format!(".{name}.parts"));
        std::fs::create_dir_all(&parts_dir).with_context(|| format!("creating {}", parts_dir.display()))?;
        let parts: Vec<PathBuf> = (0..entries.len()).map(|i| parts_dir.join(format!("{i}.zip"))).collect();
        let stamp = zip_time(modified);

        // Largest first, handed out one at a time, so the cores finish together.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(std::fs::metadata(&sources[i]).map(|m| m.len()).unwrap_or(0)));
        let next = std::sync::Mutex::new(order.into_iter());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(entries.len().max(1));
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let Some(i) = next.lock().map_err(|_| anyhow::anyhow!("a compressing thread panicked"))?.next() else {
                                return Ok(());
                            };
                            compress_part(&sources[i], &entries[i], &parts[i], stamp)?;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().map_err(|_| anyhow::anyhow!("a compressing thread panicked"))??;
            }
            Ok(())
        })?;

        let path = self.root.join(format!("{name}.zip"));
        let temporary = self.root.join(format!(".{name}.zip.partial"));
        let file = File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        for part in &parts {
            let mut single = zip::ZipArchive::new(File::open(part)?).with_context(|| format!("reading {}", part.display()))?;
            zip.raw_copy_file(single.by_index_raw(0)?)?;
        }
        let mut writer = zip.finish().context("finishing the zip")?;
        writer.flush()?;
        let file = writer.into_inner().map_err(|e| anyhow::anyhow!("flushing the zip: {e}"))?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path).with_context(|| format!("storing {}", path.display()))?;
        let _ = std::fs::remove_dir_all(&parts_dir);
        Ok(path.to_string_lossy().into_owned())
    }

    fn describe(&self, path: &str) -> anyhow::Result<(u64, String)> {
        let mut file = File::open(path).with_context(|| format!("opening {path}"))?;
        let mut hasher = Sha256::new();
        let size =
            std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {path}"))?;
        Ok((size, hex::encode(hasher.finalize())))
    }

    fn remove(&self, path: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {path}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{LocalExportFiles, LocalExportFolders};
    use std::io::Read;
    use udd_ports::{ExportFiles, ExportFolders};

    #[test]
    fn the_same_folder_zips_to_the_same_bytes_with_entries_in_order() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let paths = LocalExportFolders::new(dir.path().join("work")).paths_for("OP");
        LocalExportFiles.write(&paths, "b.txt", b"bbb")?;
        LocalExportFiles.write(&paths, "assets/a.png", b"aaa")?;
        let store = ZipArchiveStore::new(dir.path().join("zips"));
        let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
        let entries = vec!["b.txt".to_owned(), "assets/a.png".to_owned()];
        let first = store.store(&paths, &entries, "OP", at)?;
        let (size, sha) = store.describe(&first)?;
        let second = store.store(&paths, &entries, "OP", at)?;
        assert_eq!(store.describe(&second)?, (size, sha));
        assert!(!dir.path().join("zips/.OP.zip.partial").exists());

        let mut archive = zip::ZipArchive::new(File::open(&first)?)?;
        assert_eq!(
            archive.file_names().collect::<Vec<_>>(),
            ["b.txt", "assets/a.png"]
        );
        let mut text = String::new();
        archive.by_name("assets/a.png")?.read_to_string(&mut text)?;
        assert_eq!(text, "aaa");
        store.remove(&first)?;
        store.remove(&first)?;
        assert!(store.describe(&first).is_err());
        Ok(())
    }

    #[test]
    fn entries_and_names_outside_the_folder_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let paths = LocalExportFolders::new(dir.path()).paths_for("OP");
        let store = ZipArchiveStore::new(dir.path().join("zips"));
        let at = DateTime::UNIX_EPOCH;
        assert!(store
            .store(&paths, &["../secret".to_owned()], "OP", at)
            .is_err());
        assert!(store.store(&paths, &[], "../OP", at).is_err());
        Ok(())
    }
}
