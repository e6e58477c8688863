use sha2::{Digest, Sha256};
use udd::ports::UserDataFiles;

use crate::helpers::{alices_export, fixture_login, Login, TestApp, WithLogin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_downloads_the_zip_and_nobody_else_does() {
    let (app, alice, done) = alices_export(TestApp::builder(), None).await;
    let op = &done["exportOperation"];
    let file_id = op["fileId"].as_str().unwrap();
    let url = op["url"].as_str().unwrap();
    assert_eq!(url, format!("/data-export/{file_id}"));
    let recorded = udd::adapters::SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.into())
        .unwrap();

    // The owner, by Rocket.Chat's headers.
    let response = app.get_as(&alice, url).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(headers["cache-control"], "private, no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("etag"));
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(&recorded.name), "{disposition}");
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len() as u64, recorded.size);
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        recorded.sha256,
        "the bytes are the recorded ones"
    );

    // The owner, by cookies.
    let by_cookie = app.get(url).with_cookies_of(&alice).send().await.unwrap();
    assert_eq!(by_cookie.status(), 200);

    // Somebody else, nobody, and a file that does not exist.
    assert_eq!(app.get_as(&fixture_login("bob"), url).await.status(), 403);
    assert_eq!(app.get(url).send().await.unwrap().status(), 403);
    let forged = Login {
        user_id: alice.user_id.clone(),
        token: "forged".into(),
    };
    assert_eq!(app.get_as(&forged, url).await.status(), 403);
    assert_eq!(
        app.get_as(&alice, "/data-export/NoSuchFile12345")
            .await
            .status(),
        404
    );

    // A broken download resumes with a range.
    let partial = app.get_range_as(&alice, url, "bytes=100-199").await;
    assert_eq!(partial.status(), 206);
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 100-199/{}", recorded.size)
    );
    assert_eq!(partial.bytes().await.unwrap(), body.slice(100..200));
    let unsatisfiable = app
        .get_range_as(&alice, url, &format!("bytes={}-", recorded.size + 10))
        .await;
    assert_eq!(unsatisfiable.status(), 416);

    let head = app.head(url).with_login(&alice).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        recorded.size.to_string().as_str()
    );
}

#[tokio::test]
async fn downloads_are_refused_with_a_page_when_the_feature_is_off() {
    let app = TestApp::builder().enable_download(false).spawn().await;
    let response = app.get("/data-export/AnyFileId").send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Data download is disabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_export_that_no_longer_matches_its_record_is_not_found_whatever_the_range() {
    // An empty zip under a suffix range once made the file server compute its last
    // byte as 0 - 1 (found by fuzzing the Range header, docs/fuzzing.md).
    let (app, alice, done) = alices_export(TestApp::builder(), None).await;
    let url = done["exportOperation"]["url"].as_str().unwrap();
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    let recorded = udd::adapters::SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.into())
        .unwrap();
    let zip = app.archive_path(&recorded);
    for damage in [0_u64, recorded.size / 2] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&zip)
            .unwrap()
            .set_len(damage)
            .unwrap();
        for range in [
            Some("bytes=-8"),
            None,
            Some("bytes=0-"),
            Some("bytes=10-20"),
        ] {
            let mut request = app.get(url).with_login(&alice);
            if let Some(range) = range {
                request = request.header("Range", range);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 404, "{damage} bytes, {range:?}");
        }
    }
}
