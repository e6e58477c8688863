//! A real S3 server on 127.0.0.1 for tests: s3s-fs, a complete S3 protocol
//! implementation over a folder (SigV4 checked, presigned links and their expiry too),
//! installed by the project's own `scripts/ensure-s3s-fs.sh` when missing. Built only
//! for tests and with the `testing` feature. A server that cannot be installed or
//! started fails the test: it is never skipped.

// A test fixture: failing loudly, at once, is its job.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The bucket every server starts with.
pub const S3_TEST_BUCKET: &str = "exports-test";
/// The access key the server accepts.
pub const S3_TEST_ACCESS_KEY: &str = "udd-test-access";
/// The secret key that goes with it.
pub const S3_TEST_SECRET_KEY: &str = "udd-test-secret-key";

/// The s3s-fs binary, installed by the project's script when missing.
///
/// # Panics
/// When the server cannot be installed.
pub fn s3s_fs() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    static INSTALLING: Mutex<()> = Mutex::new(());
    BINARY
        .get_or_init(|| {
            let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-s3s-fs.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(
                output.status.success(),
                "the S3 test server could not be installed"
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// A running s3s-fs on a free loopback port, with one bucket; stopped when dropped.
pub struct S3TestServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The folder the server keeps buckets in (`<root>/<bucket>/<key>`).
    pub root: tempfile::TempDir,
}

impl S3TestServer {
    /// Starts a server with the bucket [`S3_TEST_BUCKET`].
    ///
    /// # Panics
    /// When the server cannot be installed or does not start within 20 s.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("a folder for the S3 server");
        std::fs::create_dir(root.path().join(S3_TEST_BUCKET)).expect("the bucket");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                S3_TEST_ACCESS_KEY,
                "--secret-key",
                S3_TEST_SECRET_KEY,
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        }
    }

    /// Where the server keeps object `key` of the bucket.
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.path().join(S3_TEST_BUCKET).join(key)
    }

    /// The parts of multipart uploads under way (s3s-fs keeps them as
    /// `.upload_id-<id>.part-<n>` files in its root).
    pub fn parts_in_flight(&self) -> usize {
        std::fs::read_dir(self.root.path()).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".upload_id-"))
                .count()
        })
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
