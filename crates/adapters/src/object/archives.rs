//! Finished archives in the bucket, and what retention finds there.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_domain::OperationId;
use udd_ports::{
    ArchiveEntry, ArchiveRead, ArchiveStore, ByteRange, StoredExports, StoredItem, WorkingRange,
};

use super::ObjectStorage;
use crate::archive::{archive_key, check_archive_name, operation_of_key, ZipArchiveStore};
use crate::hashing::sha256_of;
use crate::stored::LocalStoredExports;

/// Finished archives as objects `exports/<operation>.zip`. Entries are compressed on
/// the worker (in parallel, reusing what was compressed ahead, as the local store
/// does) and the zip, whose writer only ever appends, goes straight into a multipart
/// upload: no copy of the whole archive is written to local disk. The key is the operation's, so a retried or
/// taken-over export overwrites its own object.
#[derive(Debug)]
pub struct ObjectArchiveStore {
    parts: ZipArchiveStore,
    objects: ObjectStorage,
    /// How long a download link to the store lasts, when downloads are redirected there.
    redirect_for: Option<std::time::Duration>,
    /// Size and SHA-256 of archives stored by this process, so describing one just
    /// written does not download it again.
    described: Mutex<HashMap<String, (u64, String)>>,
}

impl ObjectArchiveStore {
    /// Archives in `objects`; `parts` compresses entries (its folder holds only the
    /// per-entry parts while an archive is made).
    pub fn new(parts: ZipArchiveStore, objects: ObjectStorage) -> Self {
        Self {
            parts,
            objects,
            redirect_for: None,
            described: Mutex::default(),
        }
    }

    /// Sends downloads to the store itself, with links valid for `valid_for`, instead
    /// of streaming them through udd (see [`ArchiveStore::redirect_location`]).
    pub fn redirecting(mut self, valid_for: std::time::Duration) -> Self {
        self.redirect_for = Some(valid_for);
        self
    }

    fn check_key(key: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            operation_of_key(key).is_some(),
            "`{key}` is not an archive key of this store"
        );
        Ok(())
    }

    fn described(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, String)>> {
        self.described
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ArchiveStore for ObjectArchiveStore {
    fn store(
        &self,
        operation_id: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        check_archive_name(operation_id)?;
        let key = archive_key(operation_id);
        let writer = self.objects.writer(&key)?;
        // On an error the writer is dropped, which aborts the upload.
        let writer = self
            .parts
            .write_archive(operation_id, entries, modified, writer)?;
        let described = writer.finish()?;
        self.described().insert(key.clone(), described);
        self.parts.forget_parts(operation_id);
        Ok(key)
    }

    fn prepare(
        &self,
        operation_id: &OperationId,
        part: &WorkingRange,
        complete: bool,
    ) -> anyhow::Result<()> {
        self.parts.prepare(operation_id, part, complete)
    }

    fn describe(&self, key: &str) -> anyhow::Result<(u64, String)> {
        Self::check_key(key)?;
        if let Some(described) = self.described().get(key) {
            return Ok(described.clone());
        }
        let mut content = self
            .objects
            .read(key, None)?
            .with_context(|| format!("no archive {key}"))?;
        sha256_of(&mut content).with_context(|| format!("reading {key}"))
    }

    fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        Self::check_key(key)?;
        self.objects.size(key)
    }

    fn open(&self, key: &str, range: Option<ByteRange>) -> anyhow::Result<Option<ArchiveRead>> {
        Self::check_key(key)?;
        let Some(total) = self.objects.size(key)? else {
            return Ok(None);
        };
        let (range, end) = ByteRange::inside(range, total, key)?;
        if range.len == 0 {
            return Ok(Some(ArchiveRead {
                body: Box::new(std::io::empty()),
                len: 0,
                total,
            }));
        }
        let Some(body) = self.objects.read(key, Some(range.start..end))? else {
            return Ok(None);
        };
        Ok(Some(ArchiveRead {
            body,
            len: range.len,
            total,
        }))
    }

    fn redirect_location(&self, key: &str, disposition: &str) -> anyhow::Result<Option<String>> {
        Self::check_key(key)?;
        match self.redirect_for {
            Some(valid_for) => self.objects.presigned_get(key, disposition, valid_for),
            None => Ok(None),
        }
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        let name = operation_of_key(key)
            .with_context(|| format!("`{key}` is not an archive key of this store"))?;
        self.parts.forget_parts(name);
        self.described().remove(key);
        self.objects.delete(key)
    }
}

/// What operations left behind, for retention: the local working folders and parts
/// (as [`LocalStoredExports`] lists them) and the archives in the bucket. Only
/// `exports/<operation>.zip` objects under the prefix are listed, so nothing else in the
/// bucket is ever removed.
#[derive(Debug, Clone)]
pub struct ObjectStoredExports {
    local: LocalStoredExports,
    objects: ObjectStorage,
}

/// How a listed archive's key is told apart from a local path.
const OBJECT_ITEM: &str = "object:";

impl ObjectStoredExports {
    /// Local left-overs from `local`, archives from `objects`.
    pub fn new(local: LocalStoredExports, objects: ObjectStorage) -> Self {
        Self { local, objects }
    }
}

impl StoredExports for ObjectStoredExports {
    fn list(&self) -> anyhow::Result<Vec<StoredItem>> {
        let mut items = self.local.list()?;
        for object in self.objects.list("exports")? {
            if let Some(id) = operation_of_key(&object.key) {
                items.push(StoredItem {
                    operation_id: id.into(),
                    path: format!("{OBJECT_ITEM}{}", object.key),
                    finished_zip: true,
                    modified: object.modified,
                });
            }
        }
        Ok(items)
    }

    fn remove(&self, item: &StoredItem) -> anyhow::Result<()> {
        match item.path.strip_prefix(OBJECT_ITEM) {
            Some(key) if operation_of_key(key).is_some() => self.objects.delete(key),
            Some(other) => anyhow::bail!("`{other}` is not an archive key"),
            None => self.local.remove(item),
        }
    }
}
