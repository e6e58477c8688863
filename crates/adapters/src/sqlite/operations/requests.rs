//! Requests: the user's latest operation, and the atomic insert the request policy needs.

use anyhow::Context;
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::{ExportOperation, RequestedBy};
use udd_domain::{OperationId, UserId};
use udd_ports::{ExportOperations, StoreError};

use super::super::schema::export_operations;
use super::super::{store_error, DbConnection};
use super::rows::OperationRow;
use super::{is_unfinished, load, Finished, SqliteExportOperations};
use crate::dialect::Dialect;

/// The user's most recent operation of a kind asked for by `requested_by`, inside a
/// transaction.
fn latest_of_kind(
    finished: &Finished,
    conn: &mut DbConnection,
    user_id: &UserId,
    full_export: bool,
    requested_by: RequestedBy,
) -> anyhow::Result<Option<ExportOperation>> {
    // The ids, newest first, rather than `first()`: one row without `LIMIT ?` (see `sqlite/mod.rs`). A user has
    // a handful of operations of a kind (retention removes old ones).
    let newest = export_operations::table
        .filter(export_operations::user_id.eq(user_id.as_str()))
        .filter(export_operations::full_export.eq(full_export))
        .filter(export_operations::requested_by.eq(requested_by.as_str()))
        .order((
            export_operations::created_at.desc(),
            export_operations::id.desc(),
        ))
        .select(export_operations::id)
        .load::<String>(conn)
        .context("finding the user's last export operation")?
        .into_iter()
        .next();
    let Some(id) = newest else {
        return Ok(None);
    };
    let row = export_operations::table
        .find(id)
        .select(OperationRow::as_select())
        .load(conn)
        .context("loading the user's last export operation")?
        .into_iter()
        .next()
        .context("the user's last export operation vanished inside its transaction")?;
    finished.load(conn, row).map(Some)
}

impl ExportOperations for SqliteExportOperations {
    fn latest(
        &self,
        user_id: &UserId,
        full_export: bool,
    ) -> Result<Option<ExportOperation>, StoreError> {
        let mut conn = self.db.conn()?;
        // One snapshot for the operation and its rooms and files, so an answer never
        // mixes states from before and after a batch the worker commits meanwhile; and
        // no write lock, so the repeat requests that follow an export wait for nobody.
        Ok(conn.read_transaction(|conn| {
            latest_of_kind(
                &self.finished,
                conn,
                user_id,
                full_export,
                RequestedBy::Owner,
            )
        })?)
    }

    fn insert_if_latest(
        &self,
        candidate: &ExportOperation,
        expected_latest: Option<&'_ OperationId>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        // The lock is taken before the read (SQLite: the database's write lock;
        // PostgreSQL: an advisory lock on the user and kind), so two requests cannot
        // both see the same latest operation and both insert.
        let lock = format!(
            "request:{}:{}:{}",
            candidate.user_id.as_str(),
            candidate.full_export,
            candidate.requested_by.as_str()
        );
        conn.write_transaction(Some(&lock), |conn| -> anyhow::Result<bool> {
            let latest = latest_of_kind(
                &self.finished,
                conn,
                &candidate.user_id,
                candidate.full_export,
                candidate.requested_by,
            )?;
            if latest.as_ref().map(|op| &op.id) != expected_latest {
                return Ok(false);
            }
            diesel::insert_into(export_operations::table)
                .values(OperationRow::from_domain(candidate))
                .execute(conn)
                .context("storing a new export operation")?;
            Ok(true)
        })
        .map_err(StoreError::Unexpected)
    }

    fn insert(&self, operation: &ExportOperation) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::insert_into(export_operations::table)
            .values(OperationRow::from_domain(operation))
            .execute(&mut conn)
            .map_err(|e| store_error(e, &format!("export operation {}", operation.id)))?;
        Ok(())
    }

    fn get(&self, id: &OperationId) -> Result<ExportOperation, StoreError> {
        let mut conn = self.db.conn()?;
        let row = export_operations::table
            .find(id.as_str())
            .select(OperationRow::as_select())
            .first(&mut conn)
            .map_err(|e| store_error(e, "loading an export operation"))?;
        Ok(load(&mut conn, row)?)
    }

    fn count_queued_before(&self, operation: &ExportOperation) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        let created_at = to_millis(operation.created_at);
        let count: i64 = export_operations::table
            .filter(is_unfinished())
            .filter(
                export_operations::created_at
                    .lt(created_at)
                    .or(export_operations::created_at
                        .eq(created_at)
                        .and(export_operations::id.lt(operation.id.as_str()))),
            )
            .count()
            .get_result(&mut conn)
            .map_err(|e| store_error(e, "counting queued export operations"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
