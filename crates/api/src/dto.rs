//! Response bodies, shaped exactly as Rocket.Chat's REST API shapes them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use udd_app::DataDownloadRequest;
use udd_domain::time::iso_millis;
use udd_domain::{Email, ExportOperation, RoomExport, User};

use crate::settings::Settings;

/// The user as `login` and `me` show them: profile only, never secrets.
#[derive(Debug, Serialize)]
pub struct Me {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    emails: Vec<Email>,
    roles: Vec<String>,
    #[serde(rename = "statusText", skip_serializing_if = "Option::is_none")]
    status_text: Option<String>,
    active: bool,
    #[serde(rename = "createdAt")]
    created_at: String,
}

impl From<&User> for Me {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            name: user.name.clone(),
            emails: user.emails.clone(),
            roles: user.roles.clone(),
            status_text: user.status_text.clone(),
            active: user.active,
            created_at: iso_millis(user.created_at),
        }
    }
}

/// `users.requestDataDownload`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDataDownloadResponse<'a> {
    requested: bool,
    export_operation: ExportOperationDto<'a>,
    pending_operations_before_my_request: u64,
    success: bool,
}

impl<'a> RequestDataDownloadResponse<'a> {
    /// The answer to a request, with Rocket.Chat's path fields filled from `paths`.
    pub fn new(answer: &'a DataDownloadRequest, paths: &WirePaths) -> Self {
        Self {
            requested: answer.requested,
            export_operation: ExportOperationDto::new(&answer.operation, paths),
            pending_operations_before_my_request: answer.pending_before,
            success: true,
        }
    }
}

/// The result of the Meteor method `requestDataDownload`, as Rocket.Chat's method
/// returns it to its web client: the operation with EJSON dates, and `url` (the
/// download path, under the site's path) once the operation is completed, else null.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDataDownloadResult<'a> {
    requested: bool,
    export_operation: ExportOperationDto<'a, EjsonDate>,
    url: Option<String>,
    pending_operations_before_my_request: u64,
}

impl<'a> RequestDataDownloadResult<'a> {
    /// The method's result for `answer`.
    pub fn new(answer: &'a DataDownloadRequest, paths: &WirePaths) -> Self {
        Self {
            requested: answer.requested,
            export_operation: ExportOperationDto::ejson(&answer.operation, paths),
            url: completed_download(&answer.operation, paths),
            pending_operations_before_my_request: answer.pending_before,
        }
    }
}

/// Rocket.Chat reports an operation's folders and zip as host paths (`exportPath`,
/// `assetsPath`, `generatedFile`); udd addresses archives by key and keeps working
/// folders to its workers, so these fields are filled here, from the configured
/// folders, for clients that show them.
///
/// It also holds the path prefix of `server.site_url`, which starts the download paths
/// udd gives out, so a site at `https://chat.example.org/udd` answers
/// `/udd/data-export/<fileId>`.
#[derive(Debug, Clone)]
pub struct WirePaths {
    export_root: PathBuf,
    zip_root: PathBuf,
    site_path: String,
}

impl WirePaths {
    /// The folders `[user_data]` names, made absolute, and the path of
    /// `server.site_url` (none when the URL is invalid, which validation refuses first).
    pub fn from_settings(settings: &Settings) -> Self {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Self {
            export_root: absolute(&settings.user_data.file_system_path),
            zip_root: absolute(&settings.user_data.file_system_zip_path),
            site_path: settings.server.site_path().unwrap_or_default(),
        }
    }

    /// The path a file is downloaded at, under the site's path:
    /// `/data-export/<fileId>`, or `/udd/data-export/<fileId>` for a site at `…/udd`.
    pub fn download_path(&self, file_id: &str) -> String {
        format!("{}{}", self.site_path, udd_app::download_path(file_id))
    }

    fn export_path(&self, operation_id: &str) -> PathBuf {
        self.export_root.join(operation_id)
    }

    /// Where the archive with `key` is kept, for people: a path under
    /// `user_data.file_system_zip_path` (`exports/<id>.zip` is `<zip path>/<id>.zip`).
    pub fn archive_location(&self, key: &str) -> String {
        match udd_adapters::archive::operation_of_key(key) {
            Some(operation) => self.zip_root.join(format!("{operation}.zip")),
            None => self.zip_root.join(key),
        }
        .to_string_lossy()
        .into_owned()
    }
}

/// An export operation as Rocket.Chat returns it. Fields not known yet are omitted
/// rather than null, as the schema types them as strings. Dates are `D`: ISO-8601
/// strings over REST ([`ExportOperationDto::new`]), EJSON dates in a Meteor method's
/// result ([`ExportOperationDto::ejson`]).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportOperationDto<'a, D = String> {
    #[serde(rename = "_id")]
    id: &'a str,
    created_at: D,
    user_id: &'a str,
    room_list: Vec<RoomDto<'a>>,
    status: &'static str,
    export_path: String,
    assets_path: String,
    file_list: Vec<FileDto<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generated_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_id: Option<&'a str>,
    /// The download path of a completed export (under the site's path), as Rocket.Chat's
    /// method returns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    full_export: bool,
    #[serde(rename = "_updatedAt")]
    updated_at: D,
}

/// A date as Meteor's EJSON writes it: `{"$date": <milliseconds since the epoch>}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EjsonDate {
    #[serde(rename = "$date")]
    millis: i64,
}

impl From<DateTime<Utc>> for EjsonDate {
    fn from(at: DateTime<Utc>) -> Self {
        Self {
            millis: at.timestamp_millis(),
        }
    }
}

impl<'a> ExportOperationDto<'a, String> {
    /// The operation as Rocket.Chat's REST API shows it (ISO-8601 dates).
    pub fn new(op: &'a ExportOperation, paths: &WirePaths) -> Self {
        Self::build(op, paths, iso_millis)
    }
}

impl<'a> ExportOperationDto<'a, EjsonDate> {
    /// The operation as a Meteor method returns it over DDP (EJSON dates).
    pub fn ejson(op: &'a ExportOperation, paths: &WirePaths) -> Self {
        Self::build(op, paths, EjsonDate::from)
    }
}

impl<'a, D> ExportOperationDto<'a, D> {
    fn build(
        op: &'a ExportOperation,
        paths: &WirePaths,
        date: impl Fn(DateTime<Utc>) -> D,
    ) -> Self {
        let export_path = paths.export_path(&op.id);
        Self {
            id: &op.id,
            created_at: date(op.created_at),
            user_id: &op.user_id,
            room_list: op.room_list.iter().map(RoomDto::from).collect(),
            status: op.status.as_str(),
            assets_path: export_path.join("assets").to_string_lossy().into_owned(),
            export_path: export_path.to_string_lossy().into_owned(),
            file_list: op
                .file_list
                .iter()
                .map(|file| FileDto {
                    id: &file.id,
                    name: &file.name,
                })
                .collect(),
            generated_file: op
                .archive_key
                .as_deref()
                .map(|key| paths.archive_location(key)),
            file_id: op.file_id.as_deref(),
            url: completed_download(op, paths),
            full_export: op.full_export,
            updated_at: date(op.updated_at),
        }
    }
}

/// The download path of `op`'s file, once the operation is completed.
pub fn completed_download(op: &ExportOperation, paths: &WirePaths) -> Option<String> {
    op.file_id
        .as_ref()
        .filter(|_| op.status == udd_domain::ExportStatus::Completed)
        .map(|id| paths.download_path(id))
}

/// One `roomList` entry; `userId` is always present, null when there is none.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDto<'a> {
    room_id: &'a str,
    room_name: &'a str,
    user_id: Option<&'a str>,
    exported_count: u64,
    status: &'static str,
    target_file: &'a str,
    #[serde(rename = "type")]
    room_type: &'a str,
    total: u64,
}

impl<'a> From<&'a RoomExport> for RoomDto<'a> {
    fn from(room: &'a RoomExport) -> Self {
        Self {
            room_id: &room.room_id,
            room_name: &room.room_name,
            user_id: room.user_id.as_deref(),
            exported_count: room.exported_count,
            status: room.status.as_str(),
            target_file: &room.target_file,
            room_type: room.room_type.code(),
            total: room.total,
        }
    }
}

/// One `fileList` entry.
#[derive(Debug, Serialize)]
pub struct FileDto<'a> {
    #[serde(rename = "_id")]
    id: &'a str,
    name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use udd_domain::{ListedFile, RoomExportStatus, RoomType};

    fn paths() -> WirePaths {
        WirePaths {
            export_root: PathBuf::from("/d"),
            zip_root: PathBuf::from("/zips"),
            site_path: "/udd".into(),
        }
    }

    #[test]
    fn an_operation_serialises_with_rocket_chat_names_and_types() {
        let mut op =
            ExportOperation::new_pending("OP".into(), "U".into(), false, DateTime::UNIX_EPOCH);
        op.room_list.push(RoomExport {
            room_id: "GENERAL".into(),
            room_name: "general".into(),
            user_id: None,
            exported_count: 8,
            status: RoomExportStatus::Completed,
            room_type: RoomType::Channel,
            target_file: "GENERAL.html".into(),
            total: 8,
            cursor: None,
            file_length: 0,
            pages: Default::default(),
        });
        let json = serde_json::to_value(ExportOperationDto::new(&op, &paths())).unwrap_or_default();
        assert_eq!(json["_id"], "OP");
        assert_eq!(json["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["_updatedAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["fullExport"], false);
        assert_eq!(json["status"], "pending");
        assert_eq!(json["roomList"][0]["exportedCount"], 8);
        assert_eq!(json["roomList"][0]["type"], "c");
        assert!(json["roomList"][0]["userId"].is_null());
        assert!(json["roomList"][0]
            .as_object()
            .is_some_and(|o| o.contains_key("userId")));
        assert!(
            json.get("generatedFile").is_none(),
            "unknown strings are omitted, not null"
        );
        assert_eq!(json["fileList"], serde_json::json!([]));
        assert_eq!(json["exportPath"], "/d/OP");
        assert_eq!(json["assetsPath"], "/d/OP/assets");
    }

    #[test]
    fn the_method_result_carries_ejson_dates_and_the_download_path_under_the_site() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let mut op = ExportOperation::new_pending("OP".into(), "U".into(), false, at);
        op.updated_at = at + chrono::Duration::milliseconds(5);
        let answer = DataDownloadRequest {
            requested: true,
            operation: op.clone(),
            pending_before: 2,
        };
        let json = serde_json::to_value(RequestDataDownloadResult::new(&answer, &paths()))
            .unwrap_or_default();
        assert_eq!(json["requested"], true);
        assert_eq!(
            json["exportOperation"]["createdAt"],
            serde_json::json!({"$date": 1_700_000_000_123_i64})
        );
        assert_eq!(
            json["exportOperation"]["_updatedAt"],
            serde_json::json!({"$date": 1_700_000_000_128_i64})
        );
        assert!(json["url"].is_null(), "null until completed: {json}");
        assert!(json.as_object().is_some_and(|o| o.contains_key("url")));
        assert_eq!(json["pendingOperationsBeforeMyRequest"], 2);

        op.status = udd_domain::ExportStatus::Completed;
        op.file_id = Some("F1".into());
        let done = DataDownloadRequest {
            requested: false,
            operation: op,
            pending_before: 0,
        };
        let json = serde_json::to_value(RequestDataDownloadResult::new(&done, &paths()))
            .unwrap_or_default();
        assert_eq!(json["url"], "/udd/data-export/F1");
        assert_eq!(json["exportOperation"]["url"], "/udd/data-export/F1");
    }

    #[test]
    fn keys_and_files_are_shown_in_rocket_chats_fields() {
        let mut op =
            ExportOperation::new_pending("OP".into(), "U".into(), true, DateTime::UNIX_EPOCH);
        op.archive_key = Some("exports/OP.zip".into());
        op.file_list.push(ListedFile {
            id: "F1".into(),
            name: "a.png".into(),
        });
        let json = serde_json::to_value(ExportOperationDto::new(&op, &paths())).unwrap_or_default();
        assert_eq!(json["generatedFile"], "/zips/OP.zip");
        assert_eq!(
            json["fileList"],
            serde_json::json!([{"_id": "F1", "name": "a.png"}])
        );
    }
}
