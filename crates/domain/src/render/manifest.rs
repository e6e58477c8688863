//! `manifest.json`: what an export holds, so its completeness can be checked.

use serde::Serialize;

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

impl Manifest {
    /// The pretty-printed JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
