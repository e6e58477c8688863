//! A user's export records as the data protection officer erases them, and the age
//! limit retention puts on finished ones.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::{ExportStatus, UserId};
use udd_ports::{DeletedRecords, OperationRecords, OperationSummary, StoreError, UserRecords};

use super::files::files_of_user;
use super::schema::{
    export_files, export_notices, export_operations, export_pseudonyms, export_rooms,
    user_data_files,
};
use super::{Database, DbConnection};
use crate::dialect::Dialect;

/// Operation records in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteOperationRecords {
    db: Database,
}

impl SqliteOperationRecords {
    /// The records kept in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Deletes the operations `ids` with every row that hangs off them. The foreign keys
/// cascade too; the explicit deletes keep the counts honest and do not depend on the
/// pragma.
fn delete_operations(conn: &mut DbConnection, ids: &[String]) -> QueryResult<(u64, u64)> {
    let notices =
        diesel::delete(export_notices::table.filter(export_notices::operation_id.eq_any(ids)))
            .execute(conn)?;
    diesel::delete(export_rooms::table.filter(export_rooms::operation_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(export_pseudonyms::table.filter(export_pseudonyms::operation_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(export_files::table.filter(export_files::operation_id.eq_any(ids)))
        .execute(conn)?;
    let operations =
        diesel::delete(export_operations::table.filter(export_operations::id.eq_any(ids)))
            .execute(conn)?;
    Ok((count(operations), count(notices)))
}

fn finished() -> [&'static str; 3] {
    [
        ExportStatus::Completed.as_str(),
        ExportStatus::Failed.as_str(),
        ExportStatus::Skipped.as_str(),
    ]
}

impl OperationRecords for SqliteOperationRecords {
    fn of_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<UserRecords, StoreError> {
        let mut conn = self.db.conn()?;
        let rows: Vec<(String, String, Option<String>, Option<i64>)> = export_operations::table
            .filter(export_operations::user_id.eq(user_id.as_str()))
            .order((export_operations::created_at, export_operations::id))
            .select((
                export_operations::id,
                export_operations::status,
                export_operations::lease_owner,
                export_operations::lease_expires_at,
            ))
            .load(&mut conn)
            .context("listing a user's export operations")?;
        let now = to_millis(now);
        let operations = rows
            .into_iter()
            .map(|(id, status, owner, expires)| {
                let status: ExportStatus = status
                    .parse()
                    .with_context(|| format!("export operation {id}"))?;
                Ok(OperationSummary {
                    running: !status.is_terminal()
                        && owner.is_some()
                        && expires.is_some_and(|at| at > now),
                    id: id.into(),
                    status,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let files = files_of_user(&mut conn, user_id).context("listing a user's archives")?;
        Ok(UserRecords { operations, files })
    }

    fn delete_of_user(&self, user_id: &UserId) -> Result<DeletedRecords, StoreError> {
        let mut conn = self.db.conn()?;
        conn.write_transaction(Some("records"), |conn| -> QueryResult<DeletedRecords> {
            let ids: Vec<String> = export_operations::table
                .filter(export_operations::user_id.eq(user_id.as_str()))
                .select(export_operations::id)
                .load(conn)?;
            let (operations, notices) = delete_operations(conn, &ids)?;
            let files = diesel::delete(
                user_data_files::table.filter(user_data_files::user_id.eq(user_id.as_str())),
            )
            .execute(conn)?;
            Ok(DeletedRecords {
                operations,
                files: count(files),
                notices,
            })
        })
        .context("deleting a user's export records")
        .map_err(StoreError::Unexpected)
    }

    fn remove_finished_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<DeletedRecords, StoreError> {
        let mut conn = self.db.conn()?;
        conn.write_transaction(Some("records"), |conn| -> QueryResult<DeletedRecords> {
            // An archive still on disk keeps its operation: the expiry pass removes the
            // archive first, the next sweep its records.
            let archive_gone = diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(export_operations.file_id IS NULL OR NOT EXISTS (SELECT 1 FROM user_data_files f \
                 WHERE f.id = export_operations.file_id AND f.removed_at IS NULL))",
            );
            let rows: Vec<(String, Option<String>)> = export_operations::table
                .filter(export_operations::status.eq_any(finished()))
                .filter(export_operations::updated_at.lt(to_millis(before)))
                .filter(archive_gone)
                .order(export_operations::updated_at)
                .limit(i64::from(limit))
                .select((export_operations::id, export_operations::file_id))
                .load(conn)?;
            let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
            let file_ids: Vec<String> = rows.into_iter().filter_map(|(_, file)| file).collect();
            let (operations, notices) = delete_operations(conn, &ids)?;
            let files = diesel::delete(
                user_data_files::table.filter(user_data_files::id.eq_any(&file_ids)),
            )
            .execute(conn)?;
            Ok(DeletedRecords {
                operations,
                files: count(files),
                notices,
            })
        })
        .context("deleting old export records")
        .map_err(StoreError::Unexpected)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use udd_domain::time::from_millis;
    use udd_domain::{ExportOperation, RequestedBy, UserDataFile};
    use udd_ports::{
        AuditQuery, DownloadAudit, DownloadLog, DownloadRecord, ExportOperations, UserDataFiles,
    };

    use super::super::testing;
    use super::super::{
        SqliteDownloadAudit, SqliteDownloadLog, SqliteExportOperations, SqliteUserDataFiles,
    };
    use super::*;
    use ExportStatus::{Completed, Exporting, Failed, Skipped};
    use RequestedBy::{Officer, Owner};

    fn t0() -> DateTime<Utc> {
        from_millis(1_800_000_000_000)
    }

    /// Stores an operation of `user` that ended with `status` at `at`, with an archive
    /// (removed or not) when given, and a notice when its requester is owed one.
    fn ended(
        db: &Database,
        id: &str,
        user: &str,
        status: ExportStatus,
        at: DateTime<Utc>,
        archive: Option<bool>,
        requested_by: RequestedBy,
    ) {
        let ops = SqliteExportOperations::new(db.clone());
        ops.insert(
            &ExportOperation::new_pending(id.into(), user.into(), false, at).asked_by(requested_by),
        )
        .unwrap();
        let mut conn = db.conn().unwrap();
        let file_id = archive.map(|removed| {
            let file = UserDataFile {
                id: format!("F-{id}").into(),
                user_id: user.into(),
                name: format!("{id}.zip"),
                size: 10,
                sha256: "00".into(),
                key: format!("exports/{id}.zip"),
                created_at: at,
                expires_at: Some(at + Duration::days(7)),
                removed_at: removed.then_some(at + Duration::days(7)),
            };
            super::super::files::insert_file(&mut conn, &file).unwrap();
            file.id.to_string()
        });
        diesel::update(export_operations::table.find(id))
            .set((
                export_operations::status.eq(status.as_str()),
                export_operations::file_id.eq(file_id),
                export_operations::updated_at.eq(to_millis(at)),
            ))
            .execute(&mut conn)
            .unwrap();
        super::super::delivery::owe_notice(&mut conn, id, at).unwrap();
    }

    fn notices(db: &Database) -> i64 {
        let mut conn = db.conn().unwrap();
        export_notices::table.count().get_result(&mut conn).unwrap()
    }

    #[test]
    fn only_an_owners_operation_owes_a_notice() {
        let (_dir, db) = testing::database();
        ended(&db, "MINE", "u1", Completed, t0(), Some(false), Owner);
        ended(&db, "DPO", "u1", Completed, t0(), Some(false), Officer);
        let mut conn = db.conn().unwrap();
        let owed: Vec<String> = export_notices::table
            .select(export_notices::operation_id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(owed, ["MINE"]);
    }

    #[test]
    fn the_officers_operations_are_not_the_owners_latest() {
        let (_dir, db) = testing::database();
        ended(&db, "MINE", "u1", Completed, t0(), Some(false), Owner);
        ended(
            &db,
            "DPO",
            "u1",
            Completed,
            t0() + Duration::hours(1),
            None,
            Officer,
        );
        let ops = SqliteExportOperations::new(db.clone());
        assert_eq!(
            ops.latest(&"u1".into(), false).unwrap().map(|op| op.id),
            Some("MINE".into())
        );
        assert_eq!(
            ops.get(&"DPO".into()).unwrap().requested_by,
            RequestedBy::Officer
        );
    }

    #[test]
    fn erasing_a_user_deletes_their_records_and_nobody_elses() {
        let (_dir, db) = testing::database();
        ended(&db, "A", "u1", Completed, t0(), Some(false), Owner);
        ended(&db, "B", "u1", Failed, t0(), None, Owner);
        ended(&db, "C", "u2", Completed, t0(), Some(false), Owner);
        let records = SqliteOperationRecords::new(db.clone());
        let found = records.of_user(&"u1".into(), t0()).unwrap();
        assert_eq!(found.operations.len(), 2);
        assert_eq!(found.files.len(), 1);
        assert!(found.operations.iter().all(|op| !op.running));
        let deleted = records.delete_of_user(&"u1".into()).unwrap();
        assert_eq!(
            deleted,
            DeletedRecords {
                operations: 2,
                files: 1,
                notices: 2
            }
        );
        assert_eq!(
            records.delete_of_user(&"u1".into()).unwrap(),
            DeletedRecords::default()
        );
        let files = SqliteUserDataFiles::new(db.clone());
        assert!(files.get(&"F-A".into()).is_err());
        assert!(files.get(&"F-C".into()).is_ok());
        assert_eq!(notices(&db), 1);
    }

    #[test]
    fn an_operation_under_an_unexpired_lease_counts_as_running() {
        let (_dir, db) = testing::database();
        ended(&db, "A", "u1", Exporting, t0(), None, Owner);
        let mut conn = db.conn().unwrap();
        diesel::update(export_operations::table.find("A"))
            .set((
                export_operations::lease_owner.eq(Some("worker-1")),
                export_operations::lease_expires_at
                    .eq(Some(to_millis(t0() + Duration::minutes(5)))),
            ))
            .execute(&mut conn)
            .unwrap();
        let records = SqliteOperationRecords::new(db.clone());
        assert!(records.of_user(&"u1".into(), t0()).unwrap().operations[0].running);
        assert!(
            !records
                .of_user(&"u1".into(), t0() + Duration::minutes(6))
                .unwrap()
                .operations[0]
                .running
        );
    }

    #[test]
    fn retention_deletes_only_old_finished_operations_whose_archive_is_gone() {
        let (_dir, db) = testing::database();
        let old = t0() - Duration::days(400);
        ended(&db, "OLD_REMOVED", "u1", Completed, old, Some(true), Owner);
        ended(&db, "OLD_FAILED", "u1", Failed, old, None, Owner);
        ended(&db, "OLD_SKIPPED", "u1", Skipped, old, None, Officer);
        ended(&db, "OLD_LIVE", "u1", Completed, old, Some(false), Owner);
        ended(&db, "OLD_RUNNING", "u1", Exporting, old, None, Owner);
        ended(
            &db,
            "RECENT",
            "u1",
            Failed,
            t0() - Duration::days(10),
            None,
            Owner,
        );
        let records = SqliteOperationRecords::new(db.clone());
        let deleted = records
            .remove_finished_before(t0() - Duration::days(365), 100)
            .unwrap();
        assert_eq!(deleted.operations, 3);
        assert_eq!(deleted.files, 1);
        let left: Vec<String> = records
            .of_user(&"u1".into(), t0())
            .unwrap()
            .operations
            .into_iter()
            .map(|op| op.id.to_string())
            .collect();
        assert_eq!(left, ["OLD_LIVE", "OLD_RUNNING", "RECENT"]);
        // A batch limit is honoured.
        ended(&db, "OLD_2", "u2", Failed, old, None, Owner);
        ended(&db, "OLD_3", "u2", Failed, old, None, Owner);
        assert_eq!(
            records.remove_finished_before(t0(), 1).unwrap().operations,
            1
        );
    }

    fn download(user: &str, file: &str, at: DateTime<Utc>, from: &str) -> DownloadRecord {
        DownloadRecord {
            file_id: file.into(),
            user_id: user.into(),
            at,
            bytes: 100,
            client_address: Some(from.to_owned()),
            by_link: true,
        }
    }

    #[test]
    fn the_audit_filters_by_user_file_and_time_and_retention_ages_the_log() {
        let (_dir, db) = testing::database();
        let log = SqliteDownloadLog::new(db.clone());
        log.record(&download("u1", "F1", t0(), "10.0.0.1")).unwrap();
        log.record(&download("u1", "F2", t0() + Duration::days(2), "10.0.0.2"))
            .unwrap();
        log.record(&download("u2", "F3", t0() + Duration::days(3), "10.0.0.3"))
            .unwrap();
        let audit = SqliteDownloadAudit::new(db.clone());
        let files = |q: AuditQuery| -> Vec<String> {
            audit
                .downloads(&q)
                .unwrap()
                .into_iter()
                .map(|e| e.file_id.to_string())
                .collect()
        };
        assert_eq!(files(AuditQuery::default()), ["F1", "F2", "F3"]);
        assert_eq!(
            files(AuditQuery {
                user_id: Some("u1".into()),
                ..AuditQuery::default()
            }),
            ["F1", "F2"]
        );
        assert_eq!(
            files(AuditQuery {
                file_id: Some("F3".into()),
                ..AuditQuery::default()
            }),
            ["F3"]
        );
        assert_eq!(
            files(AuditQuery {
                since: Some(t0() + Duration::days(1)),
                until: Some(t0() + Duration::days(3)),
                ..AuditQuery::default()
            }),
            ["F2"]
        );
        let first = &audit.downloads(&AuditQuery::default()).unwrap()[0];
        assert_eq!(first.client_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(first.username, None, "u1 is not a user of this database");
        assert_eq!(audit.remove_before(t0() + Duration::days(2)).unwrap(), 1);
        assert_eq!(files(AuditQuery::default()), ["F2", "F3"]);
    }
}
