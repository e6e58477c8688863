//! Export operations and their room lists.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{
    ExportOperation, ExportPaths, ExportStatus, RequestDecision, RequestPolicy, RoomExport,
    RoomType,
};
use udd_ports::{ExportOperations, RequestOutcome, StoreError};

use super::schema::{export_operations, export_rooms};
use super::{store_error, Database};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = export_operations)]
struct OperationRow {
    id: String,
    user_id: String,
    full_export: bool,
    status: String,
    export_path: String,
    assets_path: String,
    file_list: String,
    generated_file: Option<String>,
    file_id: Option<String>,
    failure_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = export_rooms)]
struct RoomRow {
    operation_id: String,
    position: i32,
    room_id: String,
    room_name: String,
    user_id: Option<String>,
    exported_count: i64,
    status: String,
    room_type: String,
    target_file: String,
}

impl OperationRow {
    fn from_domain(op: &ExportOperation) -> Self {
        Self {
            id: op.id.clone(),
            user_id: op.user_id.clone(),
            full_export: op.full_export,
            status: op.status.as_str().to_owned(),
            export_path: op.paths.export_path.clone(),
            assets_path: op.paths.assets_path.clone(),
            file_list: serde_json::Value::Array(op.file_list.clone()).to_string(),
            generated_file: op.generated_file.clone(),
            file_id: op.file_id.clone(),
            failure_reason: op.failure_reason.clone(),
            created_at: to_millis(op.created_at),
            updated_at: to_millis(op.updated_at),
        }
    }

    fn into_domain(self, rooms: Vec<RoomRow>) -> anyhow::Result<ExportOperation> {
        let room_list = rooms
            .into_iter()
            .map(RoomRow::into_domain)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let file_list = match serde_json::from_str(&self.file_list) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(ExportOperation {
            status: self
                .status
                .parse()
                .with_context(|| format!("export operation {}", self.id))?,
            id: self.id,
            user_id: self.user_id,
            full_export: self.full_export,
            room_list,
            file_list,
            paths: ExportPaths {
                export_path: self.export_path,
                assets_path: self.assets_path,
            },
            generated_file: self.generated_file,
            file_id: self.file_id,
            failure_reason: self.failure_reason,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
        })
    }
}

impl RoomRow {
    fn into_domain(self) -> anyhow::Result<RoomExport> {
        Ok(RoomExport {
            status: self.status.parse().with_context(|| {
                format!(
                    "room {} of export operation {}",
                    self.room_id, self.operation_id
                )
            })?,
            room_id: self.room_id,
            room_name: self.room_name,
            user_id: self.user_id,
            exported_count: u64::try_from(self.exported_count).unwrap_or(0),
            room_type: RoomType::from_code(&self.room_type),
            target_file: self.target_file,
        })
    }
}

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

fn load(conn: &mut SqliteConnection, row: OperationRow) -> anyhow::Result<ExportOperation> {
    let rooms = export_rooms::table
        .filter(export_rooms::operation_id.eq(&row.id))
        .order(export_rooms::position.asc())
        .select(RoomRow::as_select())
        .load(conn)
        .context("loading an export operation's rooms")?;
    row.into_domain(rooms)
}

/// Statuses of operations that are still queued or running.
fn unfinished() -> Vec<&'static str> {
    ExportStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .map(ExportStatus::as_str)
        .collect()
}

impl ExportOperations for SqliteExportOperations {
    fn create_unless_recent(
        &self,
        candidate: &ExportOperation,
        policy: &RequestPolicy,
        now: DateTime<Utc>,
    ) -> Result<RequestOutcome, StoreError> {
        let mut conn = self.db.conn()?;
        // IMMEDIATE takes SQLite's write lock before the read, so two requests cannot both
        // see "no recent operation" and both insert.
        conn.immediate_transaction(|conn| -> anyhow::Result<RequestOutcome> {
            let last = export_operations::table
                .filter(export_operations::user_id.eq(&candidate.user_id))
                .filter(export_operations::full_export.eq(candidate.full_export))
                .order((
                    export_operations::created_at.desc(),
                    export_operations::id.desc(),
                ))
                .select(OperationRow::as_select())
                .first(conn)
                .optional()
                .context("finding the user's last export operation")?
                .map(|row| load(conn, row))
                .transpose()?;
            if let (Some(last), RequestDecision::Reuse) = (&last, policy.decide(last.as_ref(), now))
            {
                return Ok(RequestOutcome::Reused(last.clone()));
            }
            diesel::insert_into(export_operations::table)
                .values(OperationRow::from_domain(candidate))
                .execute(conn)
                .context("storing a new export operation")?;
            Ok(RequestOutcome::Created(candidate.clone()))
        })
        .map_err(StoreError::Unexpected)
    }

    fn get(&self, id: &str) -> Result<ExportOperation, StoreError> {
        let mut conn = self.db.conn()?;
        let row = export_operations::table
            .find(id)
            .select(OperationRow::as_select())
            .first(&mut conn)
            .map_err(|e| store_error(e, "loading an export operation"))?;
        Ok(load(&mut conn, row)?)
    }

    fn count_queued_before(&self, operation: &ExportOperation) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        let created_at = to_millis(operation.created_at);
        let count: i64 = export_operations::table
            .filter(export_operations::status.eq_any(unfinished()))
            .filter(
                export_operations::created_at
                    .lt(created_at)
                    .or(export_operations::created_at
                        .eq(created_at)
                        .and(export_operations::id.lt(&operation.id))),
            )
            .count()
            .get_result(&mut conn)
            .map_err(|e| store_error(e, "counting queued export operations"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[cfg(test)]
impl SqliteExportOperations {
    /// Test-only: stores `op` with its room list as it is.
    fn insert_raw(&self, op: &ExportOperation) -> anyhow::Result<()> {
        let mut conn = self.db.conn()?;
        diesel::insert_into(export_operations::table)
            .values(OperationRow::from_domain(op))
            .execute(&mut conn)?;
        let rooms: Vec<RoomRow> = op
            .room_list
            .iter()
            .zip(0..)
            .map(|(room, position)| RoomRow {
                operation_id: op.id.clone(),
                position,
                room_id: room.room_id.clone(),
                room_name: room.room_name.clone(),
                user_id: room.user_id.clone(),
                exported_count: i64::try_from(room.exported_count).unwrap_or(i64::MAX),
                status: room.status.as_str().to_owned(),
                room_type: room.room_type.code().to_owned(),
                target_file: room.target_file.clone(),
            })
            .collect();
        diesel::insert_into(export_rooms::table)
            .values(&rooms)
            .execute(&mut conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::testing;
    use chrono::Duration;
    use std::sync::{Arc, Barrier};
    use udd_domain::RoomExportStatus;

    fn op(id: &str, user: &str, full: bool, at: DateTime<Utc>) -> ExportOperation {
        ExportOperation::new_pending(
            id.into(),
            user.into(),
            full,
            ExportPaths {
                export_path: format!("/d/{id}"),
                assets_path: format!("/d/{id}/assets"),
            },
            at,
        )
    }

    fn t0() -> DateTime<Utc> {
        from_millis(1_800_000_000_000)
    }

    fn expect_created(outcome: Result<RequestOutcome, StoreError>) -> ExportOperation {
        match outcome {
            Ok(RequestOutcome::Created(op)) => op,
            other => panic!("expected Created, got {other:?}"),
        }
    }

    #[test]
    fn the_first_request_creates_and_a_second_within_a_day_reuses() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ops = SqliteExportOperations::new(db);
        let policy = RequestPolicy::default();
        let created =
            expect_created(ops.create_unless_recent(&op("A", "u1", false, t0()), &policy, t0()));
        assert_eq!(ops.get("A")?, created);

        let later = t0() + Duration::hours(23);
        match ops.create_unless_recent(&op("B", "u1", false, later), &policy, later)? {
            RequestOutcome::Reused(existing) => assert_eq!(existing.id, "A"),
            other => panic!("expected Reused, got {other:?}"),
        }
        assert!(matches!(ops.get("B"), Err(StoreError::NotFound)));

        // The other kind and the other user are independent.
        expect_created(ops.create_unless_recent(&op("C", "u1", true, later), &policy, later));
        expect_created(ops.create_unless_recent(&op("D", "u2", false, later), &policy, later));

        // A day later the same kind creates again.
        let next_day = t0() + Duration::hours(25);
        expect_created(ops.create_unless_recent(
            &op("E", "u1", false, next_day),
            &policy,
            next_day,
        ));
        Ok(())
    }

    #[test]
    fn an_operation_round_trips_with_its_room_list() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ops = SqliteExportOperations::new(db);
        let mut stored = op("A", "u1", true, t0());
        stored.status = ExportStatus::Exporting;
        stored.generated_file = Some("/zips/A.zip".into());
        stored.file_list = vec![serde_json::json!({"fileId": "f1"})];
        stored.room_list = vec![
            RoomExport {
                room_id: "GENERAL".into(),
                room_name: "general".into(),
                user_id: None,
                exported_count: 8,
                status: RoomExportStatus::Completed,
                room_type: RoomType::Channel,
                target_file: "general.json".into(),
            },
            RoomExport {
                room_id: "u1u2".into(),
                room_name: "u1u2".into(),
                user_id: Some("u2".into()),
                exported_count: 0,
                status: RoomExportStatus::Pending,
                room_type: RoomType::Direct,
                target_file: "u1u2.json".into(),
            },
        ];
        ops.insert_raw(&stored)?;
        assert_eq!(ops.get("A")?, stored);
        Ok(())
    }

    #[test]
    fn the_queue_position_counts_only_earlier_unfinished_operations() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ops = SqliteExportOperations::new(db);
        let mut done = op("A", "u1", false, t0());
        done.status = ExportStatus::Completed;
        ops.insert_raw(&done)?;
        ops.insert_raw(&op("B", "u2", false, t0() + Duration::seconds(1)))?;
        let mut running = op("C", "u3", true, t0() + Duration::seconds(2));
        running.status = ExportStatus::Exporting;
        ops.insert_raw(&running)?;
        let mine = op("D", "u4", false, t0() + Duration::seconds(3));
        ops.insert_raw(&mine)?;
        ops.insert_raw(&op("E", "u5", false, t0() + Duration::seconds(4)))?;
        assert_eq!(ops.count_queued_before(&mine)?, 2);
        assert_eq!(ops.count_queued_before(&done)?, 0);
        Ok(())
    }

    #[test]
    fn concurrent_requests_from_many_threads_create_exactly_one_operation() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let ops = Arc::new(SqliteExportOperations::new(db));
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (ops, barrier) = (Arc::clone(&ops), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let candidate = op(&format!("OP{i}"), "u1", false, t0());
                    ops.create_unless_recent(&candidate, &RequestPolicy::default(), t0())
                })
            })
            .collect();
        let mut created = 0;
        let mut ids = std::collections::HashSet::new();
        for handle in handles {
            let outcome = handle
                .join()
                .map_err(|_| anyhow::anyhow!("thread panicked"))??;
            let op = match outcome {
                RequestOutcome::Created(op) => {
                    created += 1;
                    op
                }
                RequestOutcome::Reused(op) => op,
            };
            ids.insert(op.id);
        }
        assert_eq!(created, 1);
        assert_eq!(ids.len(), 1, "every answer names the same operation");
        Ok(())
    }
}
