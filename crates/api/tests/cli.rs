//! The real `udd` binary, run as a user runs it.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn udd(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run udd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn user_add_creates_a_user_under_the_default_data_folder_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd(
        &dir,
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--password",
            "pw",
            "--email",
            "a@x.org",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("created user alice (id "),
        "{}",
        text(&out.stdout)
    );
    assert!(
        dir.path().join("data/udd.sqlite3").is_file(),
        "defaults keep the database under ./data"
    );

    let again = udd(
        &dir,
        &["user", "add", "--username", "alice", "--password", "pw"],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("username alice is already taken"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn user_add_rejects_a_bad_username_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd(
        &dir,
        &["user", "add", "--username", "../evil", "--password", "pw"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid username"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn migrate_applies_once_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = udd(&dir, &["migrate"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied 1 migration(s)"),
        "{}",
        text(&first.stdout)
    );
    let second = udd(&dir, &["migrate"]);
    assert!(
        text(&second.stdout).contains("applied 0 migration(s)"),
        "{}",
        text(&second.stdout)
    );
}

#[test]
fn a_config_file_and_environment_are_honoured_and_bad_config_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("custom.toml"),
        "[database]\nurl = \"elsewhere/db.sqlite3\"\n",
    )
    .unwrap();
    let out = udd(&dir, &["--config", "custom.toml", "migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("elsewhere/db.sqlite3").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env("UDD__DATABASE__URL", "from-env/db.sqlite3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("from-env/db.sqlite3").is_file());

    std::fs::write(
        dir.path().join("udd.toml"),
        "[user_data]\nmessage_limit_per_request = 0\n",
    )
    .unwrap();
    let out = udd(&dir, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("message_limit_per_request"),
        "{}",
        text(&out.stderr)
    );

    let out = udd(&dir, &["--config", "missing.toml", "migrate"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn serve_answers_health_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_udd"))
        .arg("serve")
        .current_dir(dir.path())
        .env("UDD__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("udd exited before serving").unwrap();
        if let Some(rest) = line.split("port=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
    };
    let response = http_get(port, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "udd did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
