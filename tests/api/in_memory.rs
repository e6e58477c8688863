//! The whole story on swapped adapters: blobs and archives in memory, mail recorded.
//! It shows what the composition root promises: any backend is one line away.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use udd::adapters::RecordingMailer;

use crate::helpers::{alices_export, unzip_bytes, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_export_mail_and_download_run_on_in_memory_storage_and_a_recording_mailer() {
    let mailer = Arc::new(RecordingMailer::new());
    let (app, _alice, done) = alices_export(
        TestApp::builder()
            .with_storage_in_memory()
            .with_mailer(mailer.clone()),
        None,
    )
    .await;
    let op = &done["exportOperation"];
    let file_id = op["fileId"].as_str().unwrap();

    // The mail went to the recording mailer, with a signed link.
    let started = std::time::Instant::now();
    while mailer.sent().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no mail"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mail = &mailer.sent()[0];
    assert_eq!(mail.to, "alice@example.com");
    let link = mail.link.clone().expect("a link");
    assert!(
        link.contains(&format!("/data-export/{file_id}?token=")),
        "{link}"
    );

    // Nothing was written to the zip folder or the blob folder: both live in memory.
    for folder in [
        &app.settings.user_data.file_system_zip_path,
        &app.settings.storage.blob_path,
    ] {
        let entries = std::fs::read_dir(folder).map_or(0, |d| d.count());
        assert_eq!(entries, 0, "{} holds files", folder.display());
    }

    // The link downloads the archive from memory, whole and by range.
    let response = app.client.get(app.local_link(&link)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let recorded: udd::ports::UserDataFile = udd::ports::UserDataFiles::get(
        &udd::adapters::SqliteUserDataFiles::new(app.database.clone()),
        &file_id.into(),
    )
    .unwrap();
    assert_eq!(bytes.len() as u64, recorded.size);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), recorded.sha256);
    let entries = unzip_bytes(&bytes);
    for name in ["index.html", "user.html", "GENERAL.html", "manifest.json"] {
        assert!(entries.contains_key(name), "{name} in {:?}", entries.keys());
    }
    assert!(
        entries
            .keys()
            .any(|name| name.starts_with("assets/Q5yA26ksJXC57nySc-")),
        "uploads come from the in-memory blob store: {:?}",
        entries.keys()
    );
    let partial = app
        .client
        .get(app.local_link(&link))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().await.unwrap(), bytes.slice(10..20));
}
