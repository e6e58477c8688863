use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use udd::domain::RoomType;
use udd::ports::{BlobStore, Collection, StoreError, WorkspaceReader};

use crate::helpers::{copy_tree, fixture_copy, fixture_dir, spawn_app, Login, TestApp};

fn credentials() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("credentials.json")).unwrap())
        .unwrap()
}

#[tokio::test]
async fn the_sample_workspace_imports_completely() {
    let app = spawn_app().await;
    let summary = app.import(&fixture_dir());
    let imported = |c| summary.of(c).imported;
    assert_eq!(imported(Collection::Users), 4);
    assert_eq!(imported(Collection::Rooms), 5);
    assert_eq!(imported(Collection::Subscriptions), 14);
    assert_eq!(imported(Collection::Messages), 24);
    assert_eq!(imported(Collection::Uploads), 3);
    assert_eq!(imported(Collection::Avatars), 4);
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);

    let reader = app.workspace();
    let message = reader.message("Qw3J423rcfEcaHY8n").unwrap();
    assert_eq!(message.room_id, "GENERAL");
    assert_eq!(
        message.msg,
        "Hi Alice, *bold* and _italic_ and `code` & <angle brackets>"
    );
    assert_eq!(message.username.as_deref(), Some("bob"));
    assert_eq!(message.ts.timestamp_millis(), 1_709_285_357_193);
    let system = reader.message("yqckXrpwcAdtcgyxw").unwrap();
    assert_eq!(system.message_type.as_deref(), Some("au"));
    let reply = reader.message("AkJdkXpt986MdhESJ").unwrap();
    assert_eq!(reply.thread_id.as_deref(), Some("Qw3J423rcfEcaHY8n"));
    let with_file = reader.message("27Jx7BTh4T3MMkG7h").unwrap();
    assert_eq!(with_file.file_id.as_deref(), Some("Q5yA26ksJXC57nySc"));
    assert_eq!(
        with_file.attachments.as_ref().unwrap()[0]["title"],
        "diagram.png"
    );

    let direct = reader
        .room(&"NBTm56xe8Rh5cF47Xfq6g5jFboeXuNZhZR".into())
        .unwrap();
    assert_eq!(direct.room_type, RoomType::Direct);
    assert_eq!(
        direct.member_ids,
        vec!["NBTm56xe8Rh5cF47X", "fq6g5jFboeXuNZhZR"]
    );
    assert_eq!(
        reader
            .subscriptions_of(&"NBTm56xe8Rh5cF47X".into())
            .unwrap()
            .len(),
        4,
        "alice is in 4 of the 5 rooms"
    );

    let upload = reader.upload(&"nd6ssaJw6zJHrtFGs".into()).unwrap();
    assert_eq!(upload.name, "report final (v2).pdf");
    assert_eq!(upload.size, 30);
    let mut stored = Vec::new();
    udd::adapters::LocalBlobStore::new(&app.settings.storage.blob_path)
        .open(upload.blob.as_deref().unwrap())
        .unwrap()
        .unwrap()
        .read_to_end(&mut stored)
        .unwrap();
    let original = std::fs::read(fixture_dir().join("uploads/nd6ssaJw6zJHrtFGs")).unwrap();
    assert_eq!(
        stored, original,
        "the blob without an extension is found and copied byte for byte"
    );
    let png = reader.upload(&"Q5yA26ksJXC57nySc".into()).unwrap();
    assert!(
        png.blob.is_some(),
        "the blob with an extension is found too"
    );
    let avatar = reader.avatar_of("alice").unwrap().unwrap();
    assert_eq!(avatar.user_id.as_deref(), Some("NBTm56xe8Rh5cF47X"));
    assert!(avatar.blob.is_some());
}

#[tokio::test]
async fn imported_users_log_in_with_their_rocket_chat_password_and_token() {
    let app = TestApp::builder().spawn_with_sample().await;
    let creds = credentials();
    for name in ["alice", "bob", "carol", "dave"] {
        let password = creds["passwords"][name].as_str().unwrap();
        let response = app
            .post_login(json!({"user": name, "password": password}))
            .await;
        assert_eq!(
            response.status(),
            200,
            "{name} logs in with the Rocket.Chat password"
        );
        let wrong = app
            .post_login(json!({"user": name, "password": "nope"}))
            .await;
        assert_eq!(wrong.status(), 401);

        let token = Login {
            user_id: creds["tokens"][name]["userId"].as_str().unwrap().to_owned(),
            token: creds["tokens"][name]["authToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        };
        let me = app.get_as(&token, "/api/v1/me").await;
        assert_eq!(
            me.status(),
            200,
            "{name}'s existing Rocket.Chat token works"
        );
        let body: Value = me.json().await.unwrap();
        assert_eq!(body["username"], name);
    }
    let alice = Login {
        user_id: creds["tokens"]["alice"]["userId"]
            .as_str()
            .unwrap()
            .to_owned(),
        token: creds["tokens"]["alice"]["authToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let body: Value = app.get_as(&alice, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(body["statusText"], "Back on Monday");
    assert_eq!(body["roles"], json!(["user", "admin"]));
}

#[tokio::test]
async fn importing_the_same_dump_twice_changes_nothing() {
    let app = TestApp::builder().spawn_with_sample().await;
    let first = app.fingerprint();
    let again = app.import(&fixture_dir());
    assert_eq!(again.of(Collection::Messages).imported, 24);
    assert_eq!(app.fingerprint(), first);
    assert_eq!(
        first.iter().find(|t| t.table == "messages").unwrap().rows,
        24
    );
}

#[tokio::test]
async fn a_newer_dump_updates_changed_documents() {
    let app = TestApp::builder().spawn_with_sample().await;
    let dir = fixture_copy();
    let path = dir.path().join("rocketchat_message.json");
    // Rocket.Chat stamps an edit with a new `_updatedAt`; a document with the stored
    // one is taken as unchanged.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| {
            if line.contains("thanks all") {
                line.replace("thanks all", "thanks all (edited)").replace(
                    r#""_updatedAt":{"$date":"2024-03-01T11:13:26.282Z"}"#,
                    r#""_updatedAt":{"$date":"2024-03-02T08:00:00.000Z"}"#,
                )
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&path, text).unwrap();
    let summary = app.import(dir.path());
    assert_eq!(summary.of(Collection::Messages).updated, 1);
    assert_eq!(
        app.workspace().message("AkJdkXpt986MdhESJ").unwrap().msg,
        "thanks all (edited)"
    );
    assert_eq!(
        app.fingerprint()
            .iter()
            .find(|t| t.table == "messages")
            .unwrap()
            .rows,
        24
    );
}

/// Rewrites every file of the fixture with `transform(line number, document)`, and
/// writes them as JSON lines or as one pretty-printed JSON array.
fn variant(into: &Path, array: bool, transform: impl Fn(Value) -> Value) {
    copy_tree(&fixture_dir(), into);
    for entry in std::fs::read_dir(into).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") || path.ends_with("credentials.json") {
            continue;
        }
        let docs: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| transform(serde_json::from_str(l).unwrap()))
            .collect();
        let text = if array {
            serde_json::to_string_pretty(&docs).unwrap()
        } else {
            docs.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        std::fs::write(&path, text).unwrap();
    }
}

/// Relaxed Extended JSON → canonical: dates as `{"$numberLong"}` millis, integers wrapped.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("$date") => {
            let iso = map["$date"].as_str().unwrap();
            let millis = chrono::DateTime::parse_from_rfc3339(iso)
                .unwrap()
                .timestamp_millis();
            json!({"$date": {"$numberLong": millis.to_string()}})
        }
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        Value::Number(n) if n.is_i64() => {
            let n = n.as_i64().unwrap();
            if i32::try_from(n).is_ok() {
                json!({"$numberInt": n.to_string()})
            } else {
                json!({"$numberLong": n.to_string()})
            }
        }
        other => other,
    }
}

#[tokio::test]
async fn canonical_extended_json_and_json_arrays_load_the_same_data() {
    let reference = TestApp::builder().spawn_with_sample().await;
    let expected = reference.fingerprint();

    let canonical_dir = tempfile::tempdir().unwrap();
    variant(canonical_dir.path(), false, canonical);
    assert!(
        std::fs::read_to_string(canonical_dir.path().join("rocketchat_message.json"))
            .unwrap()
            .contains("$numberLong")
    );
    let app = spawn_app().await;
    let summary = app.import(canonical_dir.path());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    assert_eq!(app.fingerprint(), expected, "canonical Extended JSON");

    let array_dir = tempfile::tempdir().unwrap();
    variant(array_dir.path(), true, |v| v);
    let app = spawn_app().await;
    let summary = app.import(array_dir.path());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    assert_eq!(app.fingerprint(), expected, "JSON arrays");
}

#[tokio::test]
async fn broken_lines_missing_fields_and_missing_blobs_are_reported_and_the_rest_imported() {
    let dir = fixture_copy();
    let path = dir.path().join("rocketchat_message.json");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(2, "{\"_id\": \"broken\", \"rid\": ".to_owned()); // line 3
    lines.insert(
        5,
        r#"{"_id": "no-ts", "rid": "GENERAL", "msg": "when?"}"#.to_owned(),
    ); // line 6
    std::fs::write(&path, lines.join("\n")).unwrap();
    std::fs::remove_file(dir.path().join("uploads/kBHKXcNEuRvX3wtkT.txt")).unwrap();

    let app = spawn_app().await;
    let summary = app.import(dir.path());
    let messages = summary.of(Collection::Messages);
    assert_eq!(
        (messages.imported, messages.malformed, messages.skipped),
        (24, 1, 1)
    );
    assert_eq!(summary.of(Collection::Uploads).missing_blobs, 1);
    let problems = summary.problems.join("\n");
    assert!(
        problems.contains("rocketchat_message.json:3: malformed"),
        "{problems}"
    );
    assert!(
        problems.contains("rocketchat_message.json:6: skipped: missing or invalid `ts`"),
        "{problems}"
    );
    assert!(
        problems.contains("upload kBHKXcNEuRvX3wtkT (résumé.txt): file missing"),
        "{problems}"
    );

    let upload = app.workspace().upload(&"kBHKXcNEuRvX3wtkT".into()).unwrap();
    assert_eq!(upload.blob, None, "imported without its file");
    assert!(matches!(
        app.workspace().message("broken"),
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_message_whose_room_or_upload_is_missing_is_still_imported() {
    let dir = fixture_copy();
    std::fs::write(
        dir.path().join("rocketchat_message.json"),
        r#"{"_id":"orphan","rid":"GONE","msg":"hello","ts":{"$date":"2024-03-01T09:00:00.000Z"},"u":{"_id":"x","username":"ghost"},"file":{"_id":"NOPE"}}"#,
    )
    .unwrap();
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    assert_eq!(summary.of(Collection::Messages).imported, 1);
    let message = app.workspace().message("orphan").unwrap();
    assert_eq!(message.room_id, "GONE");
    assert_eq!(message.file_id.as_deref(), Some("NOPE"));
}
