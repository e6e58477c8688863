//! Export operations and their room lists.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{
    ExportOperation, ExportPaths, ExportStatus, MessageCursor, RequestDecision, RequestPolicy,
    RoomExport, RoomType,
};
use udd_ports::{
    ExportBatch, ExportFileRef, ExportOperations, ExportProgress, ExportQueue, RequestOutcome,
    StoreError, UserDataFile,
};

use super::schema::{export_files, export_operations, export_pseudonyms, export_rooms};
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
    generated_file: Option<String>,
    file_id: Option<String>,
    failure_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    cutoff_at: Option<i64>,
    attempts: i32,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
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
    total: i64,
    cursor_ts: Option<i64>,
    cursor_id: Option<String>,
    file_length: i64,
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
            generated_file: op.generated_file.clone(),
            file_id: op.file_id.clone(),
            failure_reason: op.failure_reason.clone(),
            created_at: to_millis(op.created_at),
            updated_at: to_millis(op.updated_at),
            cutoff_at: op.cutoff.map(to_millis),
            attempts: i32::try_from(op.attempts).unwrap_or(i32::MAX),
            lease_owner: None,
            lease_expires_at: None,
        }
    }

    fn into_domain(
        self,
        rooms: Vec<RoomRow>,
        files: Vec<ExportFileRef>,
    ) -> anyhow::Result<ExportOperation> {
        let room_list = rooms
            .into_iter()
            .map(RoomRow::into_domain)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let file_list = files
            .into_iter()
            .map(|f| serde_json::json!({"_id": f.file_id, "name": f.name}))
            .collect();
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
            cutoff: self.cutoff_at.map(from_millis),
            attempts: u32::try_from(self.attempts).unwrap_or(0),
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
            total: u64::try_from(self.total).unwrap_or(0),
            cursor: match (self.cursor_ts, self.cursor_id) {
                (Some(ts), Some(id)) => Some(MessageCursor {
                    ts: from_millis(ts),
                    id,
                }),
                _ => None,
            },
            file_length: u64::try_from(self.file_length).unwrap_or(0),
        })
    }

    fn from_domain(operation_id: &str, position: usize, room: &RoomExport) -> Self {
        Self {
            operation_id: operation_id.to_owned(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            room_id: room.room_id.clone(),
            room_name: room.room_name.clone(),
            user_id: room.user_id.clone(),
            exported_count: big(room.exported_count),
            status: room.status.as_str().to_owned(),
            room_type: room.room_type.code().to_owned(),
            target_file: room.target_file.clone(),
            total: big(room.total),
            cursor_ts: room.cursor.as_ref().map(|c| to_millis(c.ts)),
            cursor_id: room.cursor.as_ref().map(|c| c.id.clone()),
            file_length: big(room.file_length),
        }
    }
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    let files = load_files(conn, &row.id)?;
    row.into_domain(rooms, files)
}

fn load_files(
    conn: &mut SqliteConnection,
    operation_id: &str,
) -> anyhow::Result<Vec<ExportFileRef>> {
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
            file_id,
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
            let download_gone = match last.as_ref().and_then(|op| op.file_id.as_deref()) {
                Some(file_id) => !super::files::load_file(conn, file_id)
                    .context("loading the last operation's file")?
                    .is_some_and(|file| file.is_available(now)),
                None => false,
            };
            if let (Some(last), RequestDecision::Reuse) =
                (&last, policy.decide(last.as_ref(), download_gone, now))
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

/// The lease condition: `owner` still holds the operation.
macro_rules! leased_to {
    ($id:expr, $owner:expr) => {
        export_operations::id
            .eq($id)
            .and(export_operations::lease_owner.eq($owner))
    };
}

/// An error meaning the lease was lost, so the caller must stop.
fn lease_lost(id: &str) -> StoreError {
    StoreError::Conflict(format!("the lease on export operation {id} was lost"))
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
            diesel::update(export_operations::table.find(&row.id))
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
    fn fenced(
        &self,
        id: &str,
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
            Err(lease_lost(id))
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
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError> {
        self.get(id)?;
        self.claim_where(Some(id), owner, now, until)
    }

    fn renew(&self, id: &str, owner: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        let held = diesel::update(export_operations::table.filter(leased_to!(id, owner)))
            .set(export_operations::lease_expires_at.eq(to_millis(until)))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "renewing a lease"))?;
        Ok(held == 1)
    }

    fn release(
        &self,
        id: &str,
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

    fn pause(&self, id: &str, owner: &str) -> Result<(), StoreError> {
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
        id: &str,
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
                    super::delivery::owe_notice(conn, id, now)?;
                }
                Ok::<_, diesel::result::Error>(ended == 1)
            })
            .map_err(|e| store_error(e, "ending an export operation"))?;
        if ended {
            Ok(())
        } else {
            Err(lease_lost(id))
        }
    }
}

impl ExportProgress for SqliteExportOperations {
    fn start(&self, operation: &ExportOperation, owner: &str) -> Result<(), StoreError> {
        let rooms: Vec<RoomRow> = operation
            .room_list
            .iter()
            .enumerate()
            .map(|(position, room)| RoomRow::from_domain(&operation.id, position, room))
            .collect();
        self.fenced(&operation.id, owner, operation.updated_at, |conn| {
            diesel::update(export_operations::table.find(&operation.id))
                .set((
                    export_operations::status.eq(operation.status.as_str()),
                    export_operations::cutoff_at.eq(operation.cutoff.map(to_millis)),
                ))
                .execute(conn)?;
            diesel::delete(
                export_rooms::table.filter(export_rooms::operation_id.eq(&operation.id)),
            )
            .execute(conn)?;
            for chunk in rooms.chunks(500) {
                diesel::insert_into(export_rooms::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn commit_batch(
        &self,
        operation_id: &str,
        owner: &str,
        batch: &ExportBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = RoomRow::from_domain(operation_id, batch.room_index, &batch.room);
        self.fenced(operation_id, owner, now, |conn| {
            diesel::update(export_rooms::table.find((operation_id, row.position)))
                .set((
                    export_rooms::exported_count.eq(row.exported_count),
                    export_rooms::status.eq(&row.status),
                    export_rooms::cursor_ts.eq(row.cursor_ts),
                    export_rooms::cursor_id.eq(&row.cursor_id),
                    export_rooms::file_length.eq(row.file_length),
                ))
                .execute(conn)?;
            for (username, alias) in &batch.pseudonyms {
                diesel::insert_into(export_pseudonyms::table)
                    .values((
                        export_pseudonyms::operation_id.eq(operation_id),
                        export_pseudonyms::username.eq(username),
                        export_pseudonyms::alias.eq(alias),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            }
            for file in &batch.files {
                diesel::insert_into(export_files::table)
                    .values((
                        export_files::operation_id.eq(operation_id),
                        export_files::file_id.eq(&file.file_id),
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
        operation_id: &str,
        owner: &str,
        status: ExportStatus,
        generated_file: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fenced(operation_id, owner, now, |conn| {
            diesel::update(export_operations::table.find(operation_id))
                .set(export_operations::status.eq(status.as_str()))
                .execute(conn)?;
            if let Some(path) = generated_file {
                diesel::update(export_operations::table.find(operation_id))
                    .set(export_operations::generated_file.eq(path))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn pseudonyms(&self, operation_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.db.conn()?;
        export_pseudonyms::table
            .filter(export_pseudonyms::operation_id.eq(operation_id))
            .select((export_pseudonyms::username, export_pseudonyms::alias))
            .load(&mut conn)
            .map_err(|e| store_error(e, "loading pseudonyms"))
    }

    fn files(&self, operation_id: &str) -> Result<Vec<ExportFileRef>, StoreError> {
        let mut conn = self.db.conn()?;
        Ok(load_files(&mut conn, operation_id)?)
    }

    fn complete(
        &self,
        operation_id: &str,
        owner: &str,
        file: &UserDataFile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fenced(operation_id, owner, now, |conn| {
            super::files::insert_file(conn, file)?;
            diesel::update(export_operations::table.find(operation_id))
                .set((
                    export_operations::status.eq(ExportStatus::Completed.as_str()),
                    export_operations::file_id.eq(&file.id),
                    export_operations::generated_file.eq(&file.path),
                    export_operations::lease_owner.eq(None::<String>),
                    export_operations::lease_expires_at.eq(None::<i64>),
                    export_operations::failure_reason.eq(None::<String>),
                ))
                .execute(conn)?;
            super::delivery::owe_notice(conn, operation_id, now)?;
            Ok(())
        })
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
            .enumerate()
            .map(|(position, room)| RoomRow::from_domain(&op.id, position, room))
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
        stored.room_list = vec![
            RoomExport {
                room_id: "GENERAL".into(),
                room_name: "general".into(),
                user_id: None,
                exported_count: 8,
                status: RoomExportStatus::Completed,
                room_type: RoomType::Channel,
                target_file: "general.json".into(),
                total: 8,
                cursor: Some(MessageCursor {
                    ts: from_millis(5),
                    id: "m8".into(),
                }),
                file_length: 812,
            },
            RoomExport {
                room_id: "u1u2".into(),
                room_name: "u1u2".into(),
                user_id: Some("u2".into()),
                exported_count: 0,
                status: RoomExportStatus::Pending,
                room_type: RoomType::Direct,
                target_file: "u1u2.json".into(),
                total: 0,
                cursor: None,
                file_length: 0,
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
    fn a_lease_keeps_other_workers_out_until_it_runs_out_and_fences_the_old_owner(
    ) -> anyhow::Result<()> {
        use udd_ports::{ExportProgress, ExportQueue};
        let (_dir, db) = testing::database();
        let ops = SqliteExportOperations::new(db);
        let policy = RequestPolicy::default();
        expect_created(ops.create_unless_recent(&op("A", "u1", false, t0()), &policy, t0()));
        let minute = Duration::minutes(1);

        let first = ops.claim_next("w1", t0(), t0() + minute)?.expect("claimed");
        assert_eq!(first.attempts, 1);
        assert!(ops.claim_next("w2", t0(), t0() + minute)?.is_none(), "held");
        assert!(!ops.renew("A", "w2", t0() + minute)?, "not w2's to renew");
        assert!(ops.renew("A", "w1", t0() + minute * 2)?);

        // w1 stops renewing; once the lease runs out w2 takes over.
        let later = t0() + minute * 3;
        let taken = ops
            .claim_next("w2", later, later + minute)?
            .expect("taken over");
        assert_eq!(taken.attempts, 2);
        assert!(matches!(
            ops.set_status("A", "w1", ExportStatus::Exporting, None, later),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            ops.finish_unsuccessfully("A", "w1", ExportStatus::Failed, "late", later),
            Err(StoreError::Conflict(_))
        ));

        // A shutdown gives the operation back at once, the attempt not counted.
        ops.pause("A", "w2")?;
        let resumed = ops
            .claim_next("w3", later, later + minute)?
            .expect("claimable");
        assert_eq!(resumed.attempts, 2, "w2's paused run did not count");

        // A failure gives it back for later.
        ops.release("A", "w3", later + minute * 10, "disk full")?;
        assert!(ops
            .claim_next("w4", later + minute, later + minute * 2)?
            .is_none());
        let retried = ops.claim_next("w4", later + minute * 10, later + minute * 11)?;
        assert_eq!(
            retried.expect("due again").failure_reason.as_deref(),
            Some("disk full")
        );
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
