//! Hostile input: records that once stopped the workers or leaked files across rooms.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use udd::adapters::LoopbackSmtpServer;

use crate::helpers::{altered_dump, fixture_login, unzip, TestApp};

/// Bob is in GENERAL but not in the private room `tzEwHxTswGEdbQr33`, where carol
/// uploaded this report.
const PRIVATE_REPORT: &str = "nd6ssaJw6zJHrtFGs";
const ALICE: &str = "NBTm56xe8Rh5cF47X";

fn append_lines(file: &Path, lines: &[String]) {
    let mut text = std::fs::read_to_string(file).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(file, text).unwrap();
}

/// A GENERAL message by `user_id`/`username` carrying upload `file_id`.
fn message_with_file(
    id: &str,
    user_id: &str,
    username: &str,
    file_id: &str,
    title: &str,
) -> String {
    serde_json::json!({
        "_id": id, "rid": "GENERAL", "msg": "",
        "ts": {"$date": "2024-03-02T09:00:00.000Z"},
        "u": {"_id": user_id, "username": username},
        "_updatedAt": {"$date": "2024-03-02T09:00:00.000Z"},
        "file": {"_id": file_id, "name": title},
        "attachments": [{"type": "file", "title": title, "title_link": format!("/file-upload/{file_id}/x")}]
    })
    .to_string()
}

/// An upload of alice's in GENERAL, with its bytes under `uploads/`.
fn alices_upload(dump: &Path, id: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
    std::fs::write(dump.join("uploads").join(id), bytes).unwrap();
    serde_json::json!({
        "_id": id, "name": name, "size": bytes.len(), "type": content_type, "rid": "GENERAL",
        "userId": ALICE, "store": "FileSystem:Uploads",
        "uploadedAt": {"$date": "2024-03-02T08:00:00.000Z"},
        "_updatedAt": {"$date": "2024-03-02T08:00:00.000Z"}
    })
    .to_string()
}

fn zip_of(done: &Value) -> BTreeMap<String, Vec<u8>> {
    unzip(Path::new(
        done["exportOperation"]["generatedFile"].as_str().unwrap(),
    ))
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_breaks_in_names_neither_stop_the_workers_nor_reach_a_mail_header() {
    let dump = altered_dump(|dir| {
        let users = dir.join("users.json");
        let text = std::fs::read_to_string(&users)
            .unwrap()
            .replace(
                r#""name":"Alice Example""#,
                r#""name":"Alice\r\nBcc: mallory@example.com""#,
            )
            .replace(r#""name":"Bob Builder""#, r#""name":"Bob\nBuilder""#);
        std::fs::write(&users, text).unwrap();
    });
    let smtp = LoopbackSmtpServer::start().unwrap();
    // Two workers: each of the two hostile names once killed one of them.
    let app = TestApp::builder()
        .with_workers()
        .with_smtp(smtp.port())
        .spawn()
        .await;
    assert_eq!(app.settings.user_data.workers, 2);
    app.import(dump.path());

    for name in ["alice", "bob", "carol"] {
        let done = app.export_and_wait(&fixture_login(name), None).await;
        assert_eq!(done["exportOperation"]["status"], "completed", "{name}");
    }

    let mails = smtp.wait_for(3, Duration::from_secs(30));
    assert_eq!(mails.len(), 3, "every owner is mailed");
    for mail in &mails {
        for line in mail.data.lines() {
            assert!(
                !line.starts_with("Bcc:") && !line.starts_with("Builder"),
                "an injected header line {line:?} in\n{}",
                mail.data
            );
        }
    }
    let alices = mails
        .iter()
        .find(|m| m.recipients == ["alice@example.com"])
        .unwrap();
    let to = alices.data.lines().find(|l| l.starts_with("To: ")).unwrap();
    assert!(to.ends_with(" <alice@example.com>"), "{to}");
    assert!(
        crate::helpers::mail_text(&alices.data).contains("Hello Alice Bcc: mallory@example.com,"),
        "the greeting is one line: {}",
        alices.data
    );
    let health: Value = app
        .get("/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["workers"]["alive"], 2, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cannot_pull_a_file_from_a_room_the_requester_is_not_in() {
    let dump = altered_dump(|dir| {
        append_lines(
            &dir.join("rocketchat_message.json"),
            &[message_with_file(
                "PuLLsPrIvAtEfIlE1",
                "fq6g5jFboeXuNZhZR",
                "bob",
                PRIVATE_REPORT,
                "report final (v2).pdf",
            )],
        );
    });
    let secret = std::fs::read(dump.path().join("uploads").join(PRIVATE_REPORT)).unwrap();
    let app = TestApp::builder().with_workers().spawn().await;
    app.import(dump.path());

    for full in [None, Some("true")] {
        let done = app.export_and_wait(&fixture_login("bob"), full).await;
        let entries = zip_of(&done);
        for (name, bytes) in &entries {
            assert!(!name.contains(PRIVATE_REPORT), "{name} in bob's archive");
            assert!(
                !contains_bytes(bytes, &secret),
                "the private report's bytes are in {name}"
            );
        }
        let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
        let unavailable = manifest["unavailable"].to_string();
        assert!(unavailable.contains(PRIVATE_REPORT), "{manifest}");
    }

    // Carol uploaded it and alice is in its room: their archives carry it.
    for name in ["alice", "carol"] {
        let entries = zip_of(&app.export_and_wait(&fixture_login(name), None).await);
        assert!(
            entries.iter().any(|(entry, bytes)| entry
                .starts_with(&format!("assets/{PRIVATE_REPORT}-"))
                && *bytes == secret),
            "{name}: {:?}",
            entries.keys()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_uploads_are_saved_not_run_and_names_lose_invisible_characters() {
    let dump = altered_dump(|dir| {
        let uploads = [
            alices_upload(
                dir,
                "EvilHtmlUpload001",
                "evil.html",
                "text/html",
                b"<script>alert(1)</script>",
            ),
            alices_upload(
                dir,
                "EvilSvgUpload0001",
                "logo.svg",
                "image/svg+xml",
                b"<svg onload=\"alert(1)\"/>",
            ),
            alices_upload(
                dir,
                "RightToLeft000001",
                "invoice\u{202E}gpj.exe",
                "application/octet-stream",
                b"MZ",
            ),
        ];
        append_lines(&dir.join("rocketchat_uploads.json"), &uploads);
        let messages = [
            message_with_file(
                "MsgEvilHtml000001",
                ALICE,
                "alice",
                "EvilHtmlUpload001",
                "evil.html",
            ),
            message_with_file(
                "MsgEvilSvg0000001",
                ALICE,
                "alice",
                "EvilSvgUpload0001",
                "logo.svg",
            ),
            message_with_file(
                "MsgRightToLeft001",
                ALICE,
                "alice",
                "RightToLeft000001",
                "invoice\u{202E}gpj.exe",
            ),
        ];
        append_lines(&dir.join("rocketchat_message.json"), &messages);
    });
    let app = TestApp::builder().with_workers().spawn().await;
    app.import(dump.path());

    let entries = zip_of(&app.export_and_wait(&fixture_login("alice"), None).await);
    for expected in [
        "assets/EvilHtmlUpload001-evil.html.txt",
        "assets/EvilSvgUpload0001-logo.svg.txt",
        "assets/RightToLeft000001-invoicegpj.exe",
    ] {
        assert!(
            entries.contains_key(expected),
            "{expected} in {:?}",
            entries.keys()
        );
    }
    assert!(
        !entries.keys().any(|name| name.contains('\u{202E}')),
        "{:?}",
        entries.keys()
    );
    let page = String::from_utf8(entries["GENERAL.html"].clone()).unwrap();
    assert!(
        page.contains(
            r#"<a href="./assets/EvilHtmlUpload001-evil.html.txt" download="EvilHtmlUpload001-evil.html.txt">"#
        ),
        "{page}"
    );
    assert!(
        !page.contains(r#"<img src="./assets/EvilSvgUpload0001"#),
        "an SVG is never shown inline: {page}"
    );
    assert!(!page.contains('\u{202E}'), "{page}");
}
