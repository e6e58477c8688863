//! The mongoexport reader (`udd_adapters::MongoExportDump`), through its public
//! `WorkspaceDump::read` on a real file, as `udd import` uses it.
//!
//! Whatever bytes a collection file holds, reading it never panics and never fails
//! (only I/O can fail); the progress count only grows and never passes the file size.
//! JSON lines: one entry per non-blank line, in order, each bad line reported as
//! `Malformed` at its own 1-based line, each good one mapped or `Skipped` at its line.
//! A JSON array: its elements in order, then at most one `Malformed` entry (the rest of
//! the file cannot be trusted) at a line inside the file; a well-formed array yields
//! exactly one entry per element and no `Malformed`.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use udd_adapters::MongoExportDump;
use udd_ports::{Collection, DumpEntry, WorkspaceDump};

const FILES: [(Collection, &str); 6] = [
    (Collection::Users, "users.json"),
    (Collection::Rooms, "rocketchat_room.json"),
    (Collection::Subscriptions, "rocketchat_subscription.json"),
    (Collection::Messages, "rocketchat_message.json"),
    (Collection::Uploads, "rocketchat_uploads.json"),
    (Collection::Avatars, "rocketchat_avatars.json"),
];

/// One folder per collection, each holding only that collection's file, under
/// `$UDD_FUZZ_TMP` (a RAM disk is faster) or the system's temporary folder.
fn folders() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = std::env::var_os("UDD_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("udd-fuzz-mongoexport-{}", std::process::id()));
        FILES
            .iter()
            .map(|(_, name)| {
                let dir = base.join(name.trim_end_matches(".json"));
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
                dir
            })
            .collect()
    })
}

fn location(entry: &DumpEntry) -> Option<(&str, u64)> {
    match entry {
        DumpEntry::Document(_) | DumpEntry::Hidden { .. } => None,
        DumpEntry::Skipped { at, .. } | DumpEntry::Malformed { at, .. } => {
            Some((at.file.as_str(), at.line))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let index = usize::from(which) % FILES.len();
    let (collection, name) = FILES[index];
    let dir = &folders()[index];
    std::fs::write(dir.join(name), content).unwrap_or_else(|e| panic!("{e}"));
    let dump = MongoExportDump::open(dir).unwrap_or_else(|e| panic!("{e:#}"));

    let mut entries = Vec::new();
    let mut progress = 0_u64;
    dump.read(collection, &mut |entry, bytes| {
        assert!(
            bytes >= progress,
            "progress went back: {bytes} < {progress}"
        );
        assert!(
            bytes <= content.len() as u64,
            "{bytes} bytes read of {}",
            content.len()
        );
        progress = bytes;
        entries.push(entry);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("reading failed: {e:#}"));

    // An error at the very end sits on the (empty) line after the last newline.
    let lines = content.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    for entry in &entries {
        if let Some((file, line)) = location(entry) {
            assert_eq!(file, name);
            assert!(
                (1..=lines).contains(&line),
                "line {line} of {lines}: {entry:?}"
            );
        }
    }

    let array = content
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    if array {
        let malformed: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, DumpEntry::Malformed { .. }))
            .map(|(i, _)| i)
            .collect();
        assert!(
            malformed.is_empty() || malformed == [entries.len() - 1],
            "Malformed before the end: {entries:?}"
        );
        let mut last_line = 0;
        for (_, line) in entries.iter().filter_map(location) {
            assert!(line >= last_line, "lines out of order: {entries:?}");
            last_line = line;
        }
        if let Ok(elements) = serde_json::from_slice::<Vec<Value>>(content) {
            assert!(malformed.is_empty(), "a valid array reported {entries:?}");
            assert_eq!(entries.len(), elements.len(), "{entries:?}");
        } else {
            assert_eq!(malformed.len(), 1, "a broken array read without a report");
        }
    } else {
        let expected: Vec<(u64, bool)> = content
            .split_inclusive(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(i, line)| {
                let valid = serde_json::from_slice::<Value>(line).is_ok();
                (i as u64 + 1, valid)
            })
            .collect();
        assert_eq!(entries.len(), expected.len(), "{entries:?}");
        for (entry, (line, valid)) in entries.iter().zip(&expected) {
            match entry {
                DumpEntry::Malformed { at, .. } => {
                    assert!(!valid, "line {line} is JSON but was reported malformed");
                    assert_eq!(at.line, *line);
                }
                DumpEntry::Skipped { at, .. } => {
                    assert!(valid, "line {line} is not JSON but was mapped");
                    assert_eq!(at.line, *line);
                }
                DumpEntry::Document(_) | DumpEntry::Hidden { .. } => {
                    assert!(valid, "line {line} is not JSON but was mapped")
                }
            }
        }
    }
});
