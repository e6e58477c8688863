//! Durable progress of a leased operation: its plan, batch commits, status moves and
//! completion, each fenced by the lease.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::render::PageState;
use udd_domain::time::to_millis;
use udd_domain::OperationId;
use udd_domain::{ExportOperation, ExportStatus};
use udd_ports::{ExportBatch, ExportFileRef, ExportProgress, StoreError, UserDataFile};

use super::super::schema::{
    export_files, export_operations, export_pages, export_pseudonyms, export_rooms,
};
use super::super::{store_error, DbConnection};
use super::rows::{page_rows, RoomRow};
use super::SqliteExportOperations;

impl ExportProgress for SqliteExportOperations {
    fn start(&self, operation: &ExportOperation, owner: &str) -> Result<(), StoreError> {
        let rooms: Vec<RoomRow> = operation
            .room_list
            .iter()
            .enumerate()
            .map(|(position, room)| RoomRow::from_domain(&operation.id, position, room))
            .collect();
        self.fenced(&operation.id, owner, operation.updated_at, |conn| {
            diesel::update(export_operations::table.find(operation.id.as_str()))
                .set((
                    export_operations::status.eq(operation.status.as_str()),
                    export_operations::cutoff_at.eq(operation.cutoff.map(to_millis)),
                ))
                .execute(conn)?;
            diesel::delete(
                export_rooms::table.filter(export_rooms::operation_id.eq(operation.id.as_str())),
            )
            .execute(conn)?;
            for chunk in rooms.chunks(500) {
                diesel::insert_into(export_rooms::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            // The rooms' earlier pages went with their rows.
            for (position, room) in operation.room_list.iter().enumerate() {
                insert_pages(conn, &operation.id, position, &room.pages, 2)?;
            }
            Ok(())
        })
    }

    fn commit_batch(
        &self,
        operation_id: &OperationId,
        owner: &str,
        batch: &ExportBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = RoomRow::from_domain(operation_id, batch.room_index, &batch.room);
        self.fenced(operation_id, owner, now, |conn| {
            diesel::update(export_rooms::table.find((operation_id.as_str(), row.position)))
                .set((
                    export_rooms::exported_count.eq(row.exported_count),
                    export_rooms::status.eq(&row.status),
                    export_rooms::cursor_ts.eq(row.cursor_ts),
                    export_rooms::cursor_id.eq(&row.cursor_id),
                    export_rooms::file_length.eq(row.file_length),
                    export_rooms::page_state.eq(&row.page_state),
                ))
                .execute(conn)?;
            // Only the pages the batch began: the earlier ones are stored already.
            let stored: Option<i32> = export_pages::table
                .filter(export_pages::operation_id.eq(operation_id.as_str()))
                .filter(export_pages::position.eq(row.position))
                .select(diesel::dsl::max(export_pages::page))
                .first(conn)?;
            let from = stored.map_or(2, |page| u32::try_from(page).unwrap_or(0) + 1);
            insert_pages(
                conn,
                operation_id,
                batch.room_index,
                &batch.room.pages,
                from,
            )?;
            for (username, alias) in &batch.pseudonyms {
                diesel::insert_into(export_pseudonyms::table)
                    .values((
                        export_pseudonyms::operation_id.eq(operation_id.as_str()),
                        export_pseudonyms::username.eq(username),
                        export_pseudonyms::alias.eq(alias),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            }
            for file in &batch.files {
                diesel::insert_into(export_files::table)
                    .values((
                        export_files::operation_id.eq(operation_id.as_str()),
                        export_files::file_id.eq(file.file_id.as_str()),
                        export_files::name.eq(&file.name),
                        export_files::asset.eq(&file.asset),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn set_status(
        &self,
        operation_id: &OperationId,
        owner: &str,
        status: ExportStatus,
        archive_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fenced(operation_id, owner, now, |conn| {
            diesel::update(export_operations::table.find(operation_id.as_str()))
                .set(export_operations::status.eq(status.as_str()))
                .execute(conn)?;
            if let Some(key) = archive_key {
                diesel::update(export_operations::table.find(operation_id.as_str()))
                    .set(export_operations::archive_key.eq(key))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn pseudonyms(&self, operation_id: &OperationId) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.db.conn()?;
        export_pseudonyms::table
            .filter(export_pseudonyms::operation_id.eq(operation_id.as_str()))
            .select((export_pseudonyms::username, export_pseudonyms::alias))
            .load(&mut conn)
            .map_err(|e| store_error(e, "loading pseudonyms"))
    }

    fn files_page(
        &self,
        operation_id: &OperationId,
        after: Option<&ExportFileRef>,
        limit: usize,
    ) -> Result<Vec<ExportFileRef>, StoreError> {
        use export_files::dsl::{asset, file_id, operation_id as operation};
        let mut conn = self.db.conn()?;
        let mut query = export_files::table
            .filter(operation.eq(operation_id.as_str()))
            .into_boxed();
        if let Some(last) = after {
            query = query.filter(
                asset
                    .gt(&last.asset)
                    .or(asset.eq(&last.asset).and(file_id.gt(last.file_id.as_str()))),
            );
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, String)> = query
            .order((asset.asc(), file_id.asc()))
            .limit(limit)
            .select((file_id, export_files::name, asset))
            .load(&mut conn)
            .map_err(|e| store_error(e, "loading a page of an export's uploads"))?;
        Ok(rows
            .into_iter()
            .map(|(id, name, asset_name)| ExportFileRef {
                file_id: id.into(),
                name,
                asset: asset_name,
            })
            .collect())
    }

    fn complete(
        &self,
        operation_id: &OperationId,
        owner: &str,
        file: &UserDataFile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fenced(operation_id, owner, now, |conn| {
            super::super::files::insert_file(conn, file)?;
            diesel::update(export_operations::table.find(operation_id.as_str()))
                .set((
                    export_operations::status.eq(ExportStatus::Completed.as_str()),
                    export_operations::file_id.eq(file.id.as_str()),
                    export_operations::archive_key.eq(&file.key),
                    export_operations::lease_owner.eq(None::<String>),
                    export_operations::lease_expires_at.eq(None::<i64>),
                    export_operations::failure_reason.eq(None::<String>),
                ))
                .execute(conn)?;
            super::super::delivery::owe_notice(conn, operation_id, now)?;
            Ok(())
        })
    }
}

/// Stores where the pages of room `position` begin, from page `from` on.
fn insert_pages(
    conn: &mut DbConnection,
    operation_id: &str,
    position: usize,
    pages: &PageState,
    from: u32,
) -> QueryResult<()> {
    let rows = page_rows(operation_id, position, pages, from);
    for chunk in rows.chunks(500) {
        diesel::insert_into(export_pages::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}
