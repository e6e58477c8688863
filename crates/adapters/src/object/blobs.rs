//! Upload and avatar bytes in the bucket, and uploads read in place from Rocket.Chat's.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use udd_ports::{BlobKind, BlobStore};

use super::ObjectStorage;
use crate::blobs::blob_key;
use crate::hashing::sha256_of;
use crate::webdav::WebDavUploads;

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

/// How the key of an upload kept in Rocket.Chat's own bucket starts; the rest is the
/// object's name there (Rocket.Chat's `AmazonS3.path`, or `GoogleStorage.path` for
/// Google Cloud Storage, read through its S3-compatible API).
pub const ROCKETCHAT_S3: &str = "rocketchat-s3/";

/// How the key of an upload kept on Rocket.Chat's WebDAV server starts; the rest is its
/// path there (Rocket.Chat's `Webdav.path`).
pub const ROCKETCHAT_WEBDAV: &str = "rocketchat-webdav/";

/// Where Rocket.Chat keeps an upload that udd reads in place.
enum Remote<'k> {
    Bucket(&'k str),
    WebDav(&'k str),
}

/// udd's own blob store, plus uploads read in place where Rocket.Chat keeps them: its
/// bucket (`[rocketchat.uploads]`, keys starting with [`ROCKETCHAT_S3`]) or its WebDAV
/// server (`[rocketchat.webdav]`, [`ROCKETCHAT_WEBDAV`]). Those are read there and
/// never written; every other key goes to udd's store. Without the store an upload
/// names, the upload is missing (listed as unavailable in exports), never an error.
pub struct WithRocketChatUploads {
    own: Arc<dyn BlobStore>,
    rocketchat: Option<ObjectStorage>,
    webdav: Option<WebDavUploads>,
}

impl std::fmt::Debug for WithRocketChatUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithRocketChatUploads")
            .field("rocketchat", &self.rocketchat)
            .field("webdav", &self.webdav)
            .finish_non_exhaustive()
    }
}

impl WithRocketChatUploads {
    /// udd's store `own`, and Rocket.Chat's bucket when there is one.
    pub fn new(own: Arc<dyn BlobStore>, rocketchat: Option<ObjectStorage>) -> Self {
        Self {
            own,
            rocketchat,
            webdav: None,
        }
    }

    /// Also reads the uploads Rocket.Chat keeps on `webdav`.
    #[must_use]
    pub fn with_webdav(mut self, webdav: Option<WebDavUploads>) -> Self {
        self.webdav = webdav;
        self
    }

    fn remote(key: &str) -> Option<Remote<'_>> {
        key.strip_prefix(ROCKETCHAT_S3)
            .map(Remote::Bucket)
            .or_else(|| key.strip_prefix(ROCKETCHAT_WEBDAV).map(Remote::WebDav))
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
        if Self::remote(key).is_none() {
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
        match Self::remote(key) {
            None => self.own.open(key),
            Some(Remote::Bucket(path)) => match &self.rocketchat {
                Some(bucket) => bucket.read(path, None),
                None => Ok(None),
            },
            Some(Remote::WebDav(path)) => match &self.webdav {
                Some(webdav) => webdav.open(path),
                None => Ok(None),
            },
        }
    }

    /// Rocket.Chat's stores are Rocket.Chat's: their uploads are never deleted from here.
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        match Self::remote(key) {
            Some(_) => Ok(()),
            None => self.own.delete(key),
        }
    }
}
