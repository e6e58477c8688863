//! File and zip entry names built from user data (`udd_domain::render::names`).
//!
//! Whatever a room, upload or user is called, the name written to disk or into the zip
//! is one visible path component: no separator, no leading dot, no trailing dot or
//! space, no control or invisible format character, no bare Windows device name, at
//! most 120 bytes, and sanitising it again changes nothing. Asset names never run as
//! markup or script; zip names keep Rocket.Chat's pattern; claimed names are distinct
//! case-insensitively.

#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use udd_domain::render::{
    asset_name, is_active_content, safe_file_name, zip_file_name, UniqueNames,
};

const MAX_NAME_BYTES: usize = 120;

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    raw: &'a str,
    file_id: &'a str,
    created_secs: i64,
    full_export: bool,
    /// Names claimed in turn, each 1 to 4 times: collisions are where the work is.
    claims: Vec<(&'a str, u8)>,
}

/// Unicode's `Cf`, `Zl` and `Zp` characters as regex-syntax's own tables know them: an
/// oracle independent of the hand-written list in the domain crate.
fn invisible() -> &'static [(char, char)] {
    static RANGES: OnceLock<Vec<(char, char)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        let hir = regex_syntax::parse(r"[\p{Cf}\p{Zl}\p{Zp}]")
            .unwrap_or_else(|e| panic!("the class parses: {e}"));
        match hir.kind() {
            regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) => {
                class.iter().map(|r| (r.start(), r.end())).collect()
            }
            other => panic!("expected a Unicode class, got {other:?}"),
        }
    })
}

fn is_invisible(c: char) -> bool {
    invisible()
        .binary_search_by(|&(start, end)| {
            if end < c {
                std::cmp::Ordering::Less
            } else if start > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The properties every name we write has.
fn assert_safe(name: &str, from: &str) {
    assert!(!name.is_empty(), "empty name from {from:?}");
    assert!(
        name.len() <= MAX_NAME_BYTES,
        "{} bytes: {name:?} from {from:?}",
        name.len()
    );
    for c in name.chars() {
        assert!(
            !matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|'),
            "{c:?} in {name:?} from {from:?}"
        );
        assert!(!c.is_control(), "control {c:?} in {name:?} from {from:?}");
        assert!(
            !is_invisible(c),
            "invisible U+{:04X} in {name:?} from {from:?}",
            u32::from(c)
        );
    }
    assert!(!name.starts_with(['.', ' ']), "{name:?} from {from:?}");
    assert!(!name.ends_with(['.', ' ']), "{name:?} from {from:?}");
    let stem = name.split('.').next().unwrap_or_default();
    assert!(
        !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)),
        "device name {name:?} from {from:?}"
    );
    assert_eq!(
        safe_file_name(name, "file"),
        name,
        "not idempotent on {from:?}"
    );
}

fuzz_target!(|input: Input<'_>| {
    let name = safe_file_name(input.raw, "file");
    assert_safe(&name, input.raw);
    // Nothing visible is lost: a name that was already safe comes back unchanged.
    if name != input.raw && input.raw.len() <= MAX_NAME_BYTES {
        let visible: String = input.raw.chars().filter(|c| !is_invisible(*c)).collect();
        assert!(
            visible != input.raw
                || visible.chars().any(|c| c.is_control()
                    || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|'))
                || visible.starts_with(['.', ' '])
                || visible.ends_with(['.', ' '])
                || visible.is_empty()
                || RESERVED
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(visible.split('.').next().unwrap_or_default())),
            "a safe name was changed: {:?} -> {name:?}",
            input.raw
        );
    }

    let asset = asset_name(input.file_id, input.raw);
    assert_safe(&asset, input.raw);
    assert!(!is_active_content(&asset), "{asset:?} would run");
    let id = safe_file_name(input.file_id, "file");
    if id.len() < 90 {
        assert!(
            asset.starts_with(&format!("{id}-")),
            "{asset:?} lost the file id {id:?}"
        );
    }

    if let Some(created) = DateTime::from_timestamp(input.created_secs, 0) {
        let zip = zip_file_name(created, input.raw, input.full_export);
        assert_safe(&zip, input.raw);
        assert!(zip.ends_with(".zip"), "{zip:?}");
        let date = created.format("%Y-%m-%d").to_string();
        assert!(zip.starts_with(&format!("{date}-")), "{zip:?}");
        let display = safe_file_name(input.raw, "export");
        if display.len() < 80 {
            let suffix = if input.full_export { "-data" } else { "" };
            assert_eq!(zip, format!("{date}-{display}{suffix}.zip"));
        }
    }

    let mut names = UniqueNames::new();
    let mut seen = HashSet::new();
    for (raw, times) in input.claims.iter().take(32) {
        let wanted = safe_file_name(raw, "file");
        for _ in 0..=times % 4 {
            let free = !seen.contains(&wanted.to_lowercase());
            let claimed = names.claim(&wanted);
            assert!(
                seen.insert(claimed.to_lowercase()),
                "{claimed:?} handed out twice"
            );
            if free {
                assert_eq!(claimed, wanted, "a free name was not handed out as it is");
            }
            assert_safe(&claimed, raw);
        }
    }
});
