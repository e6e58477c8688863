//! Blobs and finished archives in an object store: Amazon S3 or any S3-compatible
//! service (MinIO, Ceph, Garage, …) through the `object_store` crate, behind the same
//! ports as the local folders.
//!
//! Objects are named by the ports' keys (`uploads/<id>`, `avatars/<id>`,
//! `exports/<operation>.zip`) under a prefix; nothing outside the prefix is ever read,
//! written or deleted. The ports are synchronous and `object_store` is async, so this
//! adapter keeps a small runtime of its own and blocks the calling thread (always a
//! worker or blocking-pool thread, never an async task) on each call.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use udd_domain::OperationId;
use udd_ports::{
    ArchiveEntry, ArchiveRead, ArchiveStore, BlobKind, BlobStore, ByteRange, StoredExports,
    StoredItem,
};

use crate::archive::{archive_key, assemble, operation_of_key, AppendOnly, ZipArchiveStore};
use crate::blobs::blob_key;
use crate::fs::is_plain_name;
use crate::hashing::sha256_of;
use crate::stored::LocalStoredExports;

mod copy;
mod presign;
pub use copy::{copy_local_store, local_objects, CopyReport};
use presign::Presigner;

/// How many parts of one upload are in flight at once.
const UPLOADS_IN_FLIGHT: usize = 4;

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
        Ok(ObjectWriter {
            storage: self.clone(),
            key: key.to_owned(),
            upload: Some(WriteMultipart::new(upload)),
            buffer: Vec::with_capacity(WRITE_BUFFER),
            hasher: Sha256::new(),
            size: 0,
        })
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
        Ok(Some(Box::new(StreamReader {
            storage: self.clone(),
            stream: Some(result.into_stream()),
            chunk: bytes::Bytes::new(),
        })))
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
fn is_key_part(part: &str) -> bool {
    is_plain_name(part.strip_suffix(".zip").unwrap_or(part))
}

/// How many bytes a writer gathers before handing them to the upload.
const WRITE_BUFFER: usize = 1 << 20;

/// An object being uploaded; see [`ObjectStorage::writer`].
pub struct ObjectWriter {
    storage: ObjectStorage,
    key: String,
    upload: Option<WriteMultipart>,
    buffer: Vec<u8>,
    hasher: Sha256,
    size: u64,
}

impl ObjectWriter {
    /// Completes the upload: the object appears whole. Returns its size and SHA-256.
    pub fn finish(mut self) -> anyhow::Result<(u64, String)> {
        self.hand_over()?;
        let upload = self.upload.take().context("the upload has ended")?;
        if let Err(e) = self.storage.block(upload.finish()) {
            return Err(e).with_context(|| format!("completing the upload of {}", self.key));
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        Ok((self.size, sha256))
    }

    /// Abandons the upload; the parts sent so far are deleted by the store.
    pub fn abort(mut self) {
        self.abort_upload();
    }

    fn abort_upload(&mut self) {
        if let Some(upload) = self.upload.take() {
            if let Err(e) = self.storage.block(upload.abort()) {
                tracing::warn!(key = %self.key, error = %e, "could not abort an upload");
            }
        }
    }

    /// Gives the gathered bytes to the upload, which sends them in parts from the
    /// storage's runtime, once fewer than [`UPLOADS_IN_FLIGHT`] parts are on their way.
    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut upload = self
            .upload
            .take()
            .ok_or_else(|| std::io::Error::other("the upload has ended"))?;
        let bytes = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_BUFFER));
        let (upload, sent) = self.storage.block(async move {
            let sent = upload.wait_for_capacity(UPLOADS_IN_FLIGHT).await;
            if sent.is_ok() {
                upload.write(&bytes);
            }
            (upload, sent)
        });
        self.upload = Some(upload);
        sent.map_err(std::io::Error::other)
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        self.abort_upload();
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.upload.is_none() {
            return Err(std::io::Error::other("the upload has ended"));
        }
        self.buffer.extend_from_slice(buf);
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        if self.buffer.len() >= WRITE_BUFFER {
            self.hand_over()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Nothing is durable before `finish`; flushing early would only cut parts short.
        Ok(())
    }
}

/// An object's byte stream as a blocking reader.
struct StreamReader {
    storage: ObjectStorage,
    stream: Option<BoxStream<'static, object_store::Result<bytes::Bytes>>>,
    chunk: bytes::Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(mut stream) = self.stream.take() else {
                return Ok(0);
            };
            let (stream, next) = self.storage.block(async move {
                let next = stream.next().await;
                (stream, next)
            });
            match next {
                Some(Ok(chunk)) => {
                    self.stream = Some(stream);
                    self.chunk = chunk;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

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

/// Finished archives as objects `exports/<operation>.zip`. Entries are compressed on
/// the worker (in parallel, reusing what was compressed ahead, as the local store
/// does) and the zip is assembled straight into a multipart upload: no copy of the
/// whole archive is written to local disk. The key is the operation's, so a retried or
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
        entries: &[ArchiveEntry],
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(
            is_plain_name(operation_id),
            "refusing archive name `{operation_id}`"
        );
        let parts = self.parts.compress(operation_id, entries, modified)?;
        let key = archive_key(operation_id);
        let writer = self.objects.writer(&key)?;
        // On an error the writer is dropped, which aborts the upload.
        let writer = assemble(parts, AppendOnly::new(writer))?.into_inner();
        let described = writer.finish()?;
        self.described().insert(key.clone(), described);
        self.parts.forget_parts(operation_id);
        Ok(key)
    }

    fn prepare(
        &self,
        operation_id: &OperationId,
        entry: &str,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.parts.prepare(operation_id, entry, modified)
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

#[cfg(test)]
mod tests;
