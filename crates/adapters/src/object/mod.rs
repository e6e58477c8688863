//! Blobs and finished archives in an object store: Amazon S3 or any S3-compatible
//! service (MinIO, Ceph, Garage, …) through the `object_store` crate, behind the same
//! ports as the local folders.
//!
//! Objects are named by the ports' keys (`uploads/<id>`, `avatars/<id>`,
//! `exports/<operation>.zip`) under a prefix; nothing outside the prefix is ever read,
//! written or deleted. The ports are synchronous and `object_store` is async, so this
//! adapter keeps a small runtime of its own and blocks the calling thread (always a
//! worker or blocking-pool thread, never an async task) on each call.

use std::future::Future;
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::stream::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use secrecy::{ExposeSecret, SecretString};

use crate::fs::is_plain_name;

mod archives;
mod blobs;
mod copy;
mod io;
mod presign;
pub use archives::{ObjectArchiveStore, ObjectStoredExports};
pub use blobs::{ObjectBlobStore, WithRocketChatUploads, ROCKETCHAT_S3, ROCKETCHAT_WEBDAV};
pub use copy::{copy_local_store, local_objects, CopyReport};
pub use io::ObjectWriter;
use io::StreamReader;
use presign::Presigner;

/// Where an S3-compatible bucket is and how to sign in to it.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The service's address for anything but AWS (`http://127.0.0.1:9000`); none for AWS.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when the service does not care).
    pub region: String,
    /// Every object's name starts with this (`udd/`); empty for the bucket's root.
    pub prefix: String,
    /// Address the bucket in the path (`endpoint/bucket/key`), as MinIO and most
    /// self-hosted services want, rather than as a host name.
    pub path_style: bool,
    /// The access key; none to take credentials from the environment (instance roles).
    pub access_key_id: Option<String>,
    /// The secret key that goes with it.
    pub secret_access_key: Option<SecretString>,
}

/// A bucket (or a prefix of one), with blocking calls for the synchronous ports.
#[derive(Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: Arc<OwnRuntime>,
    /// Signs direct links, when the store has a static key to sign with.
    presigner: Option<Presigner>,
}

/// The runtime behind the blocking calls. It is shut down without waiting when the
/// last handle goes, which may be inside another runtime's task (where waiting would
/// panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        match &self.0 {
            Some(runtime) => runtime.handle(),
            None => unreachable!("the runtime lives until the handle is dropped"),
        }
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// One object listed under the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key, without the prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: DateTime<Utc>,
}

impl ObjectStorage {
    /// The S3 bucket `config` describes. Nothing is contacted yet: a wrong address or
    /// key shows on first use.
    pub fn s3(config: &S3Config) -> anyhow::Result<Self> {
        anyhow::ensure!(!config.bucket.is_empty(), "storage.bucket is not set");
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose_secret());
        }
        let store = builder
            .build()
            .with_context(|| format!("configuring the S3 bucket `{}`", config.bucket))?;
        let mut storage = Self::new(Arc::new(store), &config.prefix)?;
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            storage.presigner = Some(Presigner::new(
                config.endpoint.as_deref(),
                &config.bucket,
                &config.region,
                config.path_style,
                id,
                secret.clone(),
            )?);
        }
        Ok(storage)
    }

    /// Objects of `store` under `prefix` (any store: tests use `object_store`'s
    /// in-memory one).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> anyhow::Result<Self> {
        let prefix = prefix.trim_matches('/');
        anyhow::ensure!(
            prefix
                .split('/')
                .all(|part| prefix.is_empty() || is_plain_name(part)),
            "storage.prefix `{prefix}` must be plain names joined by `/`"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("udd-objects")
            .enable_all()
            .build()
            .context("starting the object store's runtime")?;
        Ok(Self {
            store,
            prefix: prefix.to_owned(),
            runtime: Arc::new(OwnRuntime(Some(runtime))),
            presigner: None,
        })
    }

    /// Runs `work` to completion on this storage's runtime and waits for it. Safe from
    /// any thread, in or out of another runtime (the wait is a plain channel), though a
    /// caller in an async task blocks that task's thread meanwhile.
    fn block<F>(&self, work: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        self.runtime.handle().spawn(async move {
            let _ = done.send(work.await);
        });
        outcome
            .recv()
            .unwrap_or_else(|_| panic!("the object store's runtime stopped"))
    }

    /// The object behind `key`: every part of the key a plain name, under the prefix.
    fn location(&self, key: &str) -> anyhow::Result<ObjectPath> {
        anyhow::ensure!(
            !key.is_empty() && key.split('/').all(is_key_part),
            "malformed storage key `{key}`"
        );
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        })
    }

    /// Lists the prefix once, so a wrong bucket, endpoint or key shows at start-up rather
    /// than in the middle of the first export.
    pub fn check(&self) -> anyhow::Result<()> {
        let store = self.store.clone();
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        self.block(async move { store.list_with_delimiter(prefix.as_ref()).await })
            .map(|_| ())
            .map_err(anyhow::Error::new)
    }

    /// A link that fetches `key` straight from the store for `valid_for`, answered with
    /// `disposition` as its `Content-Disposition`; `None` when this store cannot sign
    /// links (no static key).
    pub fn presigned_get(
        &self,
        key: &str,
        disposition: &str,
        valid_for: std::time::Duration,
    ) -> anyhow::Result<Option<String>> {
        let location = self.location(key)?;
        Ok(self.presigner.as_ref().map(|signer| {
            signer.get_url(location.as_ref(), Some(disposition), valid_for, Utc::now())
        }))
    }

    /// Starts writing `key`: bytes go up in parts as they come; nothing is visible until
    /// [`ObjectWriter::finish`], and [`ObjectWriter::abort`] (or a drop) leaves nothing.
    pub fn writer(&self, key: &str) -> anyhow::Result<ObjectWriter> {
        let location = self.location(key)?;
        let store = self.store.clone();
        let upload = self
            .block(async move { store.put_multipart(&location).await })
            .with_context(|| format!("starting the upload of {key}"))?;
        Ok(ObjectWriter::new(self.clone(), key, upload))
    }

    /// Writes `key` from `content`; returns its size and SHA-256.
    pub fn put(&self, key: &str, content: &mut dyn Read) -> anyhow::Result<(u64, String)> {
        let mut writer = self.writer(key)?;
        match std::io::copy(content, &mut writer) {
            Ok(_) => writer.finish(),
            Err(e) => {
                writer.abort();
                Err(e).with_context(|| format!("uploading {key}"))
            }
        }
    }

    /// The size of `key`, or `None` when there is no such object.
    pub fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let location = self.location(key)?;
        let store = self.store.clone();
        match self.block(async move { store.head(&location).await }) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up {key}")),
        }
    }

    /// Streams `key` (or `range` of it); `None` when there is no such object.
    pub fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        let location = self.location(key)?;
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let store = self.store.clone();
        let result = match self.block(async move { store.get_opts(&location, options).await }) {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {key}")),
        };
        Ok(Some(Box::new(StreamReader::new(
            self.clone(),
            result.into_stream(),
        ))))
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub fn delete(&self, key: &str) -> anyhow::Result<()> {
        let location = self.location(key)?;
        let store = self.store.clone();
        match self.block(async move { store.delete(&location).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting {key}")),
        }
    }

    /// Every object whose key starts with the folder `under` (`exports`).
    pub fn list(&self, under: &str) -> anyhow::Result<Vec<ListedObject>> {
        let folder = self.location(under)?;
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let store = self.store.clone();
        let under = under.to_owned();
        self.block(async move {
            let mut listed = Vec::new();
            let mut objects = store.list(Some(&folder));
            while let Some(meta) = objects.next().await {
                let meta = meta.with_context(|| format!("listing {under}"))?;
                let key = meta.location.as_ref().get(skip..).unwrap_or_default();
                listed.push(ListedObject {
                    key: key.to_owned(),
                    size: meta.size,
                    modified: meta.last_modified,
                });
            }
            Ok(listed)
        })
    }
}

/// A part of a key: a plain name, or one with `.zip` (keys are `uploads/<id>`,
/// `avatars/<id>`, `exports/<operation>.zip`).
pub(crate) fn is_key_part(part: &str) -> bool {
    is_plain_name(part.strip_suffix(".zip").unwrap_or(part))
}

#[cfg(test)]
mod tests;
