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
/// control and reserved characters become `_`, invisible format and separator characters
/// (Unicode `Cf`, `Zl`, `Zp`: the right-to-left override that makes `invoice\u{202E}gpj.exe`
/// look like a `.jpg`) are dropped, leading dots and trailing dots and spaces go, Windows
/// device names get a `_` prefix, the length is capped (keeping the extension), and an
/// empty result becomes `fallback`.
///
/// ```
/// use udd_domain::render::safe_file_name;
/// assert_eq!(safe_file_name("../../etc/passwd", "file"), "_.._etc_passwd");
/// assert_eq!(safe_file_name("invoice\u{202E}gpj.exe", "file"), "invoicegpj.exe");
/// assert_eq!(safe_file_name("...", "file"), "file");
/// ```
pub fn safe_file_name(raw: &str, fallback: &str) -> String {
    let mut name: String = raw
        .chars()
        .filter(|&c| !is_invisible_format(c))
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
    // A cut can end on a dot or a space, which some filesystems drop.
    let cut = truncate_keeping_extension(&name, MAX_NAME_BYTES);
    match cut.trim_end_matches(['.', ' ']) {
        "" => fallback.to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// Unicode's format (`Cf`), line separator (`Zl`) and paragraph separator (`Zp`)
/// characters (Unicode 15): they draw nothing, yet reorder or hide what a name shows.
pub(super) fn is_invisible_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// `text` without invisible format and separator characters, for showing a file name.
pub(super) fn without_invisible(text: &str) -> String {
    text.chars().filter(|&c| !is_invisible_format(c)).collect()
}

/// File types a browser runs rather than shows (markup and script): an archive links
/// them for download only, and never under a name that would open them as such.
const ACTIVE_EXTENSIONS: [&str; 7] = ["html", "htm", "xhtml", "svg", "svgz", "xml", "js"];

/// Whether a file named `name` would run script if opened in a browser.
pub fn is_active_content(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        ACTIVE_EXTENSIONS
            .iter()
            .any(|active| active.eq_ignore_ascii_case(ext.trim()))
    })
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
        // An extension is at most 16 bytes (as when truncating), so the suffix fits.
        let (stem, ext) = match name.rfind('.') {
            Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
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
/// Active content (see [`is_active_content`]) gets `.txt` added, so opening it from the
/// archive shows its text instead of running it.
///
/// ```
/// use udd_domain::render::asset_name;
/// assert_eq!(asset_name("Q5y", "diagram.png"), "Q5y-diagram.png");
/// assert_eq!(asset_name("Q5y", "page.html"), "Q5y-page.html.txt");
/// ```
pub fn asset_name(file_id: &str, file_name: &str) -> String {
    let name = safe_file_name(
        &format!(
            "{}-{}",
            safe_file_name(file_id, "file"),
            safe_file_name(file_name, "file")
        ),
        "file",
    );
    if is_active_content(&name) {
        let stem = truncate_keeping_extension(&name, MAX_NAME_BYTES - ".txt".len());
        format!("{stem}.txt")
    } else {
        name
    }
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
    fn a_name_with_a_long_dotted_tail_is_numbered_within_the_cap() {
        // A safe name of 120 bytes whose last dot is near its start: the part after
        // that dot is no extension to keep, or the suffix would not fit before it.
        let long = safe_file_name(&format!("a.{}", "b".repeat(118)), "x");
        assert_eq!(long.len(), MAX_NAME_BYTES);
        let mut names = UniqueNames::new();
        assert_eq!(names.claim(&long), long);
        let second = names.claim(&long);
        assert!(
            second.len() <= MAX_NAME_BYTES && second.ends_with("-2"),
            "{second}"
        );
        assert_eq!(safe_file_name(&second, "x"), second);
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

    #[test]
    fn invisible_format_characters_are_dropped_from_names() {
        assert_eq!(
            safe_file_name("invoice\u{202E}gpj.exe", "x"),
            "invoicegpj.exe"
        );
        assert_eq!(safe_file_name("a\u{200B}b\u{2028}c\u{2029}d", "x"), "abcd");
        assert_eq!(safe_file_name("\u{FEFF}\u{2066}", "x"), "x");
        assert_eq!(safe_file_name("tag\u{E0041}s.txt", "x"), "tags.txt");
        // Visible non-ASCII letters stay.
        assert_eq!(safe_file_name("Ünïcödé 日本.txt", "x"), "Ünïcödé 日本.txt");
    }

    #[test]
    fn active_content_is_never_stored_under_a_name_that_runs() {
        for name in [
            "x.html", "x.HTM", "x.xhtml", "x.svg", "x.xml", "x.js", "a.b.Svg",
        ] {
            assert!(is_active_content(name), "{name}");
            let asset = asset_name("F1", name);
            assert!(asset.ends_with(".txt"), "{asset}");
            assert!(!is_active_content(&asset), "{asset}");
        }
        for name in ["x.png", "x.pdf", "html", "x.txt", "x.json"] {
            assert!(!is_active_content(name), "{name}");
            assert!(!asset_name("F1", name).ends_with(".txt") || name.ends_with(".txt"));
        }
        let long = format!("{}.html", "a".repeat(300));
        let asset = asset_name("F1", &long);
        assert!(
            asset.len() <= MAX_NAME_BYTES && asset.ends_with(".html.txt"),
            "{asset}"
        );
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
            prop_assert!(!name.chars().any(is_invisible_format));
        }

        #[test]
        fn asset_names_are_safe_and_never_active(id in "\\PC{0,30}", raw in "\\PC{0,200}") {
            let name = asset_name(&id, &raw);
            prop_assert_eq!(safe_file_name(&name, "file"), name.clone());
            prop_assert!(!is_active_content(&name));
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
