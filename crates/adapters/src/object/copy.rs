//! Growing from one machine: the local store's blobs and finished archives copied into
//! a bucket under the same keys, so every record keeps pointing at its bytes once
//! `storage.kind` says `s3`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ObjectStorage;
use crate::archive::zip_folder_entry;
use crate::fs::is_plain_name;
use crate::hashing::sha256_of;

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Objects written (uploads, avatars and archives), each checked afterwards.
    pub copied: u64,
    /// Objects already in the bucket with the same size, left as they were.
    pub already_there: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Every file of the local store as (key, path): `<blobs>/uploads/<id>`,
/// `<blobs>/avatars/<id>`, `<zips>/<operation>.zip`. Anything else there (temporary
/// files, parts of a zip being written) is not a stored object and is left out.
pub fn local_objects(blobs: &Path, zips: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for folder in ["uploads", "avatars"] {
        for (name, path) in files_in(&blobs.join(folder))? {
            if is_plain_name(&name) {
                found.push((format!("{folder}/{name}"), path));
            }
        }
    }
    for (name, path) in files_in(zips)? {
        if let Some((id, true)) = zip_folder_entry(&name) {
            found.push((crate::archive::archive_key(&id.into()), path));
        }
    }
    found.sort();
    Ok(found)
}

fn files_in(folder: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let listing = match std::fs::read_dir(folder) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
    };
    let mut files = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
        if entry.file_type()?.is_file() {
            if let Ok(name) = entry.file_name().into_string() {
                files.push((name, entry.path()));
            }
        }
    }
    Ok(files)
}

/// Copies the local store (blobs under `blobs`, finished zips under `zips`) into
/// `objects`, under the same keys. An object already there with the same size is kept;
/// every one written is checked against its source's SHA-256. Running it again after
/// a failure finishes the job.
pub fn copy_local_store(
    blobs: &Path,
    zips: &Path,
    objects: &ObjectStorage,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<CopyReport> {
    let mut report = CopyReport::default();
    for (key, path) in local_objects(blobs, zips)? {
        let size = std::fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if objects.size(&key)? == Some(size) {
            report.already_there += 1;
            continue;
        }
        let open =
            || std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()));
        let expected = sha256_of(&mut open()?)?;
        let written = objects.put(&key, &mut open()?)?;
        anyhow::ensure!(
            written == expected,
            "{key}: the bucket holds {} bytes with SHA-256 {}, the local file {} bytes with {}",
            written.0,
            written.1,
            expected.0,
            expected.1
        );
        report.copied += 1;
        report.bytes += size;
        progress(&key);
    }
    Ok(report)
}
