//! `udd db copy`: an SQLite installation with an imported workspace and a finished
//! export, copied into an empty PostgreSQL database; a udd on that database serves the
//! same archive to the same login.

use sha2::{Digest, Sha256};
use udd::adapters::postgres::testing::TestDatabase;

use crate::helpers::{alices_export, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_installation_copied_to_postgres_serves_its_exports_from_there() {
    let (before, alice, done) = alices_export(TestApp::builder(), None).await;
    let file_id = done["exportOperation"]["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = before
        .get_as(&alice, &format!("/data-export/{file_id}"))
        .await;
    assert_eq!(response.status(), 200);
    let original = response.bytes().await.unwrap();

    let target = TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}"));
    let settings = before.settings.clone();
    let url = target.url().to_owned();
    tokio::task::spawn_blocking(move || udd::api::db_copy::copy_to_postgres(&settings, &url))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e:#}"));
    // A second copy into the same database is refused: it is no longer empty.
    let (settings, url) = (before.settings.clone(), target.url().to_owned());
    let again =
        tokio::task::spawn_blocking(move || udd::api::db_copy::copy_to_postgres(&settings, &url))
            .await
            .unwrap();
    assert!(format!("{:#}", again.unwrap_err()).contains("not empty"));

    let old = before.settings.clone();
    let url = target.url().to_owned();
    let after = TestApp::builder()
        .configure(move |s| {
            s.database.url = url;
            s.user_data.file_system_zip_path = old.user_data.file_system_zip_path.clone();
            s.storage.blob_path = old.storage.blob_path.clone();
            s.server.link_secret_file = old.server.link_secret_file.clone();
        })
        .spawn()
        .await;
    // Alice's imported token, her operation, the archive record: all there.
    let status = after.request_download(&alice, None).await;
    assert_eq!(status.0, 200);
    assert_eq!(
        status.1["exportOperation"]["fileId"].as_str(),
        Some(file_id.as_str()),
        "the copied operation is the one reused: {}",
        status.1
    );
    let response = after
        .get_as(&alice, &format!("/data-export/{file_id}"))
        .await;
    assert_eq!(response.status(), 200);
    let copied = response.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&copied)),
        hex::encode(Sha256::digest(&original))
    );
    drop(target);
}
