//! Export operations in SQLite: requests ([`ExportOperations`]), the work queue with its
//! leases ([`ExportQueue`]) and durable progress ([`ExportProgress`]), one module each,
//! over the row structs of `rows`.
//!
//! [`ExportOperations`]: udd_ports::ExportOperations
//! [`ExportQueue`]: udd_ports::ExportQueue
//! [`ExportProgress`]: udd_ports::ExportProgress

mod admin;
mod progress;
mod queue;
mod requests;
mod rows;
#[cfg(test)]
mod tests;

use anyhow::Context;
use diesel::prelude::*;
use udd_domain::{ExportOperation, ExportStatus};
use udd_ports::ExportFileRef;

use super::schema::{export_files, export_rooms};
use super::{Database, DbConnection};
use rows::{OperationRow, RoomRow};

/// Export operations in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteExportOperations {
    db: Database,
}

impl SqliteExportOperations {
    /// Operations stored in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn load(conn: &mut DbConnection, row: OperationRow) -> anyhow::Result<ExportOperation> {
    let rooms = export_rooms::table
        .filter(export_rooms::operation_id.eq(row.id.as_str()))
        .order(export_rooms::position.asc())
        .select(RoomRow::as_select())
        .load(conn)
        .context("loading an export operation's rooms")?;
    let files = load_files(conn, &row.id)?;
    row.into_domain(rooms, files)
}

fn load_files(conn: &mut DbConnection, operation_id: &str) -> anyhow::Result<Vec<ExportFileRef>> {
    Ok(export_files::table
        .filter(export_files::operation_id.eq(operation_id))
        .order(export_files::asset.asc())
        .select((
            export_files::file_id,
            export_files::name,
            export_files::asset,
        ))
        .load::<(String, String, String)>(conn)
        .context("loading an export operation's files")?
        .into_iter()
        .map(|(file_id, name, asset)| ExportFileRef {
            file_id: file_id.into(),
            name,
            asset,
        })
        .collect())
}

/// Statuses of operations that are still queued or running.
fn unfinished() -> Vec<&'static str> {
    ExportStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .map(ExportStatus::as_str)
        .collect()
}
