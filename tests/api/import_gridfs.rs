//! Upload and avatar bytes kept where Rocket.Chat's GridFS store keeps them: the
//! buckets `rocketchat_uploads` and `rocketchat_avatars` of the dump itself.

use std::collections::BTreeMap;
use std::path::Path;

use bson::{Bson, Document};
use udd::app::ImportSummary;
use udd::ports::{Collection, StoreError, WorkspaceReader};

use crate::dumps::{
    fixture_blob, fixture_bucket, fixture_docs, gzip, md5_hex, write_bson, ArchiveWriter, Bucket,
    COLLECTIONS,
};
use crate::helpers::{
    fixture_copy, fixture_dir, fixture_login, spawn_app, stored_blob, unzip, TestApp,
};

/// Chunks of 16 bytes: every fixture blob (15 to 74 bytes) spans up to five.
const CHUNK: usize = 16;

/// The fixture as a mongodump folder whose bytes are in GridFS only (no `uploads/` or
/// `avatars/` folder), with the buckets changed by `alter` before writing.
fn gridfs_folder(dir: &Path, gzipped: bool, alter: impl Fn(&str, &mut Bucket)) {
    for collection in COLLECTIONS {
        write_bson(dir, collection, &fixture_docs(collection), gzipped);
    }
    for bucket_name in ["rocketchat_uploads", "rocketchat_avatars"] {
        let mut bucket = fixture_bucket(bucket_name, CHUNK, true);
        alter(bucket_name, &mut bucket);
        write_bson(dir, &format!("{bucket_name}.files"), &bucket.files, gzipped);
        write_bson(
            dir,
            &format!("{bucket_name}.chunks"),
            &bucket.chunks,
            gzipped,
        );
    }
}

/// Every upload's and avatar's stored bytes equal the fixture's files.
fn assert_blobs_are_the_fixtures(app: &TestApp, what: &str) {
    let reader = app.workspace();
    for upload in fixture_docs("rocketchat_uploads") {
        let id = upload.get_str("_id").unwrap();
        let stored = reader.upload(&id.into()).unwrap();
        assert_eq!(
            stored_blob(app, stored.blob.as_deref().unwrap()),
            fixture_blob("uploads", id),
            "{what}: upload {id}"
        );
    }
    for avatar in fixture_docs("rocketchat_avatars") {
        let username = avatar.get_str("name").unwrap();
        let stored = reader.avatar_of(username).unwrap().unwrap();
        assert_eq!(
            stored_blob(app, stored.blob.as_deref().unwrap()),
            fixture_blob("avatars", avatar.get_str("_id").unwrap()),
            "{what}: avatar of {username}"
        );
    }
}

/// The entries of alice's full export that hold upload and avatar bytes.
async fn exported_files(app: &TestApp) -> BTreeMap<String, Vec<u8>> {
    let done = app
        .export_and_wait(&fixture_login("alice"), Some("true"))
        .await;
    unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ))
    .into_iter()
    .filter(|(name, _)| name.starts_with("assets/") || name == "avatar")
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_gridfs_export_the_same_bytes_as_the_filesystem_form() {
    let filesystem = TestApp::builder().with_workers().spawn_with_sample().await;
    let workspace = filesystem.fingerprint();
    let expected = exported_files(&filesystem).await;
    assert!(
        expected.contains_key("avatar") && expected.keys().any(|k| k.starts_with("assets/")),
        "{:?}",
        expected.keys()
    );

    // Chunks written in reverse order: GridFS does not promise any.
    let dir = tempfile::tempdir().unwrap();
    gridfs_folder(dir.path(), false, |_, bucket| bucket.chunks.reverse());
    let app = TestApp::builder().with_workers().spawn().await;
    let summary = app.import(dir.path());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    assert_eq!(app.fingerprint(), workspace);
    assert_blobs_are_the_fixtures(&app, "plain .bson");
    assert_eq!(exported_files(&app).await, expected);
}

/// `doc` as mongoexport writes it (relaxed Extended JSON), one line.
fn json_line(doc: &Document) -> String {
    Bson::Document(doc.clone())
        .into_relaxed_extjson()
        .to_string()
}

#[tokio::test]
async fn gridfs_in_a_gzipped_dump_an_archive_or_mongoexport_json_gives_the_same_bytes() {
    // Gzipped BSON: the chunks cannot be read again in place and go to a temporary file.
    let dir = tempfile::tempdir().unwrap();
    gridfs_folder(dir.path(), true, |_, bucket| bucket.chunks.reverse());
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    assert_blobs_are_the_fixtures(&app, ".bson.gz");

    // An archive, plain and gzipped, the buckets' blocks interleaved with the rest.
    let mut writer = ArchiveWriter::fixture(3, "rocketchat");
    for bucket_name in ["rocketchat_uploads", "rocketchat_avatars"] {
        let bucket = fixture_bucket(bucket_name, CHUNK, false);
        writer = writer
            .collection("rocketchat", &format!("{bucket_name}.files"), bucket.files)
            .collection(
                "rocketchat",
                &format!("{bucket_name}.chunks"),
                bucket.chunks,
            );
    }
    let bytes = writer.bytes();
    for (name, content) in [
        ("plain.archive", bytes.clone()),
        ("gz.archive", gzip(&bytes)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let app = spawn_app().await;
        let summary = app.import(&path);
        assert_eq!(summary.problem_count, 0, "{name}: {:?}", summary.problems);
        assert_blobs_are_the_fixtures(&app, name);
    }

    // mongoexport's JSON: the bytes in base64, in the v2 form and in the legacy one
    // (`{"$binary": …, "$type": …}`) that mongoexport wrote before 4.2.
    let dir = fixture_copy();
    std::fs::remove_dir_all(dir.path().join("uploads")).unwrap();
    std::fs::remove_dir_all(dir.path().join("avatars")).unwrap();
    for bucket_name in ["rocketchat_uploads", "rocketchat_avatars"] {
        let bucket = fixture_bucket(bucket_name, CHUNK, true);
        let files: Vec<String> = bucket.files.iter().map(json_line).collect();
        let chunks: Vec<String> = bucket
            .chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut value: serde_json::Value = serde_json::from_str(&json_line(chunk)).unwrap();
                if i % 2 == 1 {
                    let base64 = value["data"]["$binary"]["base64"].clone();
                    value["data"] = serde_json::json!({"$binary": base64, "$type": "00"});
                }
                value.to_string()
            })
            .collect();
        std::fs::write(
            dir.path().join(format!("{bucket_name}.files.json")),
            files.join("\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{bucket_name}.chunks.json")),
            chunks.join("\n"),
        )
        .unwrap();
    }
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    assert_blobs_are_the_fixtures(&app, "mongoexport JSON");
}

fn chunk_n(chunk: &Document) -> i32 {
    chunk.get_i32("n").unwrap()
}

fn of(chunk: &Document, id: &str) -> bool {
    chunk.get_str("files_id").unwrap() == id
}

/// Damages four files of the fixture's buckets, each in its own way, and leaves one
/// avatar without its `.files` document (which GridFS can do without).
fn damage(bucket_name: &str, bucket: &mut Bucket) {
    if bucket_name == "rocketchat_uploads" {
        // diagram.png, 74 bytes in 5 chunks: the third is lost.
        bucket
            .chunks
            .retain(|c| !(of(c, "Q5yA26ksJXC57nySc") && chunk_n(c) == 2));
        // résumé.txt: its MD5 is someone else's.
        for file in &mut bucket.files {
            match file.get_str("_id").unwrap() {
                "kBHKXcNEuRvX3wtkT" => {
                    file.insert("md5", md5_hex(b"something else"));
                }
                // The report, 30 bytes, says it has 31.
                "nd6ssaJw6zJHrtFGs" => {
                    file.insert("length", 31_i64);
                }
                _ => {}
            }
        }
    } else {
        // alice's avatar: its first chunk twice.
        let first = bucket
            .chunks
            .iter()
            .find(|c| of(c, "g9Gkkh5ghT5G4fzAL") && chunk_n(c) == 0)
            .cloned()
            .unwrap();
        bucket.chunks.push(first);
        // bob's avatar: chunks but no `.files` document.
        bucket
            .files
            .retain(|f| f.get_str("_id").unwrap() != "gMdbPrYLi69cWCtPB");
        // A chunk document without its data.
        bucket
            .chunks
            .push(bson::doc! {"_id": bson::oid::ObjectId::new(), "files_id": "zzz", "n": 0});
    }
}

fn problems(summary: &ImportSummary) -> String {
    summary.problems.join("\n")
}

#[tokio::test]
async fn damaged_gridfs_files_are_skipped_with_their_reason_and_the_rest_imported() {
    let app = spawn_app().await;
    // A good import first: a damaged dump later must not spoil what it stored.
    app.import(&fixture_dir());

    let dir = tempfile::tempdir().unwrap();
    gridfs_folder(dir.path(), false, damage);
    let summary = app.import(dir.path());
    let uploads = summary.of(Collection::Uploads);
    assert_eq!(
        (uploads.imported, uploads.skipped),
        (0, 3),
        "{:?}",
        summary.problems
    );
    let avatars = summary.of(Collection::Avatars);
    assert_eq!(
        (avatars.imported, avatars.skipped),
        (3, 2),
        "{:?}",
        summary.problems
    );
    assert_eq!(summary.not_imported(), 5);
    assert_eq!(summary.of(Collection::Messages).imported, 24);

    let text = problems(&summary);
    let unusable = "skipped: its file in GridFS (rocketchat_uploads.chunks) is unusable";
    let docs = fixture_docs("rocketchat_uploads");
    let number_of = |id: &str| {
        docs.iter()
            .position(|d| d.get_str("_id").unwrap() == id)
            .unwrap()
            + 1
    };
    for (id, reason) in [
        (
            "Q5yA26ksJXC57nySc",
            "chunk 2 is missing (4 chunk(s) present)".to_owned(),
        ),
        (
            "kBHKXcNEuRvX3wtkT",
            format!(
                "its MD5 is {}, its chunks give {}",
                md5_hex(b"something else"),
                md5_hex(&fixture_blob("uploads", "kBHKXcNEuRvX3wtkT"))
            ),
        ),
        (
            "nd6ssaJw6zJHrtFGs",
            "its chunks hold 30 bytes, its length is 31".to_owned(),
        ),
    ] {
        let document = number_of(id);
        let at = crate::dumps::bson_bytes(&docs[..document - 1]).len();
        assert!(
            text.contains(&format!(
                "rocketchat_uploads.bson: document {document} at byte {at}: {unusable}: {reason}"
            )),
            "{reason}: {text}"
        );
    }
    assert!(
        text.contains("(rocketchat_avatars.chunks) is unusable: chunk 0 appears more than once"),
        "{text}"
    );
    assert!(
        text.contains("rocketchat_avatars.chunks.bson: document")
            && text.contains("skipped: a GridFS chunk with no `data`"),
        "{text}"
    );

    // What the earlier import stored is kept whole.
    let reader = app.workspace();
    let report = reader.upload(&"nd6ssaJw6zJHrtFGs".into()).unwrap();
    assert_eq!(
        stored_blob(&app, report.blob.as_deref().unwrap()),
        fixture_blob("uploads", "nd6ssaJw6zJHrtFGs")
    );
    // bob's avatar came from chunks alone.
    let bob = reader.avatar_of("bob").unwrap().unwrap();
    assert_eq!(
        stored_blob(&app, bob.blob.as_deref().unwrap()),
        fixture_blob("avatars", "gMdbPrYLi69cWCtPB")
    );

    // Into an empty workspace, nothing of the damaged files is stored at all.
    let fresh = spawn_app().await;
    fresh.import(dir.path());
    assert!(matches!(
        fresh.workspace().upload(&"Q5yA26ksJXC57nySc".into()),
        Err(StoreError::NotFound)
    ));
    assert!(fresh.workspace().avatar_of("alice").unwrap().is_none());
}
