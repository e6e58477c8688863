//! Row structs of the operation tables, and their conversion to and from the domain.

use anyhow::Context;
use diesel::prelude::*;
use udd_domain::render::PageState;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{ExportOperation, ListedFile, MessageCursor, RoomExport, RoomType};
use udd_ports::ExportFileRef;

use super::super::schema::{export_operations, export_pages, export_rooms};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = export_operations)]
pub(super) struct OperationRow {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) full_export: bool,
    pub(super) status: String,
    pub(super) archive_key: Option<String>,
    pub(super) file_id: Option<String>,
    pub(super) failure_reason: Option<String>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) cutoff_at: Option<i64>,
    pub(super) attempts: i32,
    pub(super) lease_owner: Option<String>,
    pub(super) lease_expires_at: Option<i64>,
    pub(super) requested_by: String,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = export_rooms)]
pub(super) struct RoomRow {
    pub(super) operation_id: String,
    pub(super) position: i32,
    pub(super) room_id: String,
    pub(super) room_name: String,
    pub(super) user_id: Option<String>,
    pub(super) exported_count: i64,
    pub(super) status: String,
    pub(super) room_type: String,
    pub(super) target_file: String,
    pub(super) total: i64,
    pub(super) cursor_ts: Option<i64>,
    pub(super) cursor_id: Option<String>,
    pub(super) file_length: i64,
    pub(super) page_state: String,
}

impl OperationRow {
    pub(super) fn from_domain(op: &ExportOperation) -> Self {
        Self {
            id: op.id.to_string(),
            user_id: op.user_id.to_string(),
            full_export: op.full_export,
            status: op.status.as_str().to_owned(),
            archive_key: op.archive_key.clone(),
            file_id: op.file_id.clone().map(Into::into),
            failure_reason: op.failure_reason.clone(),
            created_at: to_millis(op.created_at),
            updated_at: to_millis(op.updated_at),
            cutoff_at: op.cutoff.map(to_millis),
            attempts: i32::try_from(op.attempts).unwrap_or(i32::MAX),
            lease_owner: None,
            lease_expires_at: None,
            requested_by: op.requested_by.as_str().to_owned(),
        }
    }

    /// The operation of this row, with its rooms and files.
    pub(super) fn with_lists(
        self,
        room_list: Vec<RoomExport>,
        file_list: Vec<ListedFile>,
    ) -> anyhow::Result<ExportOperation> {
        let requested_by = self
            .requested_by
            .parse()
            .with_context(|| format!("export operation {}", self.id))?;
        Ok(ExportOperation {
            requested_by,
            status: self
                .status
                .parse()
                .with_context(|| format!("export operation {}", self.id))?,
            id: self.id.into(),
            user_id: self.user_id.into(),
            full_export: self.full_export,
            room_list,
            file_list,
            archive_key: self.archive_key,
            file_id: self.file_id.map(Into::into),
            failure_reason: self.failure_reason,
            cutoff: self.cutoff_at.map(from_millis),
            attempts: u32::try_from(self.attempts).unwrap_or(0),

            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
        })
    }
}

impl RoomRow {
    pub(super) fn into_domain(self) -> anyhow::Result<RoomExport> {
        let pages = PageState::from_text(&self.page_state).with_context(|| {
            format!(
                "the page state of room {} of export operation {}",
                self.room_id, self.operation_id
            )
        })?;
        Ok(RoomExport {
            status: self.status.parse().with_context(|| {
                format!(
                    "room {} of export operation {}",
                    self.room_id, self.operation_id
                )
            })?,
            room_id: self.room_id.into(),
            room_name: self.room_name,
            user_id: self.user_id.map(Into::into),
            exported_count: u64::try_from(self.exported_count).unwrap_or(0),
            room_type: RoomType::from_code(&self.room_type),
            target_file: self.target_file,
            total: u64::try_from(self.total).unwrap_or(0),
            cursor: match (self.cursor_ts, self.cursor_id) {
                (Some(ts), Some(id)) => Some(MessageCursor {
                    ts: from_millis(ts),
                    id,
                }),
                _ => None,
            },
            file_length: u64::try_from(self.file_length).unwrap_or(0),
            pages,
        })
    }

    pub(super) fn from_domain(operation_id: &str, position: usize, room: &RoomExport) -> Self {
        Self {
            operation_id: operation_id.to_owned(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            room_id: room.room_id.to_string(),
            room_name: room.room_name.clone(),
            user_id: room.user_id.clone().map(Into::into),
            exported_count: big(room.exported_count),
            status: room.status.as_str().to_owned(),
            room_type: room.room_type.code().to_owned(),
            target_file: room.target_file.clone(),
            total: big(room.total),
            cursor_ts: room.cursor.as_ref().map(|c| to_millis(c.ts)),
            cursor_id: room.cursor.as_ref().map(|c| c.id.clone()),
            file_length: big(room.file_length),
            page_state: room.pages.to_text_without_pages(),
        }
    }
}

/// Where one page of a personal export's room begins (see [`PageState`]).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = export_pages)]
pub(super) struct PageRow {
    pub(super) operation_id: String,
    pub(super) position: i32,
    pub(super) page: i32,
    pub(super) first_ts: i64,
    pub(super) first_id: String,
    pub(super) first_byte: i64,
}

/// The rows of the pages of room `position` of `operation_id` from page `from` (pages
/// before it are stored already), as its page state gives them.
pub(super) fn page_rows(
    operation_id: &str,
    position: usize,
    pages: &PageState,
    from: u32,
) -> Vec<PageRow> {
    // The first page begins at the room's start; `page_starts[i]` is page `i + 2`.
    let skip = from.saturating_sub(2) as usize;
    pages
        .page_starts
        .iter()
        .zip(pages.page_offsets.iter().chain(std::iter::repeat(&0)))
        .enumerate()
        .skip(skip)
        .map(|(i, ((ts, id), byte))| PageRow {
            operation_id: operation_id.to_owned(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            page: i32::try_from(i + 2).unwrap_or(i32::MAX),
            first_ts: *ts,
            first_id: id.clone(),
            first_byte: big(*byte),
        })
        .collect()
}

/// Puts each of `pages` (sorted by room and page) into its room's page state.
pub(super) fn attach_pages(rooms: &mut [RoomExport], pages: Vec<PageRow>) {
    for row in pages {
        let Some(room) = usize::try_from(row.position)
            .ok()
            .and_then(|position| rooms.get_mut(position))
        else {
            continue;
        };
        room.pages.page_starts.push((row.first_ts, row.first_id));
        room.pages
            .page_offsets
            .push(u64::try_from(row.first_byte).unwrap_or(0));
    }
}

/// The files of an archive as its operation lists them.
pub(super) fn listed(files: Vec<ExportFileRef>) -> Vec<ListedFile> {
    files
        .into_iter()
        .map(|f| ListedFile {
            id: f.file_id,
            name: f.name,
        })
        .collect()
}

pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
