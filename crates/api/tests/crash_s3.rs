//! A real `udd` process killed with SIGKILL while it uploads an archive to a real S3
//! server (s3s-fs): the upload never completes, so no object appears; a worker takes the
//! operation over and uploads it whole, once, equal to an uninterrupted export.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use udd_adapters::s3_test_server::{S3_TEST_ACCESS_KEY, S3_TEST_BUCKET, S3_TEST_SECRET_KEY};
use udd_adapters::S3TestServer;

mod support;
use support::{run_ok, stop, unzip_file, wait_for, zips_in};

/// The fixture's upload in alice's rooms, made large and incompressible so the archive
/// goes up in several parts and the upload takes long enough to be interrupted.
const BIG_UPLOAD: &str = "Q5yA26ksJXC57nySc";

fn udd(dir: &Path, s3: &S3TestServer) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udd"));
    command
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("UDD__USER_DATA__LEASE_SECONDS", "2")
        .env("UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS", "1")
        .env("UDD__STORAGE__KIND", "s3")
        .env("UDD__STORAGE__BUCKET", S3_TEST_BUCKET)
        .env("UDD__STORAGE__ENDPOINT", &s3.endpoint)
        .env("UDD__STORAGE__PREFIX", "udd")
        .env("UDD__STORAGE__PATH_STYLE", "true")
        .env("UDD__STORAGE__ACCESS_KEY_ID", S3_TEST_ACCESS_KEY)
        .env("UDD__STORAGE__SECRET_ACCESS_KEY", S3_TEST_SECRET_KEY);
    command
}

fn run(dir: &Path, s3: &S3TestServer, args: &[&str]) -> String {
    run_ok(udd(dir, s3), args)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The archives in the bucket.
fn archives(s3: &S3TestServer) -> Vec<PathBuf> {
    zips_in(&s3.object("udd/exports"))
}

/// Multipart uploads started (s3s-fs records each as `.upload-<id>.json` in its root
/// until it completes or is aborted).
fn uploads_started(s3: &S3TestServer) -> usize {
    std::fs::read_dir(s3.root.path()).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".upload-") && name.ends_with(".json")
            })
            .count()
    })
}

#[test]
fn an_export_killed_while_uploading_is_uploaded_once_by_a_worker() {
    let s3 = S3TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let dump = dir.join("dump");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rocketchat-mongoexport"),
        &dump,
    );
    let mut state = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..12 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    std::fs::write(dump.join("uploads").join(BIG_UPLOAD), &noise).unwrap();
    run(dir, &s3, &["import", dump.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(s3.object(&format!("udd/uploads/{BIG_UPLOAD}")))
            .unwrap()
            .len(),
        noise.len()
    );

    let mut export = udd(dir, &s3)
        .args(["export", "--user", "alice"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        Instant::now(),
        Duration::from_secs(120),
        Duration::from_millis(1),
        "the export never started uploading",
        || {
            if uploads_started(&s3) > 0 {
                return Some(());
            }
            assert!(
                export.try_wait().unwrap().is_none(),
                "the export ended before its upload could be interrupted"
            );
            None
        },
    );
    export.kill().unwrap();
    let status = export.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed while uploading");
    assert!(
        archives(&s3).is_empty(),
        "an interrupted upload is no object"
    );

    let worker = udd(dir, &s3)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let working = || std::fs::read_dir(dir.join("data/userData")).map_or(0, |d| d.count());
    let resumed = wait_for(
        Instant::now(),
        Duration::from_secs(120),
        Duration::from_millis(100),
        "the worker did not finish the export",
        || match (archives(&s3).pop(), working()) {
            (Some(archive), 0) => Some(archive),
            _ => None,
        },
    );
    stop(worker);
    assert_eq!(archives(&s3).len(), 1, "one object for the operation");

    let clean = dir.join("clean.zip");
    run(
        dir,
        &s3,
        &[
            "export",
            "--user",
            "alice",
            "--out",
            clean.to_str().unwrap(),
        ],
    );
    let (resumed, clean) = (unzip_file(&resumed), unzip_file(&clean));
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        clean.keys().collect::<Vec<_>>()
    );
    let manifest: serde_json::Value = serde_json::from_slice(&resumed["manifest.json"]).unwrap();
    for file in manifest["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        assert_eq!(resumed[path], clean[path], "{path} as in a clean export");
    }
    let big = resumed
        .iter()
        .find(|(name, _)| name.contains(BIG_UPLOAD))
        .expect("the upload is in the archive");
    assert!(*big.1 == noise, "the upload, byte for byte");
    assert_eq!(archives(&s3).len(), 2, "one object per operation");
}
