//! Where bytes live, as the settings ask: local folders, an S3-compatible bucket, or
//! memory (tests); and Rocket.Chat's own upload bucket, read in place.

use std::sync::Arc;

use anyhow::Context;
use udd_adapters::{
    LocalBlobStore, LocalExportFiles, LocalStoredExports, MemoryArchiveStore, MemoryBlobStore,
    ObjectArchiveStore, ObjectBlobStore, ObjectStorage, ObjectStoredExports, S3Config,
    WebDavUploads, WithRocketChatUploads, ZipArchiveStore,
};
use udd_ports::{ArchiveStore, BlobStore, ExportFiles, StoredExports};

use crate::settings::{DownloadMode, Settings, StorageKind};

/// Where bytes live: upload and avatar blobs, finished archives, the working folders of
/// running exports, and what retention may find left over.
#[derive(Clone)]
pub struct Storage {
    /// Upload and avatar bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Finished archives, by key.
    pub archives: Arc<dyn ArchiveStore>,
    /// The working folders of running exports (local to the worker by design).
    pub working: Arc<dyn ExportFiles>,
    /// Left-overs of operations, for retention to sweep.
    pub stored: Arc<dyn StoredExports>,
}

impl Storage {
    /// Everything in local folders, as `[user_data]` and `[storage]` name them.
    pub fn local(settings: &Settings) -> Self {
        let user_data = &settings.user_data;
        let blobs = with_rocketchat_uploads(
            settings,
            Arc::new(LocalBlobStore::new(&settings.storage.blob_path)),
        );
        let working = LocalExportFiles::new(&user_data.file_system_path);
        Self {
            archives: Arc::new(ZipArchiveStore::new(
                &user_data.file_system_zip_path,
                working.clone(),
                blobs.clone(),
            )),
            blobs,
            working: Arc::new(working),
            stored: Arc::new(LocalStoredExports::new(
                &user_data.file_system_path,
                &user_data.file_system_zip_path,
            )),
        }
    }

    /// Blobs and archives in the S3-compatible bucket `[storage]` names; working
    /// folders (and the compressed parts of an archive being made) stay local.
    pub fn s3(settings: &Settings) -> anyhow::Result<Self> {
        let storage = &settings.storage;
        let objects = object_storage(settings)?;
        let user_data = &settings.user_data;
        let blobs =
            with_rocketchat_uploads(settings, Arc::new(ObjectBlobStore::new(objects.clone())));
        let working = LocalExportFiles::new(&user_data.file_system_path);
        let parts = ZipArchiveStore::new(
            &user_data.file_system_zip_path,
            working.clone(),
            blobs.clone(),
        );
        let local =
            LocalStoredExports::new(&user_data.file_system_path, &user_data.file_system_zip_path);
        let mut archives = ObjectArchiveStore::new(parts, objects.clone());
        if storage.download == DownloadMode::Redirect {
            if storage.access_key_id.is_none() {
                tracing::warn!("storage.download = \"redirect\" needs storage.access_key_id and storage.secret_access_key to sign links; downloads are streamed through udd");
            }
            archives =
                archives.redirecting(std::time::Duration::from_secs(storage.presign_seconds));
        }
        Ok(Self {
            archives: Arc::new(archives),
            blobs,
            working: Arc::new(working),
            stored: Arc::new(ObjectStoredExports::new(local, objects)),
        })
    }

    /// What `storage.kind` asks for.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match settings.storage.kind {
            StorageKind::Local => Ok(Self::local(settings)),
            StorageKind::S3 => Self::s3(settings),
        }
    }

    /// Blobs and archives in memory; working folders under
    /// `user_data.file_system_path`, as every export needs a place to append to.
    pub fn in_memory(settings: &Settings) -> Self {
        let blobs = with_rocketchat_uploads(settings, Arc::new(MemoryBlobStore::new()));
        let working: Arc<dyn ExportFiles> =
            Arc::new(LocalExportFiles::new(&settings.user_data.file_system_path));
        Self {
            archives: Arc::new(MemoryArchiveStore::new(working.clone(), blobs.clone())),
            blobs,
            working,
            stored: Arc::new(LocalStoredExports::new(
                &settings.user_data.file_system_path,
                &settings.user_data.file_system_zip_path,
            )),
        }
    }
}

/// udd's blob store `own`, reading uploads that Rocket.Chat keeps in its S3 bucket in
/// place when `[rocketchat.uploads]` names it.
fn with_rocketchat_uploads(settings: &Settings, own: Arc<dyn BlobStore>) -> Arc<dyn BlobStore> {
    let uploads = &settings.rocketchat.uploads;
    let rocketchat = (!uploads.bucket.is_empty())
        .then(|| {
            ObjectStorage::s3(&S3Config {
                bucket: uploads.bucket.clone(),
                endpoint: uploads.endpoint.clone(),
                region: uploads.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                prefix: String::new(),
                path_style: uploads.path_style,
                access_key_id: uploads.access_key_id.clone(),
                secret_access_key: uploads.secret_access_key.clone(),
            })
            .inspect_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "[rocketchat.uploads] cannot be used; uploads kept in Rocket.Chat's bucket will be unavailable");
            })
            .ok()
        })
        .flatten();
    let dav = &settings.rocketchat.webdav;
    let webdav = (!dav.url.trim().is_empty())
        .then(|| {
            WebDavUploads::new(&dav.url, dav.username.clone(), dav.password.clone(), WEBDAV_TIMEOUT)
                .inspect_err(|e| {
                    tracing::error!(error = %format!("{e:#}"), "[rocketchat.webdav] cannot be used; uploads kept on Rocket.Chat's WebDAV server will be unavailable");
                })
                .ok()
        })
        .flatten();
    Arc::new(WithRocketChatUploads::new(own, rocketchat).with_webdav(webdav))
}

/// How long a WebDAV server may take to connect, and then for each read.
const WEBDAV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The bucket `[storage]` names, checked: a wrong bucket, endpoint or key stops here,
/// with the settings to look at.
pub(crate) fn object_storage(settings: &Settings) -> anyhow::Result<ObjectStorage> {
    let storage = &settings.storage;
    let objects = ObjectStorage::s3(&S3Config {
        bucket: storage.bucket.clone(),
        endpoint: storage.endpoint.clone(),
        region: storage.region.clone(),
        prefix: storage.prefix.clone(),
        path_style: storage.path_style,
        access_key_id: storage.access_key_id.clone(),
        secret_access_key: storage.secret_access_key.clone(),
    })?;
    objects.check().with_context(|| {
        format!(
            "the S3 bucket `{}` at {} cannot be listed: check storage.bucket, \
             storage.endpoint, storage.region, storage.path_style and the keys \
             (storage.access_key_id, storage.secret_access_key)",
            storage.bucket,
            storage.endpoint.as_deref().unwrap_or("AWS")
        )
    })?;
    Ok(objects)
}
