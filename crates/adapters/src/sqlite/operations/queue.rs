//! The work queue: claiming operations under a lease, renewing, releasing and ending
//! them, and the fence every progress write goes through.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::OperationId;
use udd_domain::{ExportOperation, ExportStatus};
use udd_ports::{ExportOperations, ExportQueue, StoreError};

use super::super::schema::export_operations;
use super::super::{store_error, DbConnection};
use super::rows::OperationRow;
use super::{is_unfinished, load, unfinished, SqliteExportOperations};
use crate::dialect::{Dialect, Lease};

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
        let lease = Lease {
            owner,
            now: to_millis(now),
            until: to_millis(until),
        };
        conn.write_transaction(None, |conn| -> anyhow::Result<Option<ExportOperation>> {
            let Some(id) = conn
                .lease_next(only, &unfinished(), &lease)
                .context("leasing an export operation")?
            else {
                return Ok(None);
            };
            let row = export_operations::table
                .find(id.as_str())
                .select(OperationRow::as_select())
                .first(conn)
                .context("loading the leased export operation")?;
            Ok(Some(load(conn, row)?))
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
        write: impl FnOnce(&mut DbConnection) -> QueryResult<()>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let held = conn
            .write_transaction(None, |conn| {
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
            .write_transaction(None, |conn| {
                let ended = diesel::update(
                    export_operations::table
                        .filter(leased_to!(id, owner))
                        .filter(is_unfinished()),
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
                    super::super::delivery::owe_notice(conn, id, now)?;
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
