//! `manifest.json`: what an export holds, so its completeness can be checked.

use std::fmt::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Bumped when the manifest's shape changes.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// The manifest of one export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// [`MANIFEST_FORMAT_VERSION`].
    pub format_version: u32,
    /// `full` or `personal`.
    pub kind: &'static str,
    /// The requester's id.
    pub user_id: String,
    /// The requester's username.
    pub username: String,
    /// Messages sent after this instant are not in the export (ISO-8601).
    pub cutoff: String,
    /// Every room, in export order.
    pub rooms: Vec<ManifestRoom>,
    /// Every file of the archive except the manifest itself, sorted by path.
    pub files: Vec<ManifestFile>,
    /// Files that should be in the export but were not available.
    pub unavailable: Vec<String>,
}

/// One room in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRoom {
    /// The room id.
    pub room_id: String,
    /// The room name as exported.
    pub room_name: String,
    /// Rocket.Chat's type letter.
    #[serde(rename = "type")]
    pub room_type: String,
    /// The room's file in the archive.
    pub file: String,
    /// Messages written.
    pub messages: u64,
    /// Every page of a personal export's room, the first being `file`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
}

/// One file in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestFile {
    /// The path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// A [`ManifestFile`]'s size and SHA-256, worked out from its bytes piece by piece as
/// they are written (so that nothing reads them back to describe them).
#[derive(Debug, Clone, Default)]
pub struct FileDigest {
    hasher: Sha256,
    size: u64,
}

impl FileDigest {
    /// Takes in the file's next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// The manifest's line for the file at `path`, whose bytes were all taken in.
    pub fn finish(self, path: String) -> ManifestFile {
        let mut sha256 = String::with_capacity(64);
        for byte in self.hasher.finalize() {
            let _ = write!(sha256, "{byte:02x}");
        }
        ManifestFile {
            path,
            size: self.size,
            sha256,
        }
    }
}

impl Manifest {
    /// The pretty-printed JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The fields of a [`Manifest`] that come before its files, in its order and names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    format_version: u32,
    kind: &'a str,
    user_id: &'a str,
    username: &'a str,
    cutoff: &'a str,
    rooms: &'a [ManifestRoom],
}

/// A manifest written a piece at a time, in exactly the bytes [`Manifest::to_json`]
/// gives for the same content: an export may list hundreds of thousands of files,
/// which need never be held together. Pieces are appended to a caller's buffer, which
/// the caller empties into the file as it sees fit.
///
/// ```
/// # use udd_domain::render::{Manifest, ManifestFile, ManifestWriter};
/// let manifest = Manifest {
///     format_version: 1,
///     kind: "full",
///     user_id: "u1".into(),
///     username: "alice".into(),
///     cutoff: "2024-03-01T09:05:52.000Z".into(),
///     rooms: vec![],
///     files: vec![ManifestFile { path: "a".into(), size: 1, sha256: "ab".into() }],
///     unavailable: vec!["the avatar".into()],
/// };
/// let mut text = String::new();
/// let mut writer = ManifestWriter::start(&manifest, &mut text);
/// writer.file(&manifest.files[0], &mut text);
/// writer.unavailable(&manifest.unavailable[0], &mut text);
/// writer.finish(&mut text);
/// assert_eq!(text, manifest.to_json());
/// ```
#[derive(Debug)]
pub struct ManifestWriter {
    files: u64,
    /// How many unavailable items are written; none until the files are closed.
    unavailable: Option<u64>,
}

impl ManifestWriter {
    /// Writes the manifest's fields up to its files: those of `manifest`, whose
    /// `files` and `unavailable` are not written here (they follow through
    /// [`ManifestWriter::file`] and [`ManifestWriter::unavailable`]).
    pub fn start(manifest: &Manifest, out: &mut String) -> Self {
        let head = Head {
            format_version: manifest.format_version,
            kind: manifest.kind,
            user_id: &manifest.user_id,
            username: &manifest.username,
            cutoff: &manifest.cutoff,
            rooms: &manifest.rooms,
        };
        let text = serde_json::to_string_pretty(&head).unwrap_or_default();
        // The object is left open after its last field, to go on with the files.
        out.push_str(text.strip_suffix("\n}").unwrap_or(&text));
        out.push_str(",\n  \"files\": [");
        Self {
            files: 0,
            unavailable: None,
        }
    }

    /// Writes the next file (files come sorted by path, as the manifest lists them).
    pub fn file(&mut self, file: &ManifestFile, out: &mut String) {
        out.push_str(if self.files == 0 { "\n" } else { ",\n" });
        push_indented(
            out,
            &serde_json::to_string_pretty(file).unwrap_or_default(),
            "    ",
        );
        self.files += 1;
    }

    /// Writes the next thing that was unavailable, after every file.
    pub fn unavailable(&mut self, item: &str, out: &mut String) {
        let written = self.close_files(out);
        out.push_str(if *written == 0 { "[\n    " } else { ",\n    " });
        out.push_str(&serde_json::to_string(item).unwrap_or_default());
        *written += 1;
    }

    /// Closes the manifest.
    pub fn finish(mut self, out: &mut String) {
        let written = *self.close_files(out);
        out.push_str(if written == 0 { "[]" } else { "\n  ]" });
        out.push_str("\n}\n");
    }

    /// Closes the files (once) and opens the unavailable list; its count so far.
    fn close_files(&mut self, out: &mut String) -> &mut u64 {
        self.unavailable.get_or_insert_with(|| {
            if self.files > 0 {
                out.push_str("\n  ");
            }
            out.push_str("],\n  \"unavailable\": ");
            0
        })
    }
}

/// Appends `text` with every line indented by `indent`. JSON text has no line breaks
/// inside its strings (they are escaped), so its lines are its pretty-printed lines.
fn push_indented(out: &mut String, text: &str, indent: &str) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(indent);
        out.push_str(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_fed_in_pieces_is_that_of_the_whole() {
        let mut digest = FileDigest::default();
        digest.update(b"sec");
        digest.update(b"");
        digest.update(b"ond");
        let file = digest.finish("a.html".into());
        assert_eq!(file.path, "a.html");
        assert_eq!(file.size, 6);
        assert_eq!(
            file.sha256,
            "16367aacb67a4a017c8da8ab95682ccb390863780f7114dda0a0e0c55644c7c4"
        );
        let empty = FileDigest::default().finish("e".into());
        assert_eq!(
            (empty.size, empty.sha256.as_str()),
            (
                0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
        );
    }

    fn room(pages: &[&str]) -> ManifestRoom {
        ManifestRoom {
            room_id: "R\"1".into(),
            room_name: "général\n<b>\\".into(),
            room_type: "c".into(),
            file: "R1.html".into(),
            messages: 12,
            pages: pages.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn file(path: &str) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size: 3,
            sha256: "ab".repeat(32),
        }
    }

    fn streamed(manifest: &Manifest) -> String {
        let mut text = String::new();
        let mut writer = ManifestWriter::start(manifest, &mut text);
        for file in &manifest.files {
            writer.file(file, &mut text);
        }
        for item in &manifest.unavailable {
            writer.unavailable(item, &mut text);
        }
        writer.finish(&mut text);
        text
    }

    fn manifest(
        rooms: Vec<ManifestRoom>,
        files: Vec<ManifestFile>,
        unavailable: &[&str],
    ) -> Manifest {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            kind: "personal",
            user_id: "u\u{1}1".into(),
            username: "ali\"ce".into(),
            cutoff: "2024-03-01T09:05:52.000Z".into(),
            rooms,
            files,
            unavailable: unavailable.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    #[test]
    fn a_manifest_written_piece_by_piece_is_byte_identical_to_the_whole_one() {
        let full = manifest(
            vec![room(&["R1.html", "R1-2.html"]), room(&[])],
            vec![
                file("R1.html"),
                file("assets/F1-\"quoted\"\tname\u{7f}\u{2028}.png"),
                file("assets/F2-\\back\nslash.txt"),
                file("index.html"),
            ],
            &["upload F3 (\"a\nb\")", "the avatar"],
        );
        assert_eq!(streamed(&full), full.to_json());
    }

    #[test]
    fn empty_lists_are_written_as_the_whole_manifest_writes_them() {
        for shape in [
            manifest(vec![], vec![], &[]),
            manifest(vec![room(&[])], vec![], &["x"]),
            manifest(vec![], vec![file("a")], &[]),
        ] {
            assert_eq!(streamed(&shape), shape.to_json());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_names_stream_to_the_bytes_of_the_whole_manifest(
            names in proptest::collection::vec("\\PC{0,12}|[\"\\\\\n\t\u{0}-\u{1f}]{0,4}", 0..6),
            unavailable in proptest::collection::vec("\\PC{0,12}", 0..3),
        ) {
            let files = names.iter().map(|n| file(n)).collect();
            let shape = manifest(vec![room(&["p"])], files, &[]);
            let shape = Manifest { unavailable, ..shape };
            proptest::prop_assert_eq!(streamed(&shape), shape.to_json());
        }
    }
}
