//! The work queue: claiming operations under a lease, renewing, releasing and ending
//! them, and the fence every progress write goes through.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::OperationId;
use udd_domain::{ExportOperation, ExportStatus};
use udd_ports::{ExportOperations, ExportQueue, StoreError};

use super::rows::OperationRow;
use super::{load, unfinished, SqliteExportOperations};
use crate::sqlite::schema::export_operations;
use crate::sqlite::store_error;

/// The lease condition: `owner` still holds the operation.
macro_rules! leased_to {
    ($id:expr, $owner:expr) => {
        export_operations::id
            .eq($id.as_str())
            .and(export_operations::lease_owner.eq($owner))
    };
}

impl SqliteExportOperations {
    /// Leases the first operation matching `only` (or any) that nobody holds.
    fn claim_where(
        &self,
        only: Option<&str>,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError> {
        let mut conn = self.db.conn()?;
        let now_ms = to_millis(now);
        conn.immediate_transaction(|conn| -> anyhow::Result<Option<ExportOperation>> {
            let mut query = export_operations::table
                .filter(export_operations::status.eq_any(unfinished()))
                .filter(
                    export_operations::lease_expires_at
                        .is_null()
                        .or(export_operations::lease_expires_at.le(now_ms)),
                )
                .into_boxed();
            if let Some(id) = only {
                query = query.filter(export_operations::id.eq(id));
            }
            let Some(row) = query
                .order((
                    export_operations::created_at.asc(),
                    export_operations::id.asc(),
                ))
                .select(OperationRow::as_select())
                .first(conn)
                .optional()
                .context("finding an export operation to work on")?
            else {
                return Ok(None);
            };
            diesel::update(export_operations::table.find(row.id.as_str()))
                .set((
                    export_operations::lease_owner.eq(owner),
                    export_operations::lease_expires_at.eq(to_millis(until)),
                    export_operations::attempts.eq(export_operations::attempts + 1),
                ))
                .execute(conn)
                .context("leasing an export operation")?;
            let mut op = load(conn, row)?;
            op.attempts += 1;
            Ok(Some(op))
        })
        .map_err(StoreError::Unexpected)
    }

    /// Runs `write` in a transaction after checking that `owner` still holds `id`
    /// (and stamping `updated_at`).
    pub(super) fn fenced(
        &self,
        id: &OperationId,
        owner: &str,
        now: DateTime<Utc>,
        write: impl FnOnce(&mut SqliteConnection) -> QueryResult<()>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let held = conn
            .immediate_transaction(|conn| {
                let held = diesel::update(export_operations::table.filter(leased_to!(id, owner)))
                    .set(export_operations::updated_at.eq(to_millis(now)))
                    .execute(conn)?;
                if held == 1 {
                    write(conn)?;
                }
                Ok::<_, diesel::result::Error>(held == 1)
            })
            .map_err(|e| store_error(e, "recording export progress"))?;
        if held {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }
}

impl ExportQueue for SqliteExportOperations {
    fn claim_next(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError> {
        self.claim_where(None, owner, now, until)
    }

    fn claim(
        &self,
        id: &OperationId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError> {
        self.get(id)?;
        self.claim_where(Some(id), owner, now, until)
    }

    fn renew(
        &self,
        id: &OperationId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        let held = diesel::update(export_operations::table.filter(leased_to!(id, owner)))
            .set(export_operations::lease_expires_at.eq(to_millis(until)))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "renewing a lease"))?;
        Ok(held == 1)
    }

    fn release(
        &self,
        id: &OperationId,
        owner: &str,
        retry_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::update(export_operations::table.filter(leased_to!(id, owner)))
            .set((
                export_operations::lease_owner.eq(None::<String>),
                export_operations::lease_expires_at.eq(to_millis(retry_at)),
                export_operations::failure_reason.eq(reason),
            ))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "releasing an export operation"))?;
        Ok(())
    }

    fn pause(&self, id: &OperationId, owner: &str) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::update(export_operations::table.filter(leased_to!(id, owner)))
            .set((
                export_operations::lease_owner.eq(None::<String>),
                export_operations::lease_expires_at.eq(None::<i64>),
                export_operations::attempts.eq(export_operations::attempts - 1),
            ))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "pausing an export operation"))?;
        Ok(())
    }

    fn finish_unsuccessfully(
        &self,
        id: &OperationId,
        owner: &str,
        status: ExportStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let ended = conn
            .immediate_transaction(|conn| {
                let ended = diesel::update(
                    export_operations::table
                        .filter(leased_to!(id, owner))
                        .filter(export_operations::status.eq_any(unfinished())),
                )
                .set((
                    export_operations::status.eq(status.as_str()),
                    export_operations::failure_reason.eq(reason),
                    export_operations::lease_owner.eq(None::<String>),
                    export_operations::lease_expires_at.eq(None::<i64>),
                    export_operations::updated_at.eq(to_millis(now)),
                ))
                .execute(conn)?;
                // The owner hears of a failure; a stale operation just goes quiet, as in
                // Rocket.Chat.
                if ended == 1 && status == ExportStatus::Failed {
                    crate::sqlite::delivery::owe_notice(conn, id, now)?;
                }
                Ok::<_, diesel::result::Error>(ended == 1)
            })
            .map_err(|e| store_error(e, "ending an export operation"))?;
        if ended {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }
}
