//! Export operations: what was asked for, how far it got, and the moves allowed between
//! its statuses.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::ids::{FileId, OperationId, RoomId, UploadId, UserId};

/// Where an operation stands, named as Rocket.Chat names it, plus `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportStatus {
    /// Created, room list not yet gathered.
    Preparing,
    /// Queued, waiting for a worker.
    Pending,
    /// Full exports only: writing `channels.json`.
    ExportingRooms,
    /// Writing the messages of each room.
    Exporting,
    /// Copying uploads into the assets folder.
    Downloading,
    /// Zipping the export folder.
    Compressing,
    /// Storing the zip and recording the user data file.
    Uploading,
    /// Done: the zip is available.
    Completed,
    /// Abandoned because it was left untouched for too long.
    Skipped,
    /// Gave up after a failure it could not recover from.
    Failed,
}

impl ExportStatus {
    /// Every status, in the order an operation passes through them.
    pub const ALL: [ExportStatus; 10] = [
        Self::Preparing,
        Self::Pending,
        Self::ExportingRooms,
        Self::Exporting,
        Self::Downloading,
        Self::Compressing,
        Self::Uploading,
        Self::Completed,
        Self::Skipped,
        Self::Failed,
    ];

    /// The wire and storage name (`exporting-rooms`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preparing => "preparing",
            Self::Pending => "pending",
            Self::ExportingRooms => "exporting-rooms",
            Self::Exporting => "exporting",
            Self::Downloading => "downloading",
            Self::Compressing => "compressing",
            Self::Uploading => "uploading",
            Self::Completed => "completed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    /// No move leads out of a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped | Self::Failed)
    }

    /// Whether the state machine allows going from `self` to `next`.
    ///
    /// The work moves forward one stage at a time; the room-list stage is skipped by
    /// personal exports; any unfinished operation may be skipped or fail.
    ///
    /// ```
    /// use udd_domain::ExportStatus::*;
    /// assert!(Pending.can_move_to(Exporting));
    /// assert!(Exporting.can_move_to(Failed));
    /// assert!(!Exporting.can_move_to(Completed), "no stage is skipped");
    /// assert!(!Completed.can_move_to(Failed), "nothing leaves a terminal status");
    /// ```
    pub fn can_move_to(self, next: ExportStatus) -> bool {
        use ExportStatus::*;
        if self.is_terminal() {
            return false;
        }
        matches!(
            (self, next),
            (_, Skipped | Failed)
                | (Preparing, Pending)
                | (Preparing | Pending, ExportingRooms | Exporting)
                | (ExportingRooms, Exporting)
                | (Exporting, Downloading)
                | (Downloading, Compressing)
                | (Compressing, Uploading)
                | (Uploading, Completed)
        )
    }
}

impl fmt::Display for ExportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`ExportStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown export status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for ExportStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A move the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("an export operation cannot move from `{from}` to `{to}`")]
pub struct IllegalTransition {
    /// The status the operation is in.
    pub from: ExportStatus,
    /// The status it was asked to move to.
    pub to: ExportStatus,
}

/// Rocket.Chat's room types. Unknown letters are kept as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoomType {
    /// `c`: public channel.
    Channel,
    /// `p`: private group.
    Private,
    /// `d`: direct messages.
    Direct,
    /// `l`: omnichannel (livechat) room.
    Livechat,
    /// Any other type letter.
    Other(String),
}

impl RoomType {
    /// Parses Rocket.Chat's type letter.
    pub fn from_code(code: &str) -> Self {
        match code {
            "c" => Self::Channel,
            "p" => Self::Private,
            "d" => Self::Direct,
            "l" => Self::Livechat,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Rocket.Chat's type letter.
    pub fn code(&self) -> &str {
        match self {
            Self::Channel => "c",
            Self::Private => "p",
            Self::Direct => "d",
            Self::Livechat => "l",
            Self::Other(code) => code,
        }
    }
}

/// How far the export of one room has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomExportStatus {
    /// Not started.
    Pending,
    /// Some batches written.
    Exporting,
    /// Every message up to the cutoff written.
    Completed,
}

impl RoomExportStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Exporting => "exporting",
            Self::Completed => "completed",
        }
    }
}

impl FromStr for RoomExportStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "exporting" => Ok(Self::Exporting),
            "completed" => Ok(Self::Completed),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One entry of an operation's room list (Rocket.Chat's `roomList` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomExport {
    /// The room's id.
    pub room_id: RoomId,
    /// The room's name, or its id for direct rooms.
    pub room_name: String,
    /// For direct rooms, the other member; otherwise none.
    pub user_id: Option<UserId>,
    /// Messages written so far.
    pub exported_count: u64,
    /// Progress of this room.
    pub status: RoomExportStatus,
    /// The room's type.
    pub room_type: RoomType,
    /// The file the room's messages go to, relative to the export folder.
    pub target_file: String,
    /// Messages up to the cutoff when the export started (for a percentage).
    pub total: u64,
    /// The last message written, where the next batch starts.
    pub cursor: Option<crate::workspace::MessageCursor>,
    /// Bytes of `target_file` committed so far; anything beyond was written by a batch
    /// that did not commit and is cut off on resume. A personal export's room is split
    /// into pages ([`crate::render::page_of`]); the length is that of the page holding
    /// the last committed message ([`crate::render::current_page`] of
    /// `exported_count`), every earlier page being complete.
    pub file_length: u64,
    /// What a personal export's room pages carry from one batch to the next (title,
    /// month starts, the last author); empty for a full export.
    pub pages: crate::render::PageState,
}

impl RoomExport {
    /// The file a room's messages are written to: `<roomName>.json` for a full export,
    /// `<roomId>.html` for a personal one (Rocket.Chat's rule), with the name made safe
    /// to use as a file name. Uniqueness within an export is the caller's
    /// ([`crate::render::UniqueNames`]).
    pub fn target_file_for(full_export: bool, room_id: &str, room_name: &str) -> String {
        use crate::render::safe_file_name;
        if full_export {
            format!("{}.json", safe_file_name(room_name, "room"))
        } else {
            format!("{}.html", safe_file_name(room_id, "room"))
        }
    }
}

/// An upload an operation has met so far (Rocket.Chat's `fileList` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// The upload id.
    pub id: UploadId,
    /// The original name (untrusted: shown, never used as a path).
    pub name: String,
}

/// One request for a user's data and everything known about its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOperation {
    /// The operation id (Rocket.Chat's `_id`).
    pub id: OperationId,
    /// The user whose data is exported.
    pub user_id: UserId,
    /// Full (JSON, machine-readable) or personal (HTML, human-readable) export.
    pub full_export: bool,
    /// Where the operation stands.
    pub status: ExportStatus,
    /// The rooms to export, filled when processing starts.
    pub room_list: Vec<RoomExport>,
    /// Uploads met so far, filled while processing.
    pub file_list: Vec<ListedFile>,
    /// The finished archive's storage key (never a host path) once written.
    pub archive_key: Option<String>,
    /// The user data file id once recorded.
    pub file_id: Option<FileId>,
    /// Why the operation failed, when it did.
    pub failure_reason: Option<String>,
    /// The snapshot instant: messages sent after it are not exported. Fixed when
    /// processing starts, so a resumed export covers exactly the same messages.
    pub cutoff: Option<DateTime<Utc>>,
    /// How many times a worker has taken the operation up.
    pub attempts: u32,
    /// Who asked for it: the owner is mailed when it ends, the data protection officer's
    /// subject-access export is handed over by hand and mails nobody.
    pub requested_by: RequestedBy,
    /// When the request was made.
    pub created_at: DateTime<Utc>,
    /// When the operation last changed.
    pub updated_at: DateTime<Utc>,
}

/// Who asked for an export operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestedBy {
    /// The user, through `users.requestDataDownload`: mailed a link when it ends, and
    /// subject to the request policy (one operation of a kind a day).
    #[default]
    Owner,
    /// The data protection officer, through `udd export --no-mail`: the archive is
    /// written where the officer says, nobody is mailed, and the owner's own requests
    /// neither reuse it nor wait for it.
    Officer,
}

impl RequestedBy {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Officer => "officer",
        }
    }

    /// Whether the end of such an operation owes its owner a mail.
    pub fn owes_notice(self) -> bool {
        self == Self::Owner
    }
}

impl std::str::FromStr for RequestedBy {
    type Err = UnknownRequester;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "officer" => Ok(Self::Officer),
            other => Err(UnknownRequester(other.to_owned())),
        }
    }
}

/// A stored requester that is neither `owner` nor `officer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown requester `{0}`")]
pub struct UnknownRequester(pub String);

impl ExportOperation {
    /// A freshly requested operation, `pending` with empty lists.
    pub fn new_pending(
        id: OperationId,
        user_id: UserId,
        full_export: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            user_id,
            full_export,
            status: ExportStatus::Pending,
            room_list: Vec::new(),
            file_list: Vec::new(),
            archive_key: None,
            file_id: None,
            failure_reason: None,
            cutoff: None,
            attempts: 0,
            requested_by: RequestedBy::Owner,
            created_at: now,
            updated_at: now,
        }
    }

    /// The same operation, asked for by `requested_by`.
    pub fn asked_by(mut self, requested_by: RequestedBy) -> Self {
        self.requested_by = requested_by;
        self
    }

    /// Moves to `next` if the state machine allows it, stamping `updated_at`.
    ///
    /// ```
    /// use chrono::{DateTime, Duration};
    /// use udd_domain::{ExportOperation, ExportStatus};
    ///
    /// let at = DateTime::UNIX_EPOCH;
    /// let mut op = ExportOperation::new_pending("OP1".into(), "alice".into(), false, at);
    /// op.move_to(ExportStatus::Exporting, at + Duration::seconds(1)).unwrap();
    /// assert_eq!(op.updated_at, at + Duration::seconds(1));
    /// let refused = op.move_to(ExportStatus::Completed, at).unwrap_err();
    /// assert_eq!(refused.to_string(), "an export operation cannot move from `exporting` to `completed`");
    /// ```
    pub fn move_to(
        &mut self,
        next: ExportStatus,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        if !self.status.can_move_to(next) {
            return Err(IllegalTransition {
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        self.updated_at = now;
        Ok(())
    }

    /// Rocket.Chat's rule: an operation that started but was not updated for over a
    /// day is abandoned (`skipped`) rather than resumed.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_terminal()
            && !matches!(self.status, ExportStatus::Preparing | ExportStatus::Pending)
            && self.updated_at < now - chrono::Duration::days(1)
    }

    /// Sends the operation back to the start of its room files, for a worker that cannot
    /// trust the working folder it found (missing on its host, or written by another
    /// process): every room loses its cursor, count and committed length, and an
    /// operation past the room stage returns to it (`exporting-rooms` for a full export,
    /// which also rewrites `channels.json`). Cutoff, room list and pseudonyms stay, so the
    /// files come out byte for byte as before. An operation whose archive is already
    /// stored (`uploading`), or that has not started, needs nothing; returns whether
    /// anything changed.
    pub fn restart_room_files(&mut self) -> bool {
        use ExportStatus::*;
        if self.cutoff.is_none() || !matches!(self.status, Exporting | Downloading | Compressing) {
            return false;
        }
        let restart = if self.full_export {
            ExportingRooms
        } else {
            Exporting
        };
        let mut changed = self.status != restart;
        self.status = restart;
        self.archive_key = None;
        for room in &mut self.room_list {
            if room.cursor.is_some() || room.exported_count > 0 || room.file_length > 0 {
                changed = true;
            }
            room.cursor = None;
            room.exported_count = 0;
            room.file_length = 0;
            // What the pages carried between batches goes with them.
            room.pages = Default::default();
            room.status = RoomExportStatus::Pending;
        }
        changed
    }

    /// Messages written so far and messages to write in all, over every room.
    pub fn message_progress(&self) -> (u64, u64) {
        self.room_list.iter().fold((0, 0), |(done, total), room| {
            (done + room.exported_count, total + room.total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExportStatus::*;

    fn op(full: bool) -> ExportOperation {
        ExportOperation::new_pending("op1".into(), "u1".into(), full, DateTime::UNIX_EPOCH)
    }

    fn with_progress(full: bool, status: ExportStatus) -> ExportOperation {
        let mut op = op(full);
        op.cutoff = Some(DateTime::UNIX_EPOCH);
        op.status = status;
        op.room_list = vec![RoomExport {
            room_id: "R1".into(),
            room_name: "general".into(),
            user_id: None,
            exported_count: 10,
            status: RoomExportStatus::Completed,
            room_type: RoomType::Channel,
            target_file: "general.json".into(),
            total: 10,
            cursor: None,
            file_length: 512,
            pages: Default::default(),
        }];
        op
    }

    #[test]
    fn restarting_room_files_sends_rooms_and_stage_back_to_their_start() {
        let mut personal = with_progress(false, Compressing);
        assert!(personal.restart_room_files());
        assert_eq!(personal.status, Exporting);
        let room = &personal.room_list[0];
        assert_eq!(
            (room.exported_count, room.file_length, room.status),
            (0, 0, RoomExportStatus::Pending)
        );
        assert_eq!(room.total, 10);
        assert!(personal.cutoff.is_some());
        assert!(!personal.restart_room_files(), "nothing left to restart");

        let mut full = with_progress(true, Exporting);
        assert!(full.restart_room_files());
        assert_eq!(
            full.status, ExportingRooms,
            "channels.json is written again too"
        );

        for untouched in [Uploading, Completed, Pending] {
            let mut op = with_progress(false, untouched);
            assert!(!op.restart_room_files(), "{untouched}");
            assert_eq!(op.room_list[0].file_length, 512);
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in ExportStatus::ALL {
            assert_eq!(status.as_str().parse::<ExportStatus>(), Ok(status));
        }
        assert_eq!(ExportStatus::ExportingRooms.as_str(), "exporting-rooms");
        assert!("exporting_rooms".parse::<ExportStatus>().is_err());
    }

    #[test]
    fn a_full_export_walks_every_stage_to_completed() {
        let mut op = op(true);
        for next in [
            ExportingRooms,
            Exporting,
            Downloading,
            Compressing,
            Uploading,
            Completed,
        ] {
            op.move_to(next, DateTime::UNIX_EPOCH)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(op.status, Completed);
    }

    #[test]
    fn a_personal_export_skips_the_room_list_stage() {
        assert!(Pending.can_move_to(Exporting));
        assert!(Preparing.can_move_to(Pending));
    }

    #[test]
    fn stages_cannot_be_skipped_or_revisited() {
        assert!(!Pending.can_move_to(Compressing));
        assert!(!Exporting.can_move_to(Uploading));
        assert!(!Downloading.can_move_to(Exporting));
        assert!(!Uploading.can_move_to(Pending));
        assert!(!Pending.can_move_to(Completed));
    }

    #[test]
    fn nothing_leaves_a_terminal_status() {
        for from in [Completed, Skipped, Failed] {
            for to in ExportStatus::ALL {
                assert!(!from.can_move_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn any_unfinished_stage_may_fail_or_be_skipped() {
        for from in ExportStatus::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert!(from.can_move_to(Failed), "{from}");
            assert!(from.can_move_to(Skipped), "{from}");
        }
    }

    #[test]
    fn an_illegal_move_is_refused_and_leaves_the_operation_unchanged() {
        let mut op = op(false);
        let later = DateTime::UNIX_EPOCH + chrono::Duration::seconds(5);
        let err = op.move_to(Completed, later).unwrap_err();
        assert_eq!(
            err,
            IllegalTransition {
                from: Pending,
                to: Completed
            }
        );
        assert_eq!(op.status, Pending);
        assert_eq!(op.updated_at, DateTime::UNIX_EPOCH);
        op.move_to(Exporting, later)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op.updated_at, later);
    }

    #[test]
    fn only_a_started_operation_left_alone_for_over_a_day_is_stale() {
        let day = chrono::Duration::days(1);
        let mut op = op(true);
        let now = DateTime::UNIX_EPOCH + day * 3;
        assert!(
            !op.is_stale(now),
            "a pending operation waits, it is not stale"
        );
        op.status = Exporting;
        assert!(op.is_stale(now));
        op.updated_at = now - day + chrono::Duration::minutes(1);
        assert!(!op.is_stale(now));
        op.status = Completed;
        op.updated_at = DateTime::UNIX_EPOCH;
        assert!(!op.is_stale(now));
    }

    #[test]
    fn target_files_follow_the_export_kind() {
        assert_eq!(
            RoomExport::target_file_for(true, "GENERAL", "general"),
            "general.json"
        );
        assert_eq!(
            RoomExport::target_file_for(true, "R1", "../../etc/passwd"),
            "_.._etc_passwd.json"
        );
        assert_eq!(
            RoomExport::target_file_for(false, "GENERAL", "general"),
            "GENERAL.html"
        );
    }

    #[test]
    fn room_type_codes_round_trip_including_unknown_ones() {
        for code in ["c", "p", "d", "l", "v"] {
            assert_eq!(RoomType::from_code(code).code(), code);
        }
        assert_eq!(RoomType::from_code("d"), RoomType::Direct);
    }
}
