//! Importing again as a sync: a second dump of the sample workspace with new, edited and
//! deleted messages, a user who left a room and a deleted upload, as Rocket.Chat leaves
//! them (deletions in `rocketchat__trash`, an edit's history as a `_hidden` copy).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::{json, Value};
use udd::ports::{BlobStore, Collection, StoreError, WorkspaceReader, WorkspaceWriter};

use crate::helpers::{copy_tree, fixture_dir, fixture_login, unzip, TestApp};

const GENERAL: &str = "GENERAL";
const EDITED: &str = "H9CJ5DEMkMdtFLYco";
const OLD_TEXT: &str = "Welcome everyone! Export test starts here.";
const NEW_TEXT: &str = "Welcome everyone! The export test starts here (edited).";
const DELETED: &str = "beyTcMpFGPEyqrkAT";
const DELETED_TEXT: &str = "Ünïcödé";
/// Alice's subscription to release-train, which she left.
const LEFT_SUBSCRIPTION: &str = "YuDi2uwBDBajr9f5N";
const LEFT_ROOM: &str = "5sQZnhxdWxcAeBdc3";
const DELETED_UPLOAD: &str = "nd6ssaJw6zJHrtFGs";
const KEPT_UPLOAD: &str = "Q5yA26ksJXC57nySc";
const NEW_MESSAGES: [&str; 3] = ["SyncNew000000001", "SyncNew000000002", "SyncNew000000003"];

fn date(iso: &str) -> Value {
    json!({"$date": iso})
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(path: &Path, docs: &[Value]) {
    let text: String = docs.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Takes the document `id` out of `docs`.
fn take(docs: &mut Vec<Value>, id: &str) -> Value {
    let at = docs.iter().position(|d| d["_id"] == id).unwrap();
    docs.remove(at)
}

/// The sample workspace a few days later, as a full mongoexport dump.
fn second_dump(dir: &Path) {
    copy_tree(&fixture_dir(), dir);
    let messages_file = dir.join("rocketchat_message.json");
    let mut messages = lines(&messages_file);
    let deleted = take(&mut messages, DELETED);
    let edited = messages.iter_mut().find(|m| m["_id"] == EDITED).unwrap();
    let mut history = edited.clone();
    edited["msg"] = json!(NEW_TEXT);
    edited["editedAt"] = date("2024-03-05T10:00:00.000Z");
    edited["editedBy"] = json!({"_id": "NBTm56xe8Rh5cF47X", "username": "alice"});
    edited["_updatedAt"] = date("2024-03-05T10:00:00.000Z");
    // "Keep history": the old version stays as a hidden copy pointing at the message.
    history["_id"] = json!("HistoryCopy00001");
    history["_hidden"] = json!(true);
    history["parent"] = json!(EDITED);
    messages.push(history);
    for (n, id) in NEW_MESSAGES.iter().enumerate() {
        let at = format!("2024-03-05T11:0{n}:00.000Z");
        messages.push(json!({
            "_id": id, "rid": GENERAL, "msg": format!("new message {n}"),
            "ts": date(&at), "_updatedAt": date(&at),
            "u": {"_id": "fq6g5jFboeXuNZhZR", "username": "bob"}
        }));
    }
    write_lines(&messages_file, &messages);

    let subscriptions_file = dir.join("rocketchat_subscription.json");
    let mut subscriptions = lines(&subscriptions_file);
    let left = take(&mut subscriptions, LEFT_SUBSCRIPTION);
    write_lines(&subscriptions_file, &subscriptions);

    let uploads_file = dir.join("rocketchat_uploads.json");
    let mut uploads = lines(&uploads_file);
    let upload = take(&mut uploads, DELETED_UPLOAD);
    write_lines(&uploads_file, &uploads);

    let trashed = |mut doc: Value, model: &str, at: &str| {
        doc["__collection__"] = json!(model);
        doc["_deletedAt"] = date(at);
        doc
    };
    write_lines(
        &dir.join("rocketchat__trash.json"),
        &[
            trashed(deleted, "message", "2024-03-05T12:00:00.000Z"),
            trashed(left, "subscription", "2024-03-05T12:01:00.000Z"),
            trashed(upload, "uploads", "2024-03-05T12:02:00.000Z"),
            // Deleted before udd ever saw it.
            json!({"_id": "NeverImported0001", "rid": GENERAL, "msg": "x",
                   "__collection__": "message", "_deletedAt": date("2024-03-05T12:03:00.000Z")}),
            // A collection the workspace does not hold.
            json!({"_id": "x", "__collection__": "livechat_inquiry",
                   "_deletedAt": date("2024-03-05T12:04:00.000Z")}),
        ],
    );
}

fn general_of(entries: &BTreeMap<String, Vec<u8>>) -> Vec<Value> {
    String::from_utf8(entries["general.json"].clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_dump_adds_edits_and_deletes_and_the_next_export_shows_it() {
    let app = TestApp::builder().with_workers().spawn().await;
    let first = app.import(&fixture_dir());
    assert_eq!(first.of(Collection::Messages).added, 24);
    let upload_key = app
        .workspace()
        .upload(&DELETED_UPLOAD.into())
        .unwrap()
        .blob
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    second_dump(dir.path());

    let summary = app.import(dir.path());
    let messages = summary.of(Collection::Messages);
    assert_eq!(
        (messages.added, messages.updated, messages.deleted),
        (3, 1, 1),
        "{messages:?}"
    );
    assert_eq!(messages.unchanged, 24 - 2);
    assert_eq!(messages.hidden, 1);
    assert_eq!(
        messages.not_held, 1,
        "the trash record of a message never held"
    );
    let subscriptions = summary.of(Collection::Subscriptions);
    assert_eq!((subscriptions.deleted, subscriptions.unchanged), (1, 13));
    assert_eq!(summary.of(Collection::Uploads).deleted, 1);
    assert_eq!(summary.of(Collection::Trash).imported, 4);
    assert_eq!(summary.not_imported(), 0, "{:?}", summary.problems);
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);

    // Stored as Rocket.Chat has it now.
    let reader = app.workspace();
    assert_eq!(reader.message(EDITED).unwrap().msg, NEW_TEXT);
    assert!(reader.message(DELETED).is_err());
    assert!(reader.message("HistoryCopy00001").is_err());
    assert!(matches!(
        reader.upload(&DELETED_UPLOAD.into()),
        Err(StoreError::NotFound)
    ));
    let blobs = udd::adapters::LocalBlobStore::new(&app.settings.storage.blob_path);
    assert!(blobs.open(&upload_key).unwrap().is_none(), "its bytes too");

    let done = app
        .export_and_wait(&fixture_login("alice"), Some("true"))
        .await;
    let entries = unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ));
    assert!(
        !entries.contains_key("release-train.json"),
        "alice left release-train: {:?}",
        entries.keys()
    );
    let channels = String::from_utf8(entries["channels.json"].clone()).unwrap();
    assert!(!channels.contains(LEFT_ROOM), "{channels}");
    let general = general_of(&entries);
    assert_eq!(general.len(), 12 + 3 - 1);
    let texts: Vec<&str> = general.iter().filter_map(|m| m["msg"].as_str()).collect();
    for n in 0..3 {
        assert!(texts.contains(&format!("new message {n}").as_str()));
    }
    assert!(texts.contains(&NEW_TEXT), "{texts:?}");
    assert!(!texts.contains(&OLD_TEXT), "the edit replaced the text");
    assert!(!texts.iter().any(|t| t.contains(DELETED_TEXT)), "{texts:?}");
}

#[tokio::test]
async fn importing_the_same_dump_again_changes_nothing_and_says_so() {
    let app = TestApp::builder().spawn().await;
    let dir = tempfile::tempdir().unwrap();
    second_dump(dir.path());
    app.import(&fixture_dir());
    app.import(dir.path());
    let before = app.fingerprint();

    let again = app.import(dir.path());
    for (collection, counts) in &again.counts {
        assert_eq!(
            (
                counts.added,
                counts.updated,
                counts.deleted,
                counts.not_held
            ),
            (0, 0, 0, 0),
            "{collection:?}: {counts:?}"
        );
        assert_eq!(counts.unchanged, counts.imported, "{collection:?}");
    }
    assert_eq!(again.of(Collection::Messages).unchanged, 24 - 1 + 3);
    assert_eq!(again.of(Collection::Trash).unchanged, 4, "already applied");
    assert!(!again.changed());
    assert_eq!(app.fingerprint(), before, "not a row changed");
}

#[tokio::test]
async fn the_delta_starts_where_the_last_import_ended() {
    let app = TestApp::builder().spawn().await;
    let dir = tempfile::tempdir().unwrap();
    second_dump(dir.path());
    app.import(&fixture_dir());
    app.import(dir.path());
    let marks: BTreeMap<&str, String> = app
        .workspace()
        .sync_marks()
        .unwrap()
        .into_iter()
        .map(|(c, at)| (c.label(), at.to_rfc3339()))
        .collect();
    assert_eq!(marks["messages"], "2024-03-05T11:02:00+00:00");
    // The record of a collection the workspace does not hold counts for nothing.
    assert_eq!(marks["trash"], "2024-03-05T12:03:00+00:00");
    let queries = udd::adapters::delta_queries(&app.workspace().sync_marks().unwrap());
    let message_query = queries
        .iter()
        .find(|q| q.collection == "rocketchat_message")
        .unwrap();
    assert_eq!(
        message_query.query,
        r#"{"_updatedAt":{"$gte":{"$date":"2024-03-05T10:02:00.000Z"}}}"#
    );

    // A delta holding only the trash is enough to apply a later deletion.
    let delta = tempfile::tempdir().unwrap();
    write_lines(
        &delta.path().join("rocketchat__trash.json"),
        &[json!({"_id": NEW_MESSAGES[0], "__collection__": "message",
                 "_deletedAt": date("2024-03-06T09:00:00.000Z")})],
    );
    // An upload renamed since: its document is in the delta, its file is not.
    let mut renamed = lines(&fixture_dir().join("rocketchat_uploads.json"))
        .into_iter()
        .find(|u| u["_id"] == KEPT_UPLOAD)
        .unwrap();
    renamed["name"] = json!("renamed.png");
    renamed["_updatedAt"] = date("2024-03-06T09:00:00.000Z");
    write_lines(&delta.path().join("rocketchat_uploads.json"), &[renamed]);
    let summary = app.import(delta.path());
    assert_eq!(summary.of(Collection::Messages).deleted, 1);
    assert!(app.workspace().message(NEW_MESSAGES[0]).is_err());
    assert_eq!(summary.of(Collection::Uploads).updated, 1);
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    let upload = app.workspace().upload(&KEPT_UPLOAD.into()).unwrap();
    assert_eq!(upload.name, "renamed.png");
    let blobs = udd::adapters::LocalBlobStore::new(&app.settings.storage.blob_path);
    let key = upload.blob.expect("the bytes it had are kept");
    assert!(blobs.open(&key).unwrap().is_some());
}

/// What the export relies on: pages after a (`ts`, `id`) cursor up to a fixed cutoff.
/// A sync between two pages edits in place (same position), deletes (gone from later
/// pages) and adds (after the cursor: read once; before it: not read), so no message
/// comes twice and nothing fails.
#[tokio::test]
async fn paging_a_room_while_a_sync_applies_reads_every_message_at_most_once() {
    let app = TestApp::builder().spawn_with_sample().await;
    let dir = tempfile::tempdir().unwrap();
    second_dump(dir.path());
    let reader = app.workspace();
    let cutoff = chrono::Utc::now();
    let mut cursor = None;
    let mut seen = Vec::new();
    let mut texts = Vec::new();
    let mut synced = false;
    loop {
        let page = reader
            .messages_page(&GENERAL.into(), cutoff, cursor.clone(), 3)
            .unwrap();
        seen.extend(page.iter().map(|m| m.id.clone()));
        texts.extend(page.iter().map(|m| m.msg.clone()));
        if let Some(last) = page.last() {
            cursor = Some(udd::domain::MessageCursor::after(last));
        }
        if !synced {
            // After the first page, which ends before the edited and deleted messages.
            app.import(dir.path());
            synced = true;
        }
        if page.len() < 3 {
            break;
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert!(!seen.contains(&DELETED.to_owned()));
    assert!(texts.contains(&NEW_TEXT.to_owned()));
    assert!(NEW_MESSAGES.iter().all(|id| seen.contains(&id.to_string())));
}

/// An export running while the sync applies completes and writes no message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_running_during_a_sync_completes_without_repeating_a_message() {
    let app = TestApp::builder()
        .with_workers()
        .batch_size(2)
        .spawn_with_sample()
        .await;
    let dir = tempfile::tempdir().unwrap();
    second_dump(dir.path());
    let alice = fixture_login("alice");
    let (status, _) = app.request_download(&alice, Some("true")).await;
    assert_eq!(status, 200);
    let summary = app.import(dir.path());
    assert_eq!(summary.of(Collection::Messages).deleted, 1);
    let done = app.export_and_wait(&alice, Some("true")).await;
    let entries = unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ));
    let general = general_of(&entries);
    let keys: Vec<(String, String)> = general
        .iter()
        .map(|m| (m["ts"].to_string(), m["msg"].to_string()))
        .collect();
    let unique: HashSet<&(String, String)> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    assert!(
        general.len() <= 12 + 3,
        "at most every message once: {}",
        general.len()
    );
}
