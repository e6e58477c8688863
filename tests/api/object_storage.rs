//! The whole story on a real S3 server (s3s-fs, a complete S3 protocol implementation
//! over a folder): uploads imported into the bucket, the archive uploaded in parts,
//! downloaded through udd whole and by range, and deleted from the bucket by retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use udd::api::settings::{DownloadMode, StorageKind, StorageSettings};

use crate::helpers::{
    alices_export, edit_documents, fixture_copy, fixture_dir, fixture_login, link_in, unzip_bytes,
    Login, ManualClock, TestApp, WithLogin,
};

use udd::adapters::s3_test_server::{
    S3_TEST_ACCESS_KEY as ACCESS_KEY, S3_TEST_BUCKET as BUCKET, S3_TEST_SECRET_KEY as SECRET_KEY,
};
use udd::adapters::S3TestServer as S3Server;

/// `[storage]` naming the test server's bucket under the prefix `udd`, with its keys.
fn bucket_of(s3: &S3Server) -> StorageSettings {
    StorageSettings {
        kind: StorageKind::S3,
        bucket: BUCKET.into(),
        endpoint: Some(s3.endpoint.clone()),
        prefix: "udd".into(),
        path_style: true,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SecretString::from(SECRET_KEY)),
        ..StorageSettings::default()
    }
}

/// The archive of a completed request, downloaded by its owner.
async fn archive_of(app: &TestApp, owner: &Login, done: &serde_json::Value) -> Vec<u8> {
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    let path = format!("/data-export/{file_id}");
    app.get_as(owner, &path)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_archives_live_in_the_bucket_and_leave_it_on_expiry() {
    let s3 = S3Server::start();
    let storage = bucket_of(&s3);
    let clock = ManualClock::starting_now();
    let app = TestApp::builder()
        .with_workers()
        .with_clock(clock.clone())
        .configure(move |settings| settings.storage = storage)
        .spawn()
        .await;
    let summary = app.import(&fixture_dir());
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);

    // The uploads went to the bucket, under the prefix, byte for byte.
    let upload = std::fs::read(s3.object("udd/uploads/Q5yA26ksJXC57nySc")).unwrap();
    let original = files_under(&fixture_dir())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("Q5yA26ksJXC57nySc"))
        .map(|p| std::fs::read(p).unwrap())
        .expect("the fixture holds the upload");
    assert_eq!(upload, original);

    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, None).await;
    let op = &done["exportOperation"];
    let op_id = op["_id"].as_str().unwrap();
    let file_id = op["fileId"].as_str().unwrap();
    let object = s3.object(&format!("udd/exports/{op_id}.zip"));
    assert!(object.is_file(), "the archive is in the bucket");
    for folder in [
        &app.settings.user_data.file_system_zip_path,
        &app.settings.storage.blob_path,
    ] {
        assert!(
            files_under(folder).is_empty(),
            "{} holds {:?}",
            folder.display(),
            files_under(folder)
        );
    }

    // Downloaded through udd: the bytes in the bucket, whole and by range.
    let path = format!("/data-export/{file_id}");
    let response = app.get_as(&alice, &path).await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes, std::fs::read(&object).unwrap());
    let recorded = udd::ports::UserDataFiles::get(
        &udd::adapters::SqliteUserDataFiles::new(app.database.clone()),
        &file_id.into(),
    )
    .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), recorded.sha256);
    let entries = unzip_bytes(&bytes);
    assert!(
        entries.iter().any(
            |(name, content)| name.starts_with("assets/Q5yA26ksJXC57nySc-") && *content == original
        ),
        "the upload is in the archive: {:?}",
        entries.keys()
    );
    // The same export made on local disk holds the same files, hash for hash.
    let local = TestApp::builder().with_workers().spawn_with_sample().await;
    let local_done = local.export_and_wait(&alice, None).await;
    let local_path = format!(
        "/data-export/{}",
        local_done["exportOperation"]["fileId"].as_str().unwrap()
    );
    let local_bytes = local
        .get_as(&alice, &local_path)
        .await
        .bytes()
        .await
        .unwrap();
    let manifest_files = |entries: &std::collections::BTreeMap<String, Vec<u8>>| {
        let manifest: serde_json::Value =
            serde_json::from_slice(&entries["manifest.json"]).unwrap();
        manifest["files"].clone()
    };
    let local_entries = unzip_bytes(&local_bytes);
    assert!(manifest_files(&entries)
        .as_array()
        .is_some_and(|f| f.len() > 3));
    assert_eq!(manifest_files(&entries), manifest_files(&local_entries));

    let partial = app.get_range_as(&alice, &path, "bytes=100-1099").await;
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().await.unwrap(), bytes.slice(100..1100));

    // The mailed link downloads the archive from the bucket; a tampered one is refused.
    let started = std::time::Instant::now();
    let mail = loop {
        if let Some(mail) = app.outbox().pop() {
            break mail;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = app.local_link(&link_in(&mail));
    let by_link = app.client.get(&link).send().await.unwrap();
    assert_eq!(by_link.status(), 200);
    assert_eq!(by_link.bytes().await.unwrap(), bytes);
    let tampered = format!("{}x", link);
    assert_eq!(
        app.client.get(&tampered).send().await.unwrap().status(),
        403
    );

    // A full export is the same on S3 as on local disk too.
    let full = app.export_and_wait(&alice, Some("true")).await;
    let local_full = local.export_and_wait(&alice, Some("true")).await;
    assert_eq!(
        manifest_files(&unzip_bytes(&archive_of(&app, &alice, &full).await)),
        manifest_files(&unzip_bytes(&archive_of(&local, &alice, &local_full).await))
    );
    drop(local);

    // A week and a minute on, retention deletes the archive from the bucket; the
    // uploads stay.
    clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    assert_eq!(app.services.retention.sweep().unwrap().expired, 2);
    assert!(!object.exists());
    assert!(s3.object("udd/uploads/Q5yA26ksJXC57nySc").is_file());
    assert_eq!(app.get_as(&alice, &path).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redirects_the_download_is_a_short_lived_link_straight_to_the_bucket() {
    let s3 = S3Server::start();
    let storage = StorageSettings {
        download: DownloadMode::Redirect,
        presign_seconds: 2,
        ..bucket_of(&s3)
    };
    let (app, alice, done) = alices_export(
        TestApp::builder().configure(move |settings| settings.storage = storage),
        None,
    )
    .await;
    let op = &done["exportOperation"];
    let file_id = op["fileId"].as_str().unwrap();
    let object = s3.object(&format!("udd/exports/{}.zip", op["_id"].as_str().unwrap()));

    let direct = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = direct
        .get(app.url(&format!("/data-export/{file_id}")))
        .with_login(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&s3.endpoint), "{location}");
    let recorded = udd::ports::UserDataFiles::get(
        &udd::adapters::SqliteUserDataFiles::new(app.database.clone()),
        &file_id.into(),
    )
    .unwrap();
    let encoded_name = recorded.name.replace(' ', "%20");
    assert!(
        location.contains("response-content-disposition=attachment")
            && location.contains(&encoded_name),
        "the link names the download {encoded_name}: {location}"
    );
    // The store checks the signature: the link fetches the archive, a changed one does not.
    let fetched = direct.get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.bytes().await.unwrap(),
        std::fs::read(&object).unwrap()
    );
    let forged = location.replace("udd/exports/", "udd/uploads/Q5yA26ksJXC57nySc?x=");
    assert_ne!(direct.get(&forged).send().await.unwrap().status(), 200);
    // HEAD is answered by udd itself.
    let head = direct
        .head(app.url(&format!("/data-export/{file_id}")))
        .with_login(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    // Past its lifetime the link is refused by the store.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(direct.get(&location).send().await.unwrap().status(), 403);
    // Someone else still gets nothing from udd.
    let bob = fixture_login("bob");
    let refused = direct
        .get(app.url(&format!("/data-export/{file_id}")))
        .with_login(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

fn s3_settings(s3: &S3Server, bucket: &str, secret: &str) -> udd::api::Settings {
    let mut settings = udd::api::Settings::default();
    let dir = s3.root.path();
    settings.database.url = dir.join("udd.sqlite3").to_string_lossy().into_owned();
    settings.user_data.file_system_path = dir.join("userData");
    settings.user_data.file_system_zip_path = dir.join("zipFiles");
    settings.server.link_secret_file = dir.join("link-secret");
    settings.storage = StorageSettings {
        bucket: bucket.into(),
        secret_access_key: Some(SecretString::from(secret.to_owned())),
        ..bucket_of(s3)
    };
    settings
}

#[test]
fn a_bucket_that_cannot_be_used_stops_the_start_with_the_settings_to_check() {
    let s3 = S3Server::start();
    for (bucket, secret) in [(BUCKET, "not the secret"), ("no-such-bucket", SECRET_KEY)] {
        let settings = s3_settings(&s3, bucket, secret);
        let refused = udd::api::Services::builder(&settings)
            .build()
            .err()
            .expect("the start is refused");
        let message = format!("{refused:#}");
        assert!(
            message.contains(&format!("the S3 bucket `{bucket}`"))
                && message.contains("storage.access_key_id"),
            "{message}"
        );
    }
    let settings = s3_settings(&s3, BUCKET, SECRET_KEY);
    assert!(udd::api::Services::builder(&settings).build().is_ok());
    let unreachable = {
        let mut settings = s3_settings(&s3, BUCKET, SECRET_KEY);
        settings.storage.endpoint = Some("http://127.0.0.1:9".into());
        settings
    };
    assert!(udd::api::Services::builder(&unreachable).build().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_installation_grows_into_the_bucket_with_udd_storage_copy() {
    let s3 = S3Server::start();
    // One machine, local folders: the sample workspace and alice's export.
    let (local, alice, done) = alices_export(TestApp::builder(), None).await;
    let file_id = done["exportOperation"]["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/data-export/{file_id}");
    let before = local.get_as(&alice, &path).await.bytes().await.unwrap();

    // The same configuration, now naming the bucket; the local folders are still there.
    let mut settings = local.settings.clone();
    settings.storage = StorageSettings {
        blob_path: settings.storage.blob_path.clone(),
        ..bucket_of(&s3)
    };
    let copying = settings.clone();
    tokio::task::spawn_blocking(move || udd::api::storage_copy::copy_to_bucket(&copying))
        .await
        .unwrap()
        .expect("copied");
    assert!(s3.object("udd/uploads/Q5yA26ksJXC57nySc").is_file());
    // Again: nothing left to copy, nothing broken.
    let again = settings.clone();
    tokio::task::spawn_blocking(move || udd::api::storage_copy::copy_to_bucket(&again))
        .await
        .unwrap()
        .expect("copied again");

    // A udd on the bucket, with the same database and empty local folders, serves the
    // archive made before the move, byte for byte.
    let database = settings.database.url.clone();
    let storage = settings.storage.clone();
    let moved = TestApp::builder()
        .configure(move |settings| {
            settings.database.url = database;
            settings.storage = storage;
        })
        .spawn()
        .await;
    let response = moved.get_as(&alice, &path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), before);
    assert!(files_under(&moved.settings.user_data.file_system_zip_path).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_kept_in_rocket_chats_bucket_are_exported_from_there_without_a_copy() {
    // FileUpload_Storage_Type = AmazonS3.
    exported_in_place(|doc, path| {
        doc["store"] = "AmazonS3:Uploads".into();
        doc["AmazonS3"] = serde_json::json!({ "path": path });
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_kept_in_google_cloud_storage_are_exported_through_its_s3_api() {
    // FileUpload_Storage_Type = GoogleCloudStorage: the document names the object in
    // `GoogleStorage.path`, and the bucket is reached through Google's S3-compatible
    // API (storage.googleapis.com with HMAC keys), here the same S3 server.
    exported_in_place(|doc, path| {
        doc["store"] = "GoogleCloudStorage:Uploads".into();
        doc["GoogleStorage"] = serde_json::json!({ "path": path });
    })
    .await;
}

/// Rocket.Chat's own upload bucket holds the fixture's diagram under the path its
/// upload document names (`mark` writes where, as Rocket.Chat's store does), and the
/// dump holds no bytes for it: the export reads it there, without a copy, and lists it
/// as unavailable when `[rocketchat.uploads]` is not set.
async fn exported_in_place(mark: fn(&mut serde_json::Value, &str)) {
    let rocketchat = S3Server::start();
    let path = "k2Zr8XoM3NwZ/uploads/GENERAL/NBTm56xe8Rh5cF47X/Q5yA26ksJXC57nySc";
    let diagram = std::fs::read(fixture_dir().join("uploads/Q5yA26ksJXC57nySc.png")).unwrap();
    let bucket = udd::adapters::ObjectStorage::s3(&udd::adapters::S3Config {
        bucket: BUCKET.into(),
        endpoint: Some(rocketchat.endpoint.clone()),
        region: "us-east-1".into(),
        prefix: String::new(),
        path_style: true,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SecretString::from(SECRET_KEY)),
    })
    .unwrap();
    // Alice's avatar is kept there too (Rocket.Chat's avatar store is of the same type).
    let avatar_path = "k2Zr8XoM3NwZ/avatars/NBTm56xe8Rh5cF47X";
    let avatar = std::fs::read(fixture_dir().join("avatars/g9Gkkh5ghT5G4fzAL.png")).unwrap();
    let (put, put_avatar) = (diagram.clone(), avatar.clone());
    tokio::task::spawn_blocking(move || {
        bucket.put(path, &mut put.as_slice()).unwrap();
        bucket.put(avatar_path, &mut put_avatar.as_slice()).unwrap();
    })
    .await
    .unwrap();

    // A dump whose documents say where the bytes are, and which holds no bytes.
    let dump = fixture_copy();
    std::fs::remove_file(dump.path().join("uploads/Q5yA26ksJXC57nySc.png")).unwrap();
    std::fs::remove_file(dump.path().join("avatars/g9Gkkh5ghT5G4fzAL.png")).unwrap();
    edit_documents(&dump.path().join("rocketchat_uploads.json"), |doc| {
        if doc["_id"] == "Q5yA26ksJXC57nySc" {
            mark(doc, path);
        }
    });
    edit_documents(&dump.path().join("rocketchat_avatars.json"), |doc| {
        if doc["_id"] == "g9Gkkh5ghT5G4fzAL" {
            mark(doc, avatar_path);
        }
    });

    let endpoint = rocketchat.endpoint.clone();
    let app = TestApp::builder()
        .with_workers()
        .configure(move |settings| {
            let uploads = &mut settings.rocketchat.uploads;
            uploads.bucket = BUCKET.into();
            uploads.endpoint = Some(endpoint);
            uploads.path_style = true;
            uploads.access_key_id = Some(ACCESS_KEY.into());
            uploads.secret_access_key = Some(SecretString::from(SECRET_KEY));
        })
        .spawn()
        .await;
    let summary = app.import(dump.path());
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert!(
        files_under(&app.settings.storage.blob_path)
            .iter()
            .all(|p| !p.to_string_lossy().contains("Q5yA26ksJXC57nySc")),
        "not copied into udd's store"
    );
    // `udd storage check` reads one of the two files the bucket keeps for this
    // workspace; with a key the bucket refuses it fails, naming the store.
    let (passed, report) = storage_check(&app.settings).await;
    assert!(passed.is_ok(), "{passed:?}\n{report}");
    assert!(
        report.contains(&format!(
            "Rocket.Chat's bucket ([rocketchat.uploads]): keeps 2 file(s); read rocketchat-s3/{avatar_path}\n"
        )),
        "{report}"
    );
    assert!(
        report.contains("Rocket.Chat's WebDAV server ([rocketchat.webdav]): keeps nothing"),
        "{report}"
    );
    let mut refused = app.settings.clone();
    refused.rocketchat.uploads.secret_access_key = Some(SecretString::from("not the secret"));
    let (passed, report) = storage_check(&refused).await;
    assert!(passed.is_err(), "{report}");
    assert!(
        report.contains("Rocket.Chat's bucket ([rocketchat.uploads]): keeps 2 file(s) that exports cannot read: ")
            && report.contains("403 Forbidden")
            && report.contains("; check rocketchat.uploads (bucket, endpoint, region, path_style, the keys)\n"),
        "{report}"
    );

    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, None).await;
    let entries = unzip_bytes(&archive_of(&app, &alice, &done).await);
    let (_, exported) = entries
        .iter()
        .find(|(name, _)| name.starts_with("assets/Q5yA26ksJXC57nySc-"))
        .expect("the upload is in the archive");
    assert_eq!(*exported, diagram);
    assert_eq!(
        entries.get("avatar"),
        Some(&avatar),
        "the avatar, read in place"
    );

    // Without [rocketchat.uploads] the same upload is listed as unavailable, and the
    // export still completes.
    let without = TestApp::builder().with_workers().spawn().await;
    without.import(dump.path());
    let (passed, report) = storage_check(&without.settings).await;
    assert!(passed.is_err(), "{report}");
    assert!(
        report.contains("Rocket.Chat's bucket ([rocketchat.uploads]): keeps 2 file(s) that exports cannot read: rocketchat.uploads.bucket is not set\n"),
        "{report}"
    );
    let done = without.export_and_wait(&alice, None).await;
    let entries = unzip_bytes(&archive_of(&without, &alice, &done).await);
    assert!(!entries
        .keys()
        .any(|n| n.starts_with("assets/Q5yA26ksJXC57nySc-")));
    assert!(
        !entries.contains_key("avatar"),
        "no avatar without the bucket"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    assert!(
        manifest["unavailable"].to_string().contains("avatar"),
        "{}",
        manifest["unavailable"]
    );
    assert!(
        manifest["unavailable"]
            .to_string()
            .contains("Q5yA26ksJXC57nySc")
            || manifest["unavailable"].to_string().contains("diagram"),
        "{}",
        manifest["unavailable"]
    );
}

/// `udd storage check` on `settings`: whether it passed, and what it printed.
async fn storage_check(settings: &udd::api::Settings) -> (anyhow::Result<()>, String) {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let services = udd::api::services::Services::build(&settings).unwrap();
        let result = udd::api::storage_check::run(&settings, &services, &mut out);
        (result, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap()
}

/// nginx as Rocket.Chat's WebDAV upload store (`dav_methods`, basic authentication as
/// user `rc`), under `/dav/` of 127.0.0.1:`port`.
fn webdav_server(binary: &Path, port: u16) -> crate::behind_nginx::Nginx {
    crate::behind_nginx::Nginx::serving(binary, port, |root| {
        std::fs::create_dir_all(root.join("www/dav")).unwrap();
        std::fs::write(root.join("htpasswd"), "rc:{PLAIN}dav-secret\n").unwrap();
        let r = root.display();
        format!(
            "server {{\n listen 127.0.0.1:{port};\n location /dav/ {{\n  root {r}/www;\n  \
             auth_basic \"uploads\";\n  auth_basic_user_file {r}/htpasswd;\n  \
             dav_methods PUT DELETE MKCOL;\n  create_full_put_path on;\n }}\n}}\n"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_kept_on_rocket_chats_webdav_server_are_exported_from_there() {
    let Some(nginx) = crate::behind_nginx::nginx_or_skip() else {
        return;
    };
    let dav = webdav_server(&nginx, crate::behind_nginx::free_port());
    // Rocket.Chat's WebDAV store (FileUpload_Storage_Type = Webdav) put the diagram at
    // the upload folder's path followed by its id, as Rocket.Chat does: with a PUT.
    let diagram = std::fs::read(fixture_dir().join("uploads/Q5yA26ksJXC57nySc.png")).unwrap();
    let put = reqwest::Client::new()
        .put(dav.url("/dav/uploads/Q5yA26ksJXC57nySc"))
        .basic_auth("rc", Some("dav-secret"))
        .body(diagram.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{}", dav.error_log());

    let dump = fixture_copy();
    std::fs::remove_file(dump.path().join("uploads/Q5yA26ksJXC57nySc.png")).unwrap();
    edit_documents(&dump.path().join("rocketchat_uploads.json"), |doc| {
        if doc["_id"] == "Q5yA26ksJXC57nySc" {
            doc["store"] = "Webdav:Uploads".into();
            doc["Webdav"] = serde_json::json!({ "path": "/uploads/Q5yA26ksJXC57nySc" });
        }
    });
    let exported = |password: &'static str| {
        let url = dav.url("/dav/");
        let dump = dump.path().to_owned();
        async move {
            let app = TestApp::builder()
                .with_workers()
                .configure(move |settings| {
                    let webdav = &mut settings.rocketchat.webdav;
                    webdav.url = url;
                    webdav.username = Some("rc".into());
                    webdav.password = Some(SecretString::from(password));
                })
                .spawn()
                .await;
            let summary = app.import(&dump);
            assert!(summary.problems.is_empty(), "{:?}", summary.problems);
            let check = storage_check(&app.settings).await;
            let alice = fixture_login("alice");
            let done = app.export_and_wait(&alice, None).await;
            (unzip_bytes(&archive_of(&app, &alice, &done).await), check)
        }
    };

    let (entries, (passed, report)) = exported("dav-secret").await;
    assert!(passed.is_ok(), "{passed:?}\n{report}");
    assert!(
        report.contains("Rocket.Chat's WebDAV server ([rocketchat.webdav]): keeps 1 file(s); read rocketchat-webdav/uploads/Q5yA26ksJXC57nySc\n"),
        "{report}"
    );
    let (_, bytes) = entries
        .iter()
        .find(|(name, _)| name.starts_with("assets/Q5yA26ksJXC57nySc-"))
        .expect("the upload is in the archive");
    assert_eq!(*bytes, diagram);

    // Credentials the server refuses: the upload is listed as unavailable, and the
    // export still completes.
    let (entries, (passed, report)) = exported("wrong").await;
    assert!(passed.is_err(), "{report}");
    assert!(
        report.contains("Rocket.Chat's WebDAV server ([rocketchat.webdav]): keeps 1 file(s) that exports cannot read: ")
            && report.contains("401 Unauthorized; check rocketchat.webdav (url, username, password)\n"),
        "{report}"
    );
    assert!(!entries
        .keys()
        .any(|n| n.starts_with("assets/Q5yA26ksJXC57nySc-")));
    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    assert!(
        manifest["unavailable"].to_string().contains("diagram"),
        "{}",
        manifest["unavailable"]
    );
}
