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
use udd_domain::render::PageState;
use udd_domain::{ExportOperation, ExportStatus, ListedFile, RoomExport};
use udd_ports::ExportFileRef;

use super::schema::{export_files, export_operations, export_pages, export_rooms};
use super::{Database, DbConnection};
use rows::{OperationRow, PageRow, RoomRow};

/// Export operations in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteExportOperations {
    db: Database,
    finished: std::sync::Arc<Finished>,
}

impl SqliteExportOperations {
    /// Operations stored in `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            finished: std::sync::Arc::default(),
        }
    }
}

/// The rooms and files of finished operations, by id. No move leads out of a terminal
/// status, so a finished operation's rooms and files never change: a repeat request
/// reads the operation's row and, while that row says finished, takes the rooms and
/// files kept here instead of loading them again (an archive's file list runs to
/// hundreds of rows).
#[derive(Default)]
struct Finished {
    by_id: std::sync::Mutex<std::collections::HashMap<String, Kept>>,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished").finish_non_exhaustive()
    }
}

/// A finished operation's rooms (without their page state, which served only to resume
/// writing their pages) and files.
type Kept = (Vec<RoomExport>, Vec<ListedFile>);

/// How many finished operations are kept; the map is emptied when it is full.
const FINISHED_KEPT: usize = 4096;

impl Finished {
    /// The operation of `row`, its rooms and files from the map when it is finished and
    /// they are kept.
    fn load(&self, conn: &mut DbConnection, row: OperationRow) -> anyhow::Result<ExportOperation> {
        let terminal = row
            .status
            .parse::<ExportStatus>()
            .is_ok_and(ExportStatus::is_terminal);
        if !terminal {
            return load(conn, row);
        }
        let lock = || {
            self.by_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let kept = lock().get(&row.id).cloned();
        let (rooms, files) = match kept {
            Some(kept) => kept,
            None => {
                let mut rooms = rooms_of(conn, &row.id)?;
                for room in &mut rooms {
                    room.pages = PageState::default();
                }
                let loaded = (rooms, rows::listed(load_files(conn, &row.id)?));
                let mut by_id = lock();
                if by_id.len() >= FINISHED_KEPT {
                    by_id.clear();
                }
                by_id.insert(row.id.clone(), loaded.clone());
                loaded
            }
        };
        row.with_lists(rooms, files)
    }
}

fn load(conn: &mut DbConnection, row: OperationRow) -> anyhow::Result<ExportOperation> {
    let rooms = rooms_of(conn, &row.id)?;
    let files = rows::listed(load_files(conn, &row.id)?);
    row.with_lists(rooms, files)
}

fn rooms_of(conn: &mut DbConnection, operation_id: &str) -> anyhow::Result<Vec<RoomExport>> {
    let mut rooms = load_rooms(conn, operation_id)?
        .into_iter()
        .map(RoomRow::into_domain)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pages = export_pages::table
        .filter(export_pages::operation_id.eq(operation_id))
        .order((export_pages::position.asc(), export_pages::page.asc()))
        .select(PageRow::as_select())
        .load(conn)
        .context("loading where an export operation's pages begin")?;
    rows::attach_pages(&mut rooms, pages);
    Ok(rooms)
}

fn load_rooms(conn: &mut DbConnection, operation_id: &str) -> anyhow::Result<Vec<RoomRow>> {
    export_rooms::table
        .filter(export_rooms::operation_id.eq(operation_id))
        .order(export_rooms::position.asc())
        .select(RoomRow::as_select())
        .load(conn)
        .context("loading an export operation's rooms")
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

/// Whether an operation is still queued or running, as one SQL expression of a fixed
/// shape (`status = ? OR status = ? …`, which SQLite plans as an `IN` over its status
/// index): the statement stays in the connection's statement cache, where diesel
/// re-prepares every statement with an `IN (…)` list on each call.
fn is_unfinished() -> Box<
    dyn BoxableExpression<
        export_operations::table,
        <DbConnection as Connection>::Backend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    let mut statuses = unfinished().into_iter();
    let Some(first) = statuses.next() else {
        unreachable!("queued is a status that is not terminal")
    };
    statuses.fold(
        Box::new(export_operations::status.eq(first)),
        |either, status| Box::new(either.or(export_operations::status.eq(status))),
    )
}

/// Statuses of operations that are still queued or running.
fn unfinished() -> Vec<&'static str> {
    ExportStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .map(ExportStatus::as_str)
        .collect()
}
