//! Issue 15, points 5 and 7: re-imports that must not abort, requests and downloads
//! that must answer consistently, exports that must survive one bad file.

use std::path::Path;

use serde_json::{json, Value};
use udd::ports::{Collection, MovedKind, WorkspaceReader};

use crate::helpers::{
    altered_dump, edit_documents, fixture_dir, fixture_login, spawn_app, unzip, Login, TestApp,
    WithLogin,
};

const ALICE: &str = "NBTm56xe8Rh5cF47X";
const BOB: &str = "fq6g5jFboeXuNZhZR";
const CAROL: &str = "wZ6y7Kapn65rpMmgo";

fn append_documents(file: &Path, docs: &[Value]) {
    let mut text = std::fs::read_to_string(file).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for doc in docs {
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    std::fs::write(file, text).unwrap();
}

#[tokio::test]
async fn a_username_and_an_email_that_changed_hands_between_dumps_move_instead_of_aborting() {
    let app = TestApp::builder().spawn_with_sample().await;
    // Between the two dumps carol was renamed and bob took her name and address. Bob
    // comes first in users.json, while carol still holds both in the store.
    let newer = altered_dump(|dir| {
        edit_documents(&dir.join("users.json"), |doc| match doc["_id"].as_str() {
            Some(BOB) => {
                doc["username"] = json!("carol");
                doc["emails"] = json!([{"address": "carol@example.com", "verified": true}]);
            }
            Some(CAROL) => {
                doc["username"] = json!("carol.old");
                doc["emails"] = json!([{"address": "carol.old@example.com", "verified": true}]);
            }
            _ => {}
        });
    });

    let summary = app.import(newer.path());
    assert_eq!(summary.of(Collection::Users).imported, 4);
    let moved: Vec<(MovedKind, &str, &str, &str)> = summary
        .moves
        .iter()
        .map(|m| {
            (
                m.kind,
                m.value.as_str(),
                m.from_user.as_str(),
                m.to_user.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            (MovedKind::Username, "carol", CAROL, BOB),
            (MovedKind::Email, "carol@example.com", CAROL, BOB),
        ]
    );

    let users = &app.services.users;
    let bob = users.get(&BOB.into()).unwrap();
    assert_eq!(bob.username, "carol");
    assert_eq!(
        bob.emails[0].address, "carol@example.com",
        "bob keeps the address he took, so he is mailed"
    );
    let carol = users.get(&CAROL.into()).unwrap();
    assert_eq!(carol.username, "carol.old");
    assert_eq!(carol.emails[0].address, "carol.old@example.com");
    let passwords: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("credentials.json")).unwrap(),
    )
    .unwrap();
    let login = |user: &str, owner: &str| json!({"user": user, "password": passwords["passwords"][owner].as_str().unwrap()});
    for (user, owner, id) in [
        ("carol", "bob", BOB),
        ("carol@example.com", "bob", BOB),
        ("carol.old", "carol", CAROL),
        ("alice", "alice", ALICE),
    ] {
        let response = app.post_login(login(user, owner)).await;
        assert_eq!(response.status(), 200, "{user}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["userId"], id, "{user}");
    }

    // Loading the newer dump again changes nothing and moves nothing.
    let before = app.fingerprint();
    let again = app.import(newer.path());
    assert!(again.moves.is_empty(), "{:?}", again.moves);
    assert_eq!(app.fingerprint(), before);
}

#[tokio::test]
async fn uploads_and_avatars_whose_id_is_not_a_plain_name_are_skipped_and_counted() {
    let dump = altered_dump(|dir| {
        // Ids that could name a path, some with bytes in the dump under that very name.
        std::fs::write(dir.join("uploads/with space"), b"bytes").unwrap();
        std::fs::write(dir.join("uploads/plus+sign.txt"), b"bytes").unwrap();
        std::fs::write(dir.join("avatars/odd name"), b"bytes").unwrap();
        let upload = |id: &str| {
            json!({"_id": id, "name": "x.txt", "size": 5, "type": "text/plain", "rid": "GENERAL",
                   "userId": ALICE, "uploadedAt": {"$date": "2024-03-02T08:00:00.000Z"}})
        };
        append_documents(
            &dir.join("rocketchat_uploads.json"),
            &[
                upload("with space"),
                upload("plus+sign"),
                upload("../../escape"),
                upload("sub/dir"),
                upload("nul\u{0}id"),
            ],
        );
        append_documents(
            &dir.join("rocketchat_avatars.json"),
            &[json!({"_id": "odd name", "name": "alice", "userId": ALICE,
                     "uploadedAt": {"$date": "2024-03-02T08:00:00.000Z"}})],
        );
    });
    let app = spawn_app().await;
    let summary = app.import(dump.path());
    let uploads = summary.of(Collection::Uploads);
    assert_eq!((uploads.imported, uploads.skipped), (3, 5));
    let avatars = summary.of(Collection::Avatars);
    assert_eq!((avatars.imported, avatars.skipped), (4, 1));
    assert_eq!(summary.not_imported(), 6);
    let problems = summary.problems.join("\n");
    assert!(
        problems.contains(
            "rocketchat_uploads.json:4: skipped: `_id` \"with space\" is not a plain name"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("rocketchat_avatars.json:5: skipped"),
        "{problems}"
    );
    // The rest of the workspace is there.
    assert_eq!(summary.of(Collection::Messages).imported, 24);
    assert!(app.workspace().upload(&"with space".into()).is_err());
}

#[tokio::test]
async fn a_request_answered_with_an_error_queued_nothing() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    // The working folders' root turns into a plain file after start-up.
    let root = app.settings.user_data.file_system_path.clone();
    let _ = std::fs::remove_dir_all(&root);
    std::fs::write(&root, b"not a folder").unwrap();

    // The folder is made before the operation is queued: refused, nothing queued.
    let (status, first) = app.request_download(&alice, None).await;
    assert_eq!(status, 500, "{first}");
    std::fs::remove_file(&root).unwrap();
    let (status, next) = app.request_download(&alice, None).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(
        next["requested"], true,
        "the failed request left no operation behind to reuse: {next}"
    );
}

/// An app whose workers exported alice's data: the app, her login and the file's URL.
async fn alices_export() -> (TestApp, Login, String) {
    let (app, alice, done) = crate::helpers::alices_export(TestApp::builder(), None).await;
    let url = done["exportOperation"]["url"].as_str().unwrap().to_owned();
    (app, alice, url)
}

async fn ranged_get(
    app: &TestApp,
    login: &Login,
    url: &str,
    range: &str,
    if_range: Option<&str>,
) -> reqwest::Response {
    let mut request = app.get(url).with_login(login).header("Range", range);
    if let Some(condition) = if_range {
        request = request.header("If-Range", condition);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_whose_if_range_names_another_version_of_the_file_gets_the_whole_file() {
    let (app, alice, url) = alices_export().await;
    let whole = app.get_as(&alice, &url).await;
    assert_eq!(whole.status(), 200);
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    let modified = whole.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = whole.bytes().await.unwrap();

    // The client's copy is of this very file: it gets the range.
    for current in [etag.as_str(), modified.as_str()] {
        let partial = ranged_get(&app, &alice, &url, "bytes=10-19", Some(current)).await;
        assert_eq!(partial.status(), 206, "If-Range: {current}");
        assert_eq!(partial.bytes().await.unwrap(), body.slice(10..20));
    }
    // It is of another version (or says so weakly): the whole file, as a 200.
    for stale in [
        "\"0:0:0:0\"".to_owned(),
        format!("W/{etag}"),
        "Mon, 01 Jan 2001 00:00:00 GMT".to_owned(),
    ] {
        let response = ranged_get(&app, &alice, &url, "bytes=10-19", Some(&stale)).await;
        assert_eq!(response.status(), 200, "If-Range: {stale}");
        assert!(!response.headers().contains_key("content-range"));
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert_eq!(
            response.headers()["content-length"],
            body.len().to_string().as_str()
        );
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"));
        assert_eq!(response.bytes().await.unwrap(), body, "If-Range: {stale}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_in_many_ranged_gets_is_logged_once() {
    let (app, alice, url) = alices_export().await;
    let file_id = url.rsplit('/').next().unwrap().to_owned();
    let mut fetched = 0_u64;
    for part in 0..30 {
        let response = ranged_get(
            &app,
            &alice,
            &url,
            &format!("bytes={}-{}", part * 10, part * 10 + 9),
            None,
        )
        .await;
        assert_eq!(response.status(), 206);
        fetched += response.bytes().await.unwrap().len() as u64;
    }
    let log = udd::adapters::SqliteDownloadLog::new(app.database.clone());
    let records = log.for_file(&file_id).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].bytes, fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_or_avatar_that_cannot_be_read_is_listed_as_unavailable_not_fatal() {
    let app = TestApp::builder().with_workers().spawn_with_sample().await;
    // Two stored blobs become unreadable (a folder where the bytes were: opening works,
    // reading fails, whoever runs the test).
    let blobs = &app.settings.storage.blob_path;
    for key in ["uploads/Q5yA26ksJXC57nySc", "avatars/g9Gkkh5ghT5G4fzAL"] {
        std::fs::remove_file(blobs.join(key)).unwrap();
        std::fs::create_dir(blobs.join(key)).unwrap();
    }
    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, None).await;
    let entries = unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ));
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let unavailable = manifest["unavailable"].to_string();
    assert!(
        unavailable.contains("Q5yA26ksJXC57nySc") && unavailable.contains("avatar"),
        "{unavailable}"
    );
    assert!(!entries
        .keys()
        .any(|name| name.contains("Q5yA26ksJXC57nySc")));
    assert!(!entries.contains_key("avatar"));
    let index = String::from_utf8_lossy(&entries["index.html"]).into_owned();
    assert!(index.contains("Q5yA26ksJXC57nySc"), "{index}");
    // The rest of her data is there.
    assert!(entries
        .keys()
        .any(|name| name.ends_with(".html") && name != "index.html"));
}
