//! File and zip entry names built from user data: never a path, never hidden, never a
//! device name, bounded in length, unique within an export.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

/// The longest name we write, in bytes (most filesystems allow 255).
const MAX_NAME_BYTES: usize = 120;

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A name safe to use as one path component on any common filesystem: path separators,
/// control and reserved characters become `_`, leading dots and trailing dots and
/// spaces go, Windows device names get a `_` prefix, the length is capped (keeping the
/// extension), and an empty result becomes `fallback`.
pub fn safe_file_name(raw: &str, fallback: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    name = name
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    if name.is_empty() {
        name = fallback.to_owned();
    }
    let stem = name.split('.').next().unwrap_or_default();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        name.insert(0, '_');
    }
    truncate_keeping_extension(&name, MAX_NAME_BYTES)
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 && dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut cut = max.saturating_sub(ext.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// Hands out names that are unique case-insensitively (so they stay distinct on
/// case-insensitive filesystems too), adding `-2`, `-3`, … before the extension.
#[derive(Debug, Clone, Default)]
pub struct UniqueNames {
    taken: HashSet<String>,
}

impl UniqueNames {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `name` as used (for fixed names such as `user.json`).
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_lowercase());
    }

    /// `name`, or the first free variant of it.
    pub fn claim(&mut self, name: &str) -> String {
        if self.taken.insert(name.to_lowercase()) {
            return name.to_owned();
        }
        let (stem, ext) = match name.rfind('.') {
            Some(dot) if dot > 0 => name.split_at(dot),
            _ => (name, ""),
        };
        (2..)
            .map(|n| {
                let suffix = format!("-{n}{ext}");
                format!(
                    "{}{suffix}",
                    truncate_keeping_extension(stem, MAX_NAME_BYTES - suffix.len())
                )
            })
            .find(|candidate| self.taken.insert(candidate.to_lowercase()))
            .unwrap_or_else(|| name.to_owned())
    }
}

/// The file an upload is copied to inside `assets/`: `<fileId>-<file name>`, both safe.
pub fn asset_name(file_id: &str, file_name: &str) -> String {
    safe_file_name(
        &format!(
            "{}-{}",
            safe_file_name(file_id, "file"),
            safe_file_name(file_name, "file")
        ),
        "file",
    )
}

/// The download name of a finished export: `YYYY-MM-DD-<display name>[-data].zip`.
pub fn zip_file_name(created: DateTime<Utc>, display_name: &str, full_export: bool) -> String {
    let suffix = if full_export { "-data" } else { "" };
    let name = safe_file_name(display_name, "export");
    truncate_keeping_extension(
        &format!("{}-{name}{suffix}.zip", created.format("%Y-%m-%d")),
        MAX_NAME_BYTES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_names_become_harmless() {
        assert_eq!(safe_file_name("../../etc/passwd", "x"), "_.._etc_passwd");
        assert_eq!(safe_file_name("..", "x"), "x");
        assert_eq!(safe_file_name(".bashrc", "x"), "bashrc");
        assert_eq!(safe_file_name("a\\b:c", "x"), "a_b_c");
        assert_eq!(safe_file_name("new\nline\u{0}", "x"), "new_line_");
        assert_eq!(safe_file_name("CON.txt", "x"), "_CON.txt");
        assert_eq!(
            safe_file_name("report final (v2).pdf", "x"),
            "report final (v2).pdf"
        );
        assert_eq!(safe_file_name("résumé.txt", "x"), "résumé.txt");
        let long = format!("{}.png", "é".repeat(200));
        let cut = safe_file_name(&long, "x");
        assert!(
            cut.len() <= MAX_NAME_BYTES && cut.ends_with(".png"),
            "{cut}"
        );
    }

    #[test]
    fn colliding_names_get_numbered_case_insensitively() {
        let mut names = UniqueNames::new();
        names.reserve("user.json");
        assert_eq!(names.claim("general.json"), "general.json");
        assert_eq!(names.claim("General.json"), "General-2.json");
        assert_eq!(names.claim("general.json"), "general-3.json");
        assert_eq!(names.claim("user.json"), "user-2.json");
        assert_eq!(names.claim("noext"), "noext");
        assert_eq!(names.claim("noext"), "noext-2");
    }

    #[test]
    fn zip_names_follow_rocket_chats_pattern() {
        let day = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
        assert_eq!(
            zip_file_name(day, "Alice Example", false),
            "2024-03-01-Alice Example.zip"
        );
        assert_eq!(
            zip_file_name(day, "Alice Example", true),
            "2024-03-01-Alice Example-data.zip"
        );
        assert_eq!(
            zip_file_name(day, "../evil", true),
            "2024-03-01-_evil-data.zip"
        );
        assert_eq!(asset_name("Q5y", "../x.png"), "Q5y-_x.png");
    }

    proptest! {
        #[test]
        fn safe_names_are_single_visible_components(raw in "\\PC{0,300}|[./\\\\:\\x00-\\x1f]{0,20}") {
            let name = safe_file_name(&raw, "file");
            prop_assert!(!name.is_empty());
            prop_assert!(name.len() <= MAX_NAME_BYTES);
            prop_assert!(!name.contains('/') && !name.contains('\\'));
            prop_assert!(!name.starts_with('.'));
            prop_assert!(name != "." && name != "..");
            prop_assert!(!name.chars().any(char::is_control));
        }

        #[test]
        fn claimed_names_are_all_distinct(raws in proptest::collection::vec("[aA.]{0,3}", 1..40)) {
            let mut names = UniqueNames::new();
            let mut seen = HashSet::new();
            for raw in raws {
                let name = names.claim(&safe_file_name(&raw, "file"));
                prop_assert!(seen.insert(name.to_lowercase()), "duplicate {}", name);
            }
        }
    }
}
