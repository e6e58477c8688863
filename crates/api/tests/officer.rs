//! The data protection officer's commands, run as the real `udd` binary against a
//! real database and data folders: `udd export --no-mail --out`, `udd ops delete` and
//! `udd audit`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use udd_adapters::{Database, SqliteDownloadLog};
use udd_ports::{DownloadLog, DownloadRecord};

const ALICE_ID: &str = "NBTm56xe8Rh5cF47X";

fn udd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run udd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = udd(dir, args);
    assert!(
        out.status.success(),
        "udd {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn refused(dir: &Path, args: &[&str]) -> String {
    let out = udd(dir, args);
    assert_eq!(out.status.code(), Some(1), "udd {args:?} should fail");
    text(&out.stderr)
}

/// `udd export` as the officer runs it: `user`'s archive into `out`, mailing nobody,
/// with `more` arguments.
fn officers_export<'a>(user: &'a str, out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["export", "--user", user, "--no-mail", "--out", out];
    args.extend_from_slice(more);
    args
}

/// A data folder with the Rocket.Chat fixture imported.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rocketchat-mongoexport");
    ok(dir.path(), &["import", fixture.to_str().unwrap()]);
    dir
}

fn entries(zip_path: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().to_owned())
        .collect()
}

fn outbox(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("data/outbox")) {
        Ok(listing) => listing
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn an_officers_export_writes_the_archive_and_mails_nobody() {
    let dir = workspace();
    let stdout = ok(dir.path(), &officers_export("alice", "alice.zip", &[]));
    let zip = dir.path().join("alice.zip");
    assert!(stdout.contains("alice.zip"), "{stdout}");
    let names = entries(&zip);
    assert!(names.contains(&"manifest.json".to_owned()), "{names:?}");
    assert!(names.contains(&"GENERAL.html".to_owned()), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("assets/") && n.ends_with("diagram.png")),
        "alice's upload is in her export: {names:?}"
    );
    let mut html = String::new();
    zip::ZipArchive::new(std::fs::File::open(&zip).unwrap())
        .unwrap()
        .by_name("GENERAL.html")
        .unwrap()
        .read_to_string(&mut html)
        .unwrap();
    assert!(
        html.contains("diagram.png"),
        "the room page names the upload"
    );
    assert_eq!(
        outbox(dir.path()),
        Vec::<String>::new(),
        "no mail was written"
    );

    // The same run as a mailed export does write a mail: the outbox is watched.
    ok(dir.path(), &["export", "--user", "alice"]);
    assert_eq!(
        outbox(dir.path()).len(),
        1,
        "the owner's own export is mailed"
    );

    // By user id, as a full export.
    ok(
        dir.path(),
        &officers_export(ALICE_ID, "full.zip", &["--full"]),
    );
    assert!(entries(&dir.path().join("full.zip"))
        .iter()
        .any(|n| n.ends_with(".json")));
    assert_eq!(
        outbox(dir.path()).len(),
        1,
        "the officer's full export mailed nobody"
    );
}

#[test]
fn an_officers_export_refuses_an_unknown_user_an_existing_file_and_an_unwritable_folder() {
    let dir = workspace();
    let err = refused(dir.path(), &officers_export("nobody", "x.zip", &[]));
    assert!(err.contains("no user `nobody`"), "{err}");

    std::fs::write(
        dir.path().join("taken.zip"),
        b"the officer's earlier export",
    )
    .unwrap();
    let err = refused(dir.path(), &officers_export("alice", "taken.zip", &[]));
    assert!(
        err.contains("taken.zip already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("taken.zip")).unwrap(),
        b"the officer's earlier export"
    );
    ok(
        dir.path(),
        &officers_export("alice", "taken.zip", &["--force"]),
    );
    assert!(entries(&dir.path().join("taken.zip")).contains(&"manifest.json".to_owned()));

    let err = refused(dir.path(), &officers_export("alice", "missing/x.zip", &[]));
    assert!(err.contains("missing/x.zip cannot be written"), "{err}");

    let usage = udd(dir.path(), &["export", "--user", "alice", "--no-mail"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    assert!(
        text(&usage.stderr).contains("--out"),
        "--no-mail without a file is refused: {}",
        text(&usage.stderr)
    );
}

fn zips(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/zipFiles"))
        .map(|l| l.count())
        .unwrap_or(0)
}

#[test]
fn ops_delete_removes_a_users_archives_and_records_and_is_idempotent() {
    let dir = workspace();
    ok(dir.path(), &["export", "--user", "alice"]);
    ok(dir.path(), &["export", "--user", "bob"]);
    assert!(zips(dir.path()) >= 2);
    let before = zips(dir.path());

    let stdout = ok(dir.path(), &["ops", "delete", "--user", "alice"]);
    assert!(stdout.contains("removed archive exports/"), "{stdout}");
    assert!(
        stdout.contains("removed 1 export operation(s), 1 archive record(s), 1 mail notice(s)"),
        "{stdout}"
    );
    assert_eq!(zips(dir.path()), before - 1, "bob's archive stays");

    let again = ok(dir.path(), &["ops", "delete", "--user", "alice"]);
    assert!(again.contains("nothing to delete"), "{again}");

    // Bob's records are untouched: deleting his removes exactly his.
    let bob = ok(dir.path(), &["ops", "delete", "--user", "bob"]);
    assert!(bob.contains("removed 1 export operation(s)"), "{bob}");
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T{hour:02}:00:00Z"))
        .unwrap()
        .with_timezone(&Utc)
}

fn log_downloads(dir: &Path) {
    let db = Database::open(dir.join("data/udd.sqlite3").to_str().unwrap(), 1).unwrap();
    let log = SqliteDownloadLog::new(db);
    for (user, file, when, from, by_link) in [
        (ALICE_ID, "FA", at(1, 9), "10.0.0.1", true),
        (
            ALICE_ID,
            "FB",
            at(5, 9),
            "=HYPERLINK(\"http://evil\",\"x\")",
            false,
        ),
        (
            "gone-user",
            "FC",
            at(7, 9),
            "10.0.0.3, \"proxy\"\nline",
            true,
        ),
    ] {
        log.record(&DownloadRecord {
            file_id: file.into(),
            user_id: user.into(),
            at: when,
            bytes: 1234,
            client_address: Some(from.to_owned()),
            by_link,
        })
        .unwrap();
    }
}

#[test]
fn audit_prints_escaped_csv_or_json_filtered_by_user_file_and_time() {
    let dir = workspace();
    log_downloads(dir.path());

    let csv = ok(dir.path(), &["audit"]);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "at,user_id,username,file_id,file_name,bytes,client_address,access"
    );
    assert_eq!(
        lines[1],
        format!("2026-11-01T09:00:00.000Z,{ALICE_ID},alice,FA,,1234,10.0.0.1,link")
    );
    assert_eq!(
        lines[2],
        format!(
            "2026-11-05T09:00:00.000Z,{ALICE_ID},alice,FB,,1234,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",login"
        ),
        "a formula is defused and quoted"
    );
    assert_eq!(
        lines[3],
        "2026-11-07T09:00:00.000Z,gone-user,,FC,,1234,\"10.0.0.3, \"\"proxy\"\"\nline\",link",
        "commas, quotes and line breaks stay inside one field"
    );
    assert_eq!(lines[4], "", "every record ends with CRLF");

    let alice = ok(dir.path(), &["audit", "--user", "alice"]);
    assert_eq!(alice.matches("\r\n").count(), 3, "{alice}");
    let by_id = ok(dir.path(), &["audit", "--user", "gone-user"]);
    assert!(
        by_id.contains(",FC,"),
        "a deleted account is audited by id: {by_id}"
    );
    let window = ok(
        dir.path(),
        &["audit", "--since", "2026-11-02", "--until", "2026-11-05"],
    );
    assert!(
        window.contains(",FB,") && !window.contains(",FA,") && !window.contains(",FC,"),
        "{window}"
    );
    let file = ok(dir.path(), &["audit", "--file", "FC", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "at": "2026-11-07T09:00:00.000Z",
            "user_id": "gone-user",
            "username": null,
            "file_id": "FC",
            "file_name": null,
            "bytes": 1234,
            "client_address": "10.0.0.3, \"proxy\"\nline",
            "access": "link"
        }])
    );

    let err = refused(dir.path(), &["audit", "--since", "last week"]);
    assert!(err.contains("neither a date"), "{err}");
    let err = refused(
        dir.path(),
        &["audit", "--since", "2026-11-05", "--until", "2026-11-01"],
    );
    assert!(err.contains("--since must come before --until"), "{err}");
}
