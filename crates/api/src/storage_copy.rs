//! `udd storage copy`: a single-machine installation's local store (upload and avatar
//! bytes, finished archives) copied into the bucket of `[storage] kind = "s3"`.
//! Records name bytes by key, and the keys stay the same, so once the copy is done udd
//! serves everything from the bucket; the local folders can then go.

use udd_adapters::object::copy_local_store;

use crate::settings::{Settings, StorageKind};

/// Copies `storage.blob_path` and `user_data.file_system_zip_path` into the configured
/// bucket, checking every object written, and says what it did.
pub fn copy_to_bucket(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.storage.kind == StorageKind::S3,
        "udd storage copy copies the local folders (storage.blob_path, \
         user_data.file_system_zip_path) into a bucket: set [storage] kind = \"s3\" with \
         the bucket and its keys first, keeping those two folders as they are"
    );
    let objects = crate::storage::object_storage(settings)?;
    let blobs = &settings.storage.blob_path;
    let zips = &settings.user_data.file_system_zip_path;
    let report = copy_local_store(blobs, zips, &objects, |key| eprintln!("copied {key}"))?;
    println!(
        "{} object(s) copied ({} bytes, each checked), {} already in bucket `{}`; records \
         keep their keys, so udd now serves them from the bucket. {} and {} may be removed \
         once you are satisfied.",
        report.copied,
        report.bytes,
        report.already_there,
        settings.storage.bucket,
        blobs.display(),
        zips.display()
    );
    Ok(())
}
