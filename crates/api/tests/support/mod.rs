//! What the tests that run `udd` processes share (each test file includes this module).

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The entries of a zip, by name, with their bytes.
pub fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().to_owned(), content)
        })
        .collect()
}

/// The entries of the zip file at `path`.
pub fn unzip_file(path: &Path) -> BTreeMap<String, Vec<u8>> {
    unzip(&std::fs::read(path).unwrap())
}

/// Runs `udd` (`command`, set up by the test) with `args` and returns what it printed,
/// failing the test unless it succeeded.
pub fn run_ok(mut command: Command, args: &[&str]) -> String {
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "udd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `.zip` files in `folder`; none when it does not exist (yet).
pub fn zips_in(folder: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "zip"))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `found` every `every` until it finds something, which it returns; fails the
/// test, saying `missing`, once `limit` has passed since `since`.
pub fn wait_for<T>(
    since: Instant,
    limit: Duration,
    every: Duration,
    missing: &str,
    mut found: impl FnMut() -> Option<T>,
) -> T {
    loop {
        if let Some(it) = found() {
            return it;
        }
        assert!(since.elapsed() < limit, "{missing}");
        std::thread::sleep(every);
    }
}

/// Stops a `udd` process as a service manager would (SIGTERM) and waits for it.
pub fn stop(mut child: Child) {
    terminate(&mut child);
}

fn terminate(child: &mut Child) {
    // A process already waited for has no pid of its own any more: never signal it.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A process killed (SIGKILL) when this goes, so a test that fails half-way leaves no
/// `udd` running on behind it.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Stops the process gracefully, as [`stop`] does.
    pub fn stop(mut self) {
        terminate(&mut self.0);
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
