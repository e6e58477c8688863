//! The operator's view of the queue ([`OperationAdmin`]): listing, retrying and
//! cancelling operations, and the queue depth by status.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{ExportStatus, OperationId};
use udd_ports::{OperationAdmin, OperationLine, StoreError};

use super::super::schema::{export_files, export_operations, export_pseudonyms, export_rooms};
use super::super::store_error;
use super::rows::OperationRow;
use super::{is_unfinished, SqliteExportOperations};
use crate::dialect::Dialect;

fn to_line(row: OperationRow) -> Result<OperationLine, StoreError> {
    Ok(OperationLine {
        status: row
            .status
            .parse()
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("{e}")))?,
        id: row.id.into(),
        user_id: row.user_id.into(),
        full_export: row.full_export,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        lease_owner: row.lease_owner,
        lease_expires_at: row.lease_expires_at.map(from_millis),
        failure_reason: row.failure_reason,
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    })
}

impl OperationAdmin for SqliteExportOperations {
    fn list(
        &self,
        status: Option<ExportStatus>,
        limit: u32,
    ) -> Result<Vec<OperationLine>, StoreError> {
        let mut conn = self.db.conn()?;
        let mut query = export_operations::table.into_boxed();
        if let Some(status) = status {
            query = query.filter(export_operations::status.eq(status.as_str()));
        }
        query
            .order((
                export_operations::created_at.desc(),
                export_operations::id.desc(),
            ))
            .limit(i64::from(limit))
            .select(OperationRow::as_select())
            .load(&mut conn)
            .map_err(|e| store_error(e, "listing export operations"))?
            .into_iter()
            .map(to_line)
            .collect()
    }

    fn line(&self, id: &OperationId) -> Result<OperationLine, StoreError> {
        let mut conn = self.db.conn()?;
        let row = export_operations::table
            .find(id.as_str())
            .select(OperationRow::as_select())
            .first(&mut conn)
            .optional()
            .map_err(|e| store_error(e, "loading an export operation"))?
            .ok_or(StoreError::NotFound)?;
        to_line(row)
    }

    fn retry(&self, id: &OperationId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.line(id)?;
        let mut conn = self.db.conn()?;
        let ended = [
            ExportStatus::Failed.as_str(),
            ExportStatus::Skipped.as_str(),
        ];
        conn.write_transaction(None, |conn| {
            let requeued = diesel::update(
                export_operations::table
                    .find(id.as_str())
                    .filter(export_operations::status.eq_any(ended)),
            )
            .set((
                export_operations::status.eq(ExportStatus::Pending.as_str()),
                export_operations::cutoff_at.eq(None::<i64>),
                export_operations::attempts.eq(0),
                export_operations::failure_reason.eq(None::<String>),
                export_operations::lease_owner.eq(None::<String>),
                export_operations::lease_expires_at.eq(None::<i64>),
                export_operations::archive_key.eq(None::<String>),
                export_operations::updated_at.eq(to_millis(now)),
            ))
            .execute(conn)?;
            if requeued == 1 {
                // A new start: the old plan, pseudonyms and file list go with it.
                diesel::delete(
                    export_rooms::table.filter(export_rooms::operation_id.eq(id.as_str())),
                )
                .execute(conn)?;
                diesel::delete(
                    export_pseudonyms::table
                        .filter(export_pseudonyms::operation_id.eq(id.as_str())),
                )
                .execute(conn)?;
                diesel::delete(
                    export_files::table.filter(export_files::operation_id.eq(id.as_str())),
                )
                .execute(conn)?;
                return Ok(true);
            }
            // Waiting for a retry (released, nobody holds it): due now.
            let due = diesel::update(
                export_operations::table
                    .find(id.as_str())
                    .filter(is_unfinished())
                    .filter(export_operations::lease_owner.is_null()),
            )
            .set(export_operations::lease_expires_at.eq(None::<i64>))
            .execute(conn)?;
            Ok::<_, diesel::result::Error>(due == 1)
        })
        .map_err(|e| store_error(e, "retrying an export operation"))
    }

    fn cancel(
        &self,
        id: &OperationId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.line(id)?;
        let mut conn = self.db.conn()?;
        let ended = diesel::update(
            export_operations::table
                .find(id.as_str())
                .filter(is_unfinished()),
        )
        .set((
            export_operations::status.eq(ExportStatus::Failed.as_str()),
            export_operations::failure_reason.eq(reason),
            export_operations::lease_owner.eq(None::<String>),
            export_operations::lease_expires_at.eq(None::<i64>),
            export_operations::updated_at.eq(to_millis(now)),
        ))
        .execute(&mut conn)
        .map_err(|e| store_error(e, "cancelling an export operation"))?;
        Ok(ended == 1)
    }

    fn count_by_status(&self) -> Result<Vec<(ExportStatus, u64)>, StoreError> {
        let mut conn = self.db.conn()?;
        let rows: Vec<(String, i64)> = export_operations::table
            .group_by(export_operations::status)
            .select((export_operations::status, diesel::dsl::count_star()))
            .order(export_operations::status.asc())
            .load(&mut conn)
            .map_err(|e| store_error(e, "counting export operations"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(status, n)| Some((status.parse().ok()?, u64::try_from(n).ok()?)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_domain::time::from_millis;
    use udd_domain::ExportOperation;
    use udd_ports::{ExportOperations, ExportQueue};

    fn at(seconds: i64) -> DateTime<Utc> {
        from_millis(1_800_000_000_000 + seconds * 1000)
    }

    #[test]
    fn an_operator_cancels_a_held_operation_and_queues_it_again() {
        let (_dir, db) = super::super::super::testing::database();
        let ops = SqliteExportOperations::new(db);
        let id = OperationId::from("OP1");
        let op = ExportOperation::new_pending(id.clone(), "u1".into(), true, at(0));
        assert!(ops.insert_if_latest(&op, None).unwrap());
        assert!(ops.claim(&id, "A/0", at(1), at(61)).unwrap().is_some());
        assert_eq!(
            ops.count_by_status().unwrap(),
            vec![(ExportStatus::Pending, 1)]
        );
        assert!(
            !ops.retry(&id, at(2)).unwrap(),
            "a held operation is not retried"
        );

        assert!(ops.cancel(&id, "cancelled", at(3)).unwrap());
        assert!(
            !ops.renew(&id, "A/0", at(70)).unwrap(),
            "the worker lost its lease"
        );
        let line = ops.line(&id).unwrap();
        assert_eq!(
            (line.status, line.lease_owner),
            (ExportStatus::Failed, None)
        );
        assert!(!ops.cancel(&id, "again", at(4)).unwrap(), "already ended");
        assert_eq!(ops.list(Some(ExportStatus::Failed), 10).unwrap().len(), 1);
        assert!(ops
            .list(Some(ExportStatus::Pending), 10)
            .unwrap()
            .is_empty());

        assert!(ops.retry(&id, at(5)).unwrap());
        let line = ops.line(&id).unwrap();
        assert_eq!((line.status, line.attempts), (ExportStatus::Pending, 0));
        assert!(ops.claim_next("B/0", at(6), at(66)).unwrap().is_some());
        assert!(matches!(
            ops.line(&"NOPE".into()),
            Err(StoreError::NotFound)
        ));
    }
}
