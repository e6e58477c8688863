//! A real `udd` process killed with SIGKILL in the middle of an export: a worker takes
//! the operation over once the lease runs out, and the archive holds every message
//! exactly once, byte for byte what an uninterrupted export writes.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{run_ok, stop, unzip_file, wait_for, zips_in};

/// The tests here each run several `udd` processes over a 40 000-message workspace, and
/// two of them time a takeover: they take turns rather than share two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn udd(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udd"));
    command
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("UDD__USER_DATA__MESSAGE_LIMIT_PER_REQUEST", "50")
        .env("UDD__USER_DATA__LEASE_SECONDS", "2")
        .env("UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS", "1");
    command
}

fn run(dir: &Path, args: &[&str]) -> String {
    run_ok(udd(dir), args)
}

/// The room files being written under the working folder, if any has content yet.
fn progress_started(dir: &Path) -> bool {
    let Ok(operations) = std::fs::read_dir(dir.join("data/userData")) else {
        return false;
    };
    operations.flatten().any(|op| {
        std::fs::read_dir(op.path())
            .map(|files| {
                files.flatten().any(|f| {
                    f.path().extension().is_some_and(|e| e == "json")
                        && f.metadata().is_ok_and(|m| m.len() > 10_000)
                })
            })
            .unwrap_or(false)
    })
}

fn zips(dir: &Path) -> Vec<PathBuf> {
    zips_in(&dir.join("data/zipFiles"))
}

/// How many working folders are left.
fn working_folders(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/userData")).map_or(0, |d| d.count())
}

/// The archive of the export under way once it is recorded, not just zipped: the zip is
/// renamed into place a moment before the completing commit, after which the working
/// folder goes. Fails when that takes longer than `limit` from `since`.
fn finished_archive(dir: &Path, since: Instant, limit: Duration) -> PathBuf {
    wait_for(
        since,
        limit,
        Duration::from_millis(50),
        &format!("the export was not finished within {limit:?}"),
        || match (zips(dir).pop(), working_folders(dir)) {
            (Some(zip), 0) => Some(zip),
            _ => None,
        },
    )
}

/// Alice's full export made now, uninterrupted, unzipped.
fn clean_full_export(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let path = PathBuf::from(
        run(dir, &["export", "--user", "alice", "--full"])
            .lines()
            .last()
            .unwrap(),
    );
    unzip_file(&path)
}

/// A demo workspace big enough that an export takes a few seconds.
fn seed_demo(dir: &Path) {
    run(
        dir,
        &[
            "demo",
            "--users",
            "6",
            "--rooms",
            "6",
            "--messages",
            "40000",
            "--seed",
            "9",
        ],
    );
}

#[test]
fn an_export_killed_mid_way_is_finished_by_a_worker_with_every_message_exactly_once() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    seed_demo(dir);

    // The real lease: `udd export` runs as a worker instance, so a worker started next
    // on this host sees its process gone and takes the export over at once.
    let mut export = udd(dir)
        .env("UDD__USER_DATA__LEASE_SECONDS", "60")
        .args(["export", "--user", "alice", "--full"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_room_files(
        dir,
        &mut export,
        "the export ended before it could be killed",
    );
    export.kill().unwrap();
    let status = export.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed mid-way, not finished");
    assert!(zips(dir).is_empty(), "no zip yet");

    let worker = udd(dir)
        .env("UDD__USER_DATA__LEASE_SECONDS", "60")
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let resumed = finished_archive(dir, Instant::now(), Duration::from_secs(30));
    stop(worker);

    let (resumed, clean) = (unzip_file(&resumed), clean_full_export(dir));
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        clean.keys().collect::<Vec<_>>()
    );
    let manifest: serde_json::Value = serde_json::from_slice(&resumed["manifest.json"]).unwrap();
    let mut messages = 0;
    for room in manifest["rooms"].as_array().unwrap() {
        let file = room["file"].as_str().unwrap();
        assert_eq!(
            resumed[file], clean[file],
            "{file} differs from an uninterrupted export"
        );
        let lines = resumed[file]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(
            lines as u64,
            room["messages"].as_u64().unwrap(),
            "{file}: every message once"
        );
        messages += lines;
    }
    assert!(messages > 10_000, "alice's rooms hold {messages} messages");
    for file in manifest["files"].as_array().unwrap() {
        let bytes = &resumed[file["path"].as_str().unwrap()];
        assert_eq!(bytes.len() as u64, file["size"].as_u64().unwrap(), "{file}");
    }
    assert_eq!(working_folders(dir), 0, "working folders are removed");
}

/// A free loopback port, for a `udd serve` started next.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `udd serve` on `port`, with the real lease (a restarted process must not wait for
/// it), polling the queue every `poll` seconds.
fn serve_polling(dir: &Path, port: u16, poll: u32) -> Child {
    udd(dir)
        .arg("serve")
        .env("UDD__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("UDD__USER_DATA__LEASE_SECONDS", "60")
        .env(
            "UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS",
            poll.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn serve(dir: &Path, port: u16) -> Child {
    serve_polling(dir, port, 60)
}

fn curl(args: &[&str]) -> Option<serde_json::Value> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .args(args)
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Logs alice in (waiting for the server to answer) and requests her full export.
fn request_full_export(port: u16) {
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let started = Instant::now();
    let login = loop {
        let body = format!(
            r#"{{"user":"alice","password":"{}"}}"#,
            udd_app::DEMO_PASSWORD
        );
        if let Some(answer) = curl(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &format!("{base}/login"),
        ]) {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "udd serve never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (user, token) = (
        login["data"]["userId"].as_str().unwrap().to_owned(),
        login["data"]["authToken"].as_str().unwrap().to_owned(),
    );
    let answer = curl(&[
        "-H",
        &format!("X-User-Id: {user}"),
        "-H",
        &format!("X-Auth-Token: {token}"),
        &format!("{base}/users.requestDataDownload?fullExport=true"),
    ])
    .unwrap();
    assert_eq!(answer["requested"], true, "{answer}");
}

#[test]
fn a_serve_process_killed_mid_export_and_restarted_finishes_it_within_ten_seconds() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    seed_demo(dir);
    let port = free_port();
    let mut first = serve(dir, port);
    request_full_export(port);
    wait_for_room_files(dir, &mut first, "udd serve died");
    first.kill().unwrap();
    assert_eq!(first.wait().unwrap().signal(), Some(9));
    assert!(zips(dir).is_empty(), "killed before the archive was made");

    // Restarted at once: the new process sees its predecessor's pid gone, declares it
    // dead and takes its operation back, 60 s lease or not.
    let restarted_at = Instant::now();
    let second = serve(dir, free_port());
    let resumed = finished_archive(dir, restarted_at, Duration::from_secs(10));
    stop(second);

    let (resumed, clean) = (unzip_file(&resumed), clean_full_export(dir));
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        clean.keys().collect::<Vec<_>>()
    );
    // Everything but the manifest (which names the cutoff, a later one for the clean
    // run) is byte for byte the same.
    for (name, bytes) in &resumed {
        if name != "manifest.json" {
            assert!(bytes == &clean[name], "{name} differs from a clean export");
        }
    }
}

/// Waits until the export's room files are being written, failing with `died` when
/// `process` ends first.
fn wait_for_room_files(dir: &Path, process: &mut Child, died: &str) {
    wait_for(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_millis(2),
        "the export never started writing",
        || {
            if progress_started(dir) {
                return Some(());
            }
            assert!(process.try_wait().unwrap().is_none(), "{died}");
            None
        },
    );
}

/// The operator's commands on a running export: `ops list` finds it, `ops cancel` stops
/// the worker at its next batch and removes its files, `ops show` says why, and
/// `ops retry` runs it again to the end.
#[test]
fn an_operator_lists_cancels_shows_and_retries_a_running_export() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    seed_demo(dir);
    let port = free_port();
    // On SQLite a retry queued by another process is seen on the next poll.
    let mut server = serve_polling(dir, port, 1);
    request_full_export(port);
    wait_for_room_files(dir, &mut server, "udd serve died");

    let listed = run(dir, &["ops", "list", "--status", "exporting"]);
    let line = listed.lines().nth(1).unwrap_or_else(|| panic!("{listed}"));
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(line.contains("\tfull\texporting\t1\t"), "{line}");
    assert!(
        run(dir, &["ops", "list", "--status", "failed"])
            .lines()
            .count()
            == 1
    );

    let cancelled = run(dir, &["ops", "cancel", &id]);
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    let working_folders =
        |dir: &Path| std::fs::read_dir(dir.join("data/userData")).map_or(0, |d| d.count());
    let started = Instant::now();
    while working_folders(dir) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the files stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The worker stopped rather than finishing it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(zips(dir).is_empty());
    assert_eq!(working_folders(dir), 0);
    let shown = run(dir, &["ops", "show", &id]);
    assert!(shown.contains("status: failed"), "{shown}");
    assert!(
        shown.contains("reason: cancelled by an operator"),
        "{shown}"
    );
    let again = udd(dir).args(["ops", "cancel", &id]).output().unwrap();
    assert!(
        !again.status.success(),
        "an ended operation cannot be cancelled"
    );

    let retried = run(dir, &["ops", "retry", &id]);
    assert!(retried.contains("queued again"), "{retried}");
    let started = Instant::now();
    while zips(dir).is_empty() || working_folders(dir) > 0 {
        assert!(server.try_wait().unwrap().is_none(), "udd serve died");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the retried export did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = run(dir, &["ops", "show", &id]);
    assert!(shown.contains("status: completed"), "{shown}");
    stop(server);
}
