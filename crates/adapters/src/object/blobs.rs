//! Upload and avatar bytes in the bucket, and uploads read in place from Rocket.Chat's.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use udd_ports::{BlobKind, BlobStore};

use super::ObjectStorage;
use crate::blobs::blob_key;
use crate::hashing::sha256_of;

/// Upload and avatar bytes as objects `uploads/<id>` and `avatars/<id>`.
#[derive(Debug, Clone)]
pub struct ObjectBlobStore {
    objects: ObjectStorage,
}

impl ObjectBlobStore {
    /// Blobs in `objects`.
    pub fn new(objects: ObjectStorage) -> Self {
        Self { objects }
    }
}

impl BlobStore for ObjectBlobStore {
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String> {
        let key = blob_key(kind, id)?;
        self.objects.put(&key, content)?;
        Ok(key)
    }

    fn sync(&self) -> anyhow::Result<()> {
        // A completed upload is durable.
        Ok(())
    }

    fn describe(&self, key: &str) -> anyhow::Result<Option<(u64, String)>> {
        let Some(mut content) = self.objects.read(key, None)? else {
            return Ok(None);
        };
        Ok(Some(
            sha256_of(&mut content).with_context(|| format!("reading blob {key}"))?,
        ))
    }

    fn open(&self, key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        self.objects.read(key, None)
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            key.starts_with("uploads/") || key.starts_with("avatars/"),
            "`{key}` is not a blob key"
        );
        self.objects.delete(key)
    }
}

/// How the key of an upload kept in Rocket.Chat's own S3 bucket starts; the rest is
/// the object's name there (Rocket.Chat's `AmazonS3.path`).
pub const ROCKETCHAT_S3: &str = "rocketchat-s3/";

/// udd's own blob store, plus uploads read in place from Rocket.Chat's S3 bucket
/// (`[rocketchat.uploads]`): keys starting with [`ROCKETCHAT_S3`] are read there and
/// never written; every other key goes to udd's store. Without a Rocket.Chat bucket
/// such uploads are missing (listed as unavailable in exports), never an error.
pub struct WithRocketChatUploads {
    own: Arc<dyn BlobStore>,
    rocketchat: Option<ObjectStorage>,
}

impl std::fmt::Debug for WithRocketChatUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithRocketChatUploads")
            .field("rocketchat", &self.rocketchat)
            .finish_non_exhaustive()
    }
}

impl WithRocketChatUploads {
    /// udd's store `own`, and Rocket.Chat's bucket when there is one.
    pub fn new(own: Arc<dyn BlobStore>, rocketchat: Option<ObjectStorage>) -> Self {
        Self { own, rocketchat }
    }

    fn in_rocketchat(key: &str) -> Option<&str> {
        key.strip_prefix(ROCKETCHAT_S3)
    }
}

impl BlobStore for WithRocketChatUploads {
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String> {
        self.own.put(kind, id, content)
    }

    fn sync(&self) -> anyhow::Result<()> {
        self.own.sync()
    }

    fn describe(&self, key: &str) -> anyhow::Result<Option<(u64, String)>> {
        if Self::in_rocketchat(key).is_none() {
            return self.own.describe(key);
        }
        let Some(mut content) = self.open(key)? else {
            return Ok(None);
        };
        Ok(Some(
            sha256_of(&mut content).with_context(|| format!("reading {key}"))?,
        ))
    }

    fn open(&self, key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        match (Self::in_rocketchat(key), &self.rocketchat) {
            (None, _) => self.own.open(key),
            (Some(path), Some(bucket)) => bucket.read(path, None),
            (Some(_), None) => Ok(None),
        }
    }

    /// Rocket.Chat's bucket is Rocket.Chat's: its uploads are never deleted from here.
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        match Self::in_rocketchat(key) {
            Some(_) => Ok(()),
            None => self.own.delete(key),
        }
    }
}
