//! Upload and avatar bytes in a local folder: `<root>/uploads/<id>`, `<root>/avatars/<id>`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use udd_ports::{BlobKind, BlobStore};

use crate::fs::{is_plain_name, sync_filesystem, write_atomically};
use crate::hashing::sha256_of;

/// Blobs as files under one root folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Blobs under `root` (created on first write).
    pub fn new(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_path_buf(),
        }
    }

    /// The file behind `key`, provided the key is one this store makes.
    fn path_of(&self, key: &str) -> anyhow::Result<PathBuf> {
        let (folder, id) = key.split_once('/').context("malformed blob key")?;
        anyhow::ensure!(
            matches!(folder, "uploads" | "avatars") && is_plain_name(id),
            "malformed blob key `{key}`"
        );
        Ok(self.root.join(folder).join(id))
    }
}

/// The key of blob `id` of `kind` (`uploads/<id>`, `avatars/<id>`), whatever the store:
/// ids become names, so only plain ones are taken.
pub(crate) fn blob_key(kind: BlobKind, id: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        is_plain_name(id),
        "refusing blob id `{id}`: not a plain name"
    );
    Ok(format!("{}{id}", blob_key_prefix(kind)))
}

/// How the keys of udd's own blobs of `kind` start (`uploads/`, `avatars/`).
pub fn blob_key_prefix(kind: BlobKind) -> &'static str {
    match kind {
        BlobKind::Upload => "uploads/",
        BlobKind::Avatar => "avatars/",
    }
}

impl BlobStore for LocalBlobStore {
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String> {
        let key = blob_key(kind, id)?;
        write_atomically(&self.path_of(&key)?, content)?;
        Ok(key)
    }

    fn sync(&self) -> anyhow::Result<()> {
        if self.root.is_dir() {
            sync_filesystem(&self.root)?;
        }
        Ok(())
    }

    fn describe(&self, key: &str) -> anyhow::Result<Option<(u64, String)>> {
        let Some(mut content) = self.open(key)? else {
            return Ok(None);
        };
        let described = sha256_of(&mut content).with_context(|| format!("reading blob {key}"))?;
        Ok(Some(described))
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path_of(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting {}", path.display())),
        }
    }

    fn open(&self, key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        let path = self.path_of(key)?;
        match File::open(&path) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_reads_back_and_is_replaced_by_a_second_put() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = LocalBlobStore::new(dir.path());
        let key = store.put(BlobKind::Upload, "F1", &mut &b"first"[..])?;
        assert_eq!(key, "uploads/F1");
        store.put(BlobKind::Upload, "F1", &mut &b"second"[..])?;
        let mut text = String::new();
        store
            .open(&key)?
            .context("present")?
            .read_to_string(&mut text)?;
        assert_eq!(text, "second");
        assert!(store.open("avatars/F1")?.is_none());
        let (size, sha) = store.describe(&key)?.context("present")?;
        assert_eq!(size, 6);
        assert_eq!(
            sha,
            "16367aacb67a4a017c8da8ab95682ccb390863780f7114dda0a0e0c55644c7c4"
        );
        assert!(store.describe("avatars/F1")?.is_none());

        store.delete(&key)?;
        assert!(store.open(&key)?.is_none(), "deleted");
        store.delete(&key)?;
        assert!(store.delete("uploads/../x").is_err(), "only blob keys");
        Ok(())
    }

    #[test]
    fn ids_and_keys_that_could_escape_the_folder_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = LocalBlobStore::new(dir.path().join("blobs"));
        for id in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(
                store.put(BlobKind::Avatar, id, &mut &b"x"[..]).is_err(),
                "{id:?}"
            );
        }
        for key in ["uploads/../../etc/passwd", "etc/passwd", "uploads"] {
            assert!(store.open(key).is_err(), "{key:?}");
        }
        assert!(!dir.path().join("x").exists());
        Ok(())
    }
}
