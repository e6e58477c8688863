use std::path::Path;
use udd::domain::OperationId;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{alices_export, fixture_copy, fixture_dir, fixture_login, unzip, TestApp};

fn text(entries: &std::collections::BTreeMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8(
        entries
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", entries.keys()))
            .clone(),
    )
    .unwrap()
}

const DIRECT_ROOM: &str = "NBTm56xe8Rh5cF47Xfq6g5jFboeXuNZhZR";
const HIDDEN_ROOM: &str = "wacHpdJfEyYAW9TYN";

/// Every file the manifest lists is in the zip with that size and hash, and nothing
/// else is (but the manifest itself); no entry can leave the folder it is unpacked into.
fn assert_manifest_matches(entries: &std::collections::BTreeMap<String, Vec<u8>>) -> Value {
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let listed: Vec<&Value> = manifest["files"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len() + 1, entries.len(), "{:?}", entries.keys());
    for file in listed {
        let bytes = &entries[file["path"].as_str().unwrap()];
        assert_eq!(file["size"], bytes.len() as u64);
        assert_eq!(file["sha256"], hex::encode(Sha256::digest(bytes)));
    }
    for name in entries.keys() {
        let path = Path::new(name);
        assert!(
            path.is_relative() && !name.contains("..") && !name.contains('\\'),
            "unsafe entry {name}"
        );
    }
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_export_of_the_sample_workspace_is_complete_private_and_safe() {
    let (_app, _alice, done) = alices_export(TestApp::builder().batch_size(3), None).await;
    crate::openapi::OpenApi::project().assert_response(
        "/api/v1/users.requestDataDownload",
        "get",
        200,
        &done,
    );
    let op = &done["exportOperation"];
    assert!(op["fileId"].is_string());
    let rooms = op["roomList"].as_array().unwrap();
    assert_eq!(rooms.len(), 4);
    for room in rooms {
        assert_eq!(room["status"], "completed");
        assert_eq!(room["exportedCount"], room["total"], "{room}");
    }
    let general = rooms.iter().find(|r| r["roomId"] == "GENERAL").unwrap();
    assert_eq!(general["exportedCount"], 12);
    let direct = rooms.iter().find(|r| r["roomId"] == DIRECT_ROOM).unwrap();
    assert_eq!(
        direct["userId"], "fq6g5jFboeXuNZhZR",
        "the other member of the direct room"
    );
    assert_eq!(direct["targetFile"], format!("{DIRECT_ROOM}.html"));
    // The folder goes right after the completing commit, which the poll may see first.
    let working = Path::new(op["exportPath"].as_str().unwrap());
    let started = std::time::Instant::now();
    while working.exists() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!working.exists(), "the working folder is removed");

    let entries = unzip(Path::new(op["generatedFile"].as_str().unwrap()));
    for name in [
        "index.html",
        "user.html",
        "avatar",
        "GENERAL.html",
        "tzEwHxTswGEdbQr33.html",
        "5sQZnhxdWxcAeBdc3.html",
    ] {
        assert!(
            entries.contains_key(name),
            "{name} missing from {:?}",
            entries.keys()
        );
    }
    assert!(
        entries.contains_key(&format!("{DIRECT_ROOM}.html")),
        "the DM file is named by room id"
    );
    assert!(!entries.contains_key(&format!("{HIDDEN_ROOM}.html")));
    let direct_page = text(&entries, &format!("{DIRECT_ROOM}.html"));
    assert!(
        direct_page.contains("<h1>User_") && !direct_page.contains(&format!("<h1>{DIRECT_ROOM}")),
        "a direct room is named by its other member, pseudonymised: {direct_page}"
    );
    assert_eq!(
        entries["assets/Q5yA26ksJXC57nySc-diagram.png"],
        std::fs::read(fixture_dir().join("uploads/Q5yA26ksJXC57nySc.png")).unwrap()
    );
    assert!(entries.contains_key("assets/nd6ssaJw6zJHrtFGs-report final (v2).pdf"));
    assert!(entries.contains_key("assets/kBHKXcNEuRvX3wtkT-résumé.txt"));

    let all_text: String = entries
        .iter()
        .filter(|(n, _)| n.ends_with(".html"))
        .map(|(n, _)| text(&entries, n))
        .collect();
    assert!(
        !all_text.contains("alice can't see this room"),
        "a room alice is not in leaked"
    );
    assert!(
        !all_text.contains("<angle brackets>"),
        "message text is escaped"
    );
    assert!(all_text.contains("&lt;angle brackets&gt;"));
    assert!(
        !all_text.contains("<strong>bob</strong>"),
        "other users are pseudonymised"
    );
    let general_page = text(&entries, "GENERAL.html");
    assert!(general_page.contains("Content-Security-Policy"));
    assert!(general_page.contains("<strong>alice</strong>"));
    assert!(general_page.contains("<strong>User_1</strong>"));
    assert!(
        general_page.contains("<i>User User_2 added by User_1.</i>"),
        "system messages name pseudonyms"
    );
    assert!(general_page.contains("href=\"./assets/Q5yA26ksJXC57nySc-diagram.png\""));
    assert!(general_page.ends_with("</body>\n</html>\n"));
    let index = text(&entries, "index.html");
    assert!(
        index.contains("<a href=\"./GENERAL.html\">general</a>") && index.contains("<td>12</td>"),
        "{index}"
    );

    let manifest = assert_manifest_matches(&entries);
    assert_eq!(manifest["kind"], "personal");
    assert_eq!(manifest["unavailable"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_export_writes_json_lines_channels_and_the_user_file() {
    let app = TestApp::builder().with_workers().spawn_with_sample().await;
    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, Some("true")).await;
    let entries = unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ));
    for name in [
        "user.json",
        "avatar",
        "channels.json",
        "general.json",
        "secret-project.json",
        "release-train.json",
    ] {
        assert!(
            entries.contains_key(name),
            "{name} missing from {:?}",
            entries.keys()
        );
    }
    assert!(
        entries.contains_key(&format!("{DIRECT_ROOM}.json")),
        "a direct room is named by its id"
    );
    assert!(!entries.contains_key("random.json"));
    let channels: Vec<Value> = text(&entries, "channels.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(channels.len(), 4);
    assert!(channels.iter().any(|c| c["roomId"] == "tzEwHxTswGEdbQr33"
        && c["roomName"] == "secret-project"
        && c["type"] == "p"));

    let general: Vec<Value> = text(&entries, "general.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(general.len(), 12);
    assert!(
        general
            .windows(2)
            .all(|w| w[0]["ts"].as_str() <= w[1]["ts"].as_str()),
        "oldest first"
    );
    assert_eq!(
        general[0],
        serde_json::json!({"msg": "Has joined the channel.", "username": "alice", "ts": "2024-03-01T09:05:52.431Z", "type": "uj"})
    );
    assert_eq!(general[1]["username"], "User_1");
    let with_file = general
        .iter()
        .find(|m| m["attachments"].is_array())
        .unwrap();
    assert_eq!(with_file["attachments"][0]["fileId"], "Q5yA26ksJXC57nySc");
    assert_eq!(with_file["attachments"][0]["remote"], false);

    let user: Value = serde_json::from_slice(&entries["user.json"]).unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["emails"], serde_json::json!(["alice@example.com"]));
    assert!(
        !String::from_utf8_lossy(&entries["user.json"]).contains("bcrypt"),
        "no secrets"
    );
    let manifest = assert_manifest_matches(&entries);
    assert_eq!(manifest["kind"], "full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_upload_does_not_fail_the_export_and_is_reported() {
    let dir = fixture_copy();
    std::fs::remove_file(dir.path().join("uploads/nd6ssaJw6zJHrtFGs")).unwrap();
    let app = TestApp::builder().with_workers().spawn().await;
    app.import(dir.path());
    let done = app.export_and_wait(&fixture_login("alice"), None).await;
    let entries = unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ));
    assert!(!entries.keys().any(|k| k.contains("nd6ssaJw6zJHrtFGs")));
    let manifest = assert_manifest_matches(&entries);
    let unavailable = manifest["unavailable"].to_string();
    assert!(unavailable.contains("nd6ssaJw6zJHrtFGs"), "{unavailable}");
    assert!(
        text(&entries, "index.html").contains("report final (v2).pdf"),
        "the page says it was unavailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_wakes_the_workers_at_once_instead_of_waiting_for_the_next_tick() {
    let app = TestApp::builder()
        .with_workers()
        .processing_seconds(600)
        .spawn_with_sample()
        .await;
    // Let the workers finish their first look at the (empty) queue and go to sleep.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let done = app.export_and_wait(&fixture_login("alice"), None).await;
    assert_eq!(done["exportOperation"]["status"], "completed");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?} with a 10-minute tick",
        started.elapsed()
    );
}

/// Raises the stop flag once some messages are committed.
struct StopAfterFirstCommit(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl udd::ports::Progress for StopAfterFirstCommit {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn set(&self, done: u64) {
        if done > 0 {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn finish(&self, _: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_counts_show_progress_while_an_export_is_under_way() {
    let app = TestApp::builder().batch_size(2).spawn_with_sample().await;
    let alice = fixture_login("alice");
    let (_, first) = app.request_download(&alice, Some("true")).await;
    let op_id = OperationId::from(first["exportOperation"]["_id"].as_str().unwrap());
    let totals = |body: &Value| -> (u64, u64) {
        body["exportOperation"]["roomList"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0), |(done, total), room| {
                (
                    done + room["exportedCount"].as_u64().unwrap(),
                    total + room["total"].as_u64().unwrap(),
                )
            })
    };

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    app.services
        .engine
        .run_operation(
            &op_id,
            "worker-1",
            &StopAfterFirstCommit(stop.clone()),
            &stop,
        )
        .unwrap();
    let (_, midway) = app.request_download(&alice, Some("true")).await;
    assert_eq!(midway["exportOperation"]["status"], "exporting");
    let (done, total) = totals(&midway);
    assert!(done > 0 && done < total, "{done} of {total}");

    let running = std::sync::atomic::AtomicBool::new(false);
    app.services
        .engine
        .run_operation(&op_id, "worker-2", &udd::ports::NoProgress, &running)
        .unwrap();
    let (_, finished) = app.request_download(&alice, Some("true")).await;
    assert_eq!(finished["exportOperation"]["status"], "completed");
    let (done, total) = totals(&finished);
    assert_eq!(done, total);
}
