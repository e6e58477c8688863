//! The main story with `database.url` on PostgreSQL (a fresh database per test on the
//! server `UDD_TEST_DATABASE_URL` names, default postgres://postgres@127.0.0.1:5432):
//! request, export by the in-process workers, download, on local storage.

use sha2::{Digest, Sha256};
use udd::adapters::postgres::{PgExportOperations, PgUserDataFiles, PgWorkspace};
use udd::ports::{ExportOperations, UserDataFiles, WorkspaceWriter};

use crate::helpers::{fixture_dir, fixture_login, unzip_bytes, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_export_and_download_run_on_postgresql() {
    let app = TestApp::builder()
        .with_workers()
        .on_postgres()
        .spawn()
        .await;
    assert!(app.settings.database.url.starts_with("postgres://"));
    app.import(&fixture_dir());
    let (_, pg) = app.postgres.as_ref().expect("a PostgreSQL app");
    assert!(
        !PgWorkspace::new(pg.clone()).is_empty().unwrap(),
        "the import went to PostgreSQL"
    );
    let alice = fixture_login("alice");

    let done = app.export_and_wait(&alice, Some("true")).await;
    let op = &done["exportOperation"];
    assert_eq!(op["status"], "completed");
    let file_id = op["fileId"].as_str().unwrap();
    let stored = PgExportOperations::new(pg.clone())
        .latest(&alice.user_id.as_str().into(), true)
        .unwrap()
        .expect("the operation is in PostgreSQL");
    assert_eq!(stored.id.as_str(), op["_id"].as_str().unwrap());
    let recorded = PgUserDataFiles::new(pg.clone())
        .get(&file_id.into())
        .unwrap();

    let response = app.get_as(&alice, &format!("/data-export/{file_id}")).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len() as u64, recorded.size);
    assert_eq!(hex::encode(Sha256::digest(&body)), recorded.sha256);
    let entries = unzip_bytes(&body);
    for name in ["user.json", "channels.json", "manifest.json"] {
        assert!(entries.contains_key(name), "{name} in {:?}", entries.keys());
    }

    // Asking again within the day answers with the same operation.
    let (status, again) = app.request_download(&alice, Some("true")).await;
    assert_eq!(status, 200);
    assert_eq!(again["requested"], false);
    assert_eq!(again["exportOperation"]["_id"], op["_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_over_http_on_postgresql_create_one_operation() {
    let app = TestApp::builder().on_postgres().spawn_with_sample().await;
    let alice = fixture_login("alice");
    let answers =
        futures_util::future::join_all((0..20).map(|_| app.request_download(&alice, None))).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["exportOperation"]["_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one operation for all: {ids:?}");
    let created = answers
        .iter()
        .filter(|(_, body)| body["requested"] == true)
        .count();
    assert_eq!(created, 1);
}
