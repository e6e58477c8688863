//! The mail each finished operation owes its owner, and the download log.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::OperationId;
use udd_domain::{ExportStatus, RequestedBy};
use udd_ports::{
    DownloadLog, DownloadRecord, NoticeKind, NoticeOutcome, Notices, PendingNotice, StoreError,
    DOWNLOAD_SESSION_MINUTES, MAX_DOWNLOAD_RECORDS_PER_FILE,
};

use super::schema::{downloads, export_notices, export_operations};
use super::{store_error, Database, DbConnection};
use crate::dialect::Dialect;
use crate::group_commit::GroupCommit;

/// `export_notices.status` values.
pub(super) mod mail_status {
    /// Owed and not yet handed over.
    pub const PENDING: &str = "pending";
    /// Handed over for delivery.
    pub const SENT: &str = "sent";
    /// The owner has no address.
    pub const NO_ADDRESS: &str = "no-address";
    /// Sending kept failing.
    pub const GAVE_UP: &str = "gave-up";
}

/// Notices of the export operations.
#[derive(Debug, Clone)]
pub struct SqliteNotices {
    db: Database,
}

impl SqliteNotices {
    /// Notices of the operations in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Queryable)]
struct NoticeRow {
    id: String,
    user_id: String,
    full_export: bool,
    status: String,
    file_id: Option<String>,
    failure_reason: Option<String>,
    attempts: i32,
}

impl Notices for SqliteNotices {
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let mut conn = self.db.conn()?;
        // Alone among claimers: two workers cannot both claim the same notice.
        conn.write_transaction(
            Some("notices"),
            |conn| -> anyhow::Result<Vec<PendingNotice>> {
                let rows: Vec<NoticeRow> = export_notices::table
                    .inner_join(export_operations::table)
                    .filter(export_notices::status.eq(mail_status::PENDING))
                    .filter(export_notices::due_at.le(to_millis(now)))
                    .order((export_notices::due_at, export_notices::operation_id))
                    .limit(i64::from(limit))
                    .select((
                        export_operations::id,
                        export_operations::user_id,
                        export_operations::full_export,
                        export_operations::status,
                        export_operations::file_id,
                        export_operations::failure_reason,
                        export_notices::attempts,
                    ))
                    .load(conn)
                    .context("finding notices due")?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in rows {
                    diesel::update(export_notices::table.find(row.id.as_str()))
                        .set((
                            export_notices::due_at.eq(to_millis(hold_until)),
                            export_notices::attempts.eq(row.attempts + 1),
                        ))
                        .execute(conn)
                        .context("claiming a notice")?;
                    let kind = if row.status == ExportStatus::Completed.as_str() {
                        let file = match &row.file_id {
                            Some(id) => super::files::load_file(conn, id)?,
                            None => None,
                        };
                        match file {
                            Some(file) => NoticeKind::Completed(file),
                            None => {
                                // Cannot happen through the engine (the file is recorded
                                // with the completion); never retried if it does.
                                let missing = NoticeOutcome::GaveUp(
                                    "the export's file is not recorded".into(),
                                );
                                set_outcome(conn, &row.id, &missing, now)?;
                                continue;
                            }
                        }
                    } else {
                        NoticeKind::Failed {
                            reason: row.failure_reason.unwrap_or_default(),
                        }
                    };
                    claimed.push(PendingNotice {
                        operation_id: row.id.into(),
                        user_id: row.user_id.into(),
                        full_export: row.full_export,
                        kind,
                        attempts: u32::try_from(row.attempts + 1).unwrap_or(u32::MAX),
                    });
                }
                Ok(claimed)
            },
        )
        .map_err(StoreError::Unexpected)
    }

    fn record(
        &self,
        operation_id: &OperationId,
        outcome: &NoticeOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let changed = set_outcome(&mut conn, operation_id, outcome, now)
            .map_err(|e| store_error(e, "recording a notice"))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn set_outcome(
    conn: &mut DbConnection,
    operation_id: &str,
    outcome: &NoticeOutcome,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let (status, due, sent, error) = match outcome {
        NoticeOutcome::Sent => (mail_status::SENT, None, Some(to_millis(now)), None),
        NoticeOutcome::NoAddress => (mail_status::NO_ADDRESS, None, None, None),
        NoticeOutcome::RetryAt(at, error) => (
            mail_status::PENDING,
            Some(to_millis(*at)),
            None,
            Some(error.as_str()),
        ),
        NoticeOutcome::GaveUp(error) => (mail_status::GAVE_UP, None, None, Some(error.as_str())),
    };
    diesel::update(export_notices::table.find(operation_id))
        .set((
            export_notices::status.eq(status),
            export_notices::due_at.eq(due),
            export_notices::sent_at.eq(sent),
            export_notices::error.eq(error),
        ))
        .execute(conn)
}

/// Records that an operation owes its owner a mail, due at once; part of the
/// transaction that completes or fails it. An operation the owner did not ask for (the
/// data protection officer's) owes nothing and gets no notice row.
pub(super) fn owe_notice(
    conn: &mut DbConnection,
    operation_id: &str,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let requested_by: Option<String> = export_operations::table
        .find(operation_id)
        .select(export_operations::requested_by)
        .first(conn)
        .optional()?;
    let owes = requested_by
        .and_then(|by| by.parse::<RequestedBy>().ok())
        .is_some_and(RequestedBy::owes_notice);
    if !owes {
        return Ok(0);
    }
    // An operation ends once; should it somehow end again, the first notice stands
    // (and is not sent twice).
    diesel::insert_into(export_notices::table)
        .values((
            export_notices::operation_id.eq(operation_id),
            export_notices::status.eq(mail_status::PENDING),
            export_notices::attempts.eq(0),
            export_notices::due_at.eq(Some(to_millis(now))),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
}

/// Whether and when an operation's mail went out (read by tests, with `testing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailState {
    /// `pending`, `sent`, `no-address` or `gave-up`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was handed over.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub error: Option<String>,
}

#[cfg(any(test, feature = "testing"))]
impl SqliteNotices {
    /// The mail state of one operation.
    ///
    /// Errors: `NotFound` when the operation owes no mail (yet); `Unexpected`.
    pub fn state(&self, operation_id: &OperationId) -> Result<MailState, StoreError> {
        let mut conn = self.db.conn()?;
        let (status, attempts, sent_at, error) = export_notices::table
            .find(operation_id.as_str())
            .select((
                export_notices::status,
                export_notices::attempts,
                export_notices::sent_at,
                export_notices::error,
            ))
            .first::<(String, i32, Option<i64>, Option<String>)>(&mut conn)
            .map_err(|e| store_error(e, "loading a mail state"))?;
        Ok(MailState {
            status,
            attempts: u32::try_from(attempts).unwrap_or(0),
            sent_at: sent_at.map(udd_domain::time::from_millis),
            error,
        })
    }
}

/// The download log in SQLite. Downloads recorded at the same moment share one write
/// transaction (see [`GroupCommit`]): a burst of downloads queues for the write lock
/// once, not once each, and every call still returns only after its record is stored.
#[derive(Debug, Clone)]
pub struct SqliteDownloadLog {
    db: Database,
    group: std::sync::Arc<GroupCommit<DownloadRecord>>,
}

impl SqliteDownloadLog {
    /// The log kept in `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            group: std::sync::Arc::default(),
        }
    }

    /// Writes `records` in one transaction per file (the lock a download of that file
    /// takes), in order.
    fn write(&self, records: &[DownloadRecord]) -> anyhow::Result<()> {
        let mut conn = self.db.conn()?;
        let mut files: Vec<&str> = records.iter().map(|r| r.file_id.as_str()).collect();
        files.sort_unstable();
        files.dedup();
        for file in files {
            let lock = format!("downloads:{file}");
            conn.write_transaction(Some(&lock), |conn| {
                for record in records.iter().filter(|r| r.file_id.as_str() == file) {
                    record_one(conn, record)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .context("recording a download")?;
        }
        Ok(())
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = downloads)]
struct DownloadRow {
    file_id: String,
    user_id: String,
    at: i64,
    bytes: i64,
    client_address: Option<String>,
    by_link: bool,
}

impl DownloadLog for SqliteDownloadLog {
    fn record(&self, record: &DownloadRecord) -> Result<(), StoreError> {
        self.group
            .submit(record.clone(), |records| self.write(records))
            .map_err(StoreError::Unexpected)
    }
}

/// Adds one download to the log, inside the file's write transaction: to the same
/// session's entry when there is one, else as a new entry (or, at the per-file cap,
/// to the newest).
fn record_one(conn: &mut DbConnection, record: &DownloadRecord) -> QueryResult<usize> {
    let at = to_millis(record.at);
    let bytes = i64::try_from(record.bytes).unwrap_or(i64::MAX);
    let session_start = at.saturating_sub(DOWNLOAD_SESSION_MINUTES * 60_000);
    let of_file = downloads::table.filter(downloads::file_id.eq(record.file_id.as_str()));
    let session = of_file
        .filter(downloads::by_link.eq(record.by_link))
        .filter(downloads::at.between(session_start, at))
        .into_boxed();
    // `IS` is SQLite's; "same address or both none" in words both backends run.
    let session = match &record.client_address {
        Some(address) => session.filter(downloads::client_address.eq(address)),
        None => session.filter(downloads::client_address.is_null()),
    };
    let same_session: Option<i32> = session
        .order((downloads::at.desc(), downloads::id.desc()))
        .select(downloads::id)
        .first(conn)
        .optional()?;
    let into = match same_session {
        Some(id) => Some(id),
        None if of_file.count().get_result::<i64>(conn)? >= MAX_DOWNLOAD_RECORDS_PER_FILE => {
            of_file
                .order((downloads::at.desc(), downloads::id.desc()))
                .select(downloads::id)
                .first(conn)
                .optional()?
        }
        None => None,
    };
    match into {
        Some(id) => diesel::update(downloads::table.find(id))
            .set(downloads::bytes.eq(downloads::bytes + bytes))
            .execute(conn),
        None => diesel::insert_into(downloads::table)
            .values(DownloadRow {
                file_id: record.file_id.to_string(),
                user_id: record.user_id.to_string(),
                at,
                bytes,
                client_address: record.client_address.clone(),
                by_link: record.by_link,
            })
            .execute(conn),
    }
}

#[cfg(any(test, feature = "testing"))]
impl SqliteDownloadLog {
    /// The downloads of a file, oldest first (tests check what was recorded).
    ///
    /// Errors: `Unexpected` only.
    pub fn for_file(&self, file_id: &str) -> Result<Vec<DownloadRecord>, StoreError> {
        let mut conn = self.db.conn()?;
        let rows = downloads::table
            .filter(downloads::file_id.eq(file_id))
            .order((downloads::at, downloads::id))
            .select(DownloadRow::as_select())
            .load(&mut conn)
            .map_err(|e| store_error(e, "listing downloads"))?;
        Ok(rows
            .into_iter()
            .map(|row| DownloadRecord {
                file_id: row.file_id.into(),
                user_id: row.user_id.into(),
                at: udd_domain::time::from_millis(row.at),
                bytes: u64::try_from(row.bytes).unwrap_or(0),
                client_address: row.client_address,
                by_link: row.by_link,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use chrono::Duration;
    use udd_ports::UserDataFile;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
    }

    /// Stores an operation that ended with `status` and owes its owner a mail.
    fn ended(db: &Database, id: &str, status: &str, file: Option<&UserDataFile>) {
        let mut conn = db.conn().expect("conn");
        diesel::insert_into(export_operations::table)
            .values((
                export_operations::id.eq(id),
                export_operations::user_id.eq("u1"),
                export_operations::full_export.eq(false),
                export_operations::status.eq(status),
                export_operations::file_id.eq(file.map(|f| f.id.as_str())),
                export_operations::failure_reason.eq("disk full"),
                export_operations::created_at.eq(0_i64),
                export_operations::updated_at.eq(0_i64),
                export_operations::lease_owner.eq("w1"),
            ))
            .execute(&mut conn)
            .expect("insert operation");
        if let Some(file) = file {
            super::super::files::insert_file(&mut conn, file).expect("insert file");
        }
        owe_notice(&mut conn, id, at(0)).expect("owe");
    }

    fn file() -> UserDataFile {
        UserDataFile {
            id: "F1".into(),
            user_id: "u1".into(),
            name: "2026-11-27-Alice.zip".into(),
            size: 2048,
            sha256: "00".into(),
            key: "exports/A.zip".into(),
            created_at: at(0),
            expires_at: Some(at(60 * 24 * 7)),
            removed_at: None,
        }
    }

    #[test]
    fn a_due_notice_is_claimed_once_until_its_hold_runs_out() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        ended(&db, "A", "completed", Some(&file()));
        ended(&db, "B", "failed", None);
        let notices = SqliteNotices::new(db);

        let claimed = notices.claim_due(at(1), at(11), 10)?;
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].kind, NoticeKind::Completed(file()));
        assert_eq!(
            claimed[1].kind,
            NoticeKind::Failed {
                reason: "disk full".into()
            }
        );
        assert!(claimed.iter().all(|n| n.attempts == 1 && n.user_id == "u1"));
        // Held: a second worker finds nothing until the hold runs out.
        assert!(notices.claim_due(at(2), at(12), 10)?.is_empty());
        let again = notices.claim_due(at(11), at(21), 10)?;
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|n| n.attempts == 2));
        Ok(())
    }

    #[test]
    fn outcomes_are_recorded_and_only_retries_come_back() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        for id in ["SENT", "NONE", "RETRY", "GIVE"] {
            ended(&db, id, "failed", None);
        }
        let notices = SqliteNotices::new(db);
        assert_eq!(notices.claim_due(at(0), at(1), 10)?.len(), 4);
        notices.record(&"SENT".into(), &NoticeOutcome::Sent, at(1))?;
        notices.record(&"NONE".into(), &NoticeOutcome::NoAddress, at(1))?;
        notices.record(
            &"RETRY".into(),
            &NoticeOutcome::RetryAt(at(30), "451".into()),
            at(1),
        )?;
        notices.record(
            &"GIVE".into(),
            &NoticeOutcome::GaveUp("refused".into()),
            at(1),
        )?;
        assert!(matches!(
            notices.record(&"NOPE".into(), &NoticeOutcome::Sent, at(1)),
            Err(StoreError::NotFound)
        ));

        let sent = notices.state(&"SENT".into())?;
        assert_eq!((sent.status.as_str(), sent.sent_at), ("sent", Some(at(1))));
        assert_eq!(notices.state(&"NONE".into())?.status, "no-address");
        assert_eq!(
            notices.state(&"GIVE".into())?.error.as_deref(),
            Some("refused")
        );

        assert!(notices.claim_due(at(29), at(40), 10)?.is_empty());
        let retried = notices.claim_due(at(30), at(40), 10)?;
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].operation_id, "RETRY");
        assert_eq!(retried[0].attempts, 2);
        Ok(())
    }

    #[test]
    fn failing_an_operation_owes_a_notice_and_skipping_it_does_not() -> anyhow::Result<()> {
        use udd_ports::ExportQueue;
        let (_dir, db) = testing::database();
        for id in ["FAILS", "SKIPS"] {
            ended(&db, id, "exporting", None);
            // Start from an operation that owes nothing.
            let mut conn = db.conn()?;
            diesel::delete(export_notices::table.find(id)).execute(&mut conn)?;
        }
        let queue = super::super::SqliteExportOperations::new(db.clone());
        // Only the lease holder ends an operation.
        assert!(matches!(
            queue.finish_unsuccessfully(&"FAILS".into(), "w2", ExportStatus::Failed, "late", at(5)),
            Err(StoreError::LeaseLost)
        ));
        queue.finish_unsuccessfully(
            &"FAILS".into(),
            "w1",
            ExportStatus::Failed,
            "disk full",
            at(5),
        )?;
        queue.finish_unsuccessfully(
            &"SKIPS".into(),
            "w1",
            ExportStatus::Skipped,
            "stale",
            at(5),
        )?;
        let notices = SqliteNotices::new(db.clone());
        assert_eq!(notices.state(&"FAILS".into())?.status, "pending");
        assert!(matches!(
            notices.state(&"SKIPS".into()),
            Err(StoreError::NotFound)
        ));
        let due = notices.claim_due(at(5), at(10), 10)?;
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].kind,
            NoticeKind::Failed {
                reason: "disk full".into()
            }
        );
        notices.record(&"FAILS".into(), &NoticeOutcome::Sent, at(6))?;

        // A completed operation cannot be failed afterwards, nor mailed twice.
        ended(&db, "DONE", "completed", Some(&file()));
        notices.record(&"DONE".into(), &NoticeOutcome::Sent, at(6))?;
        assert!(matches!(
            queue.finish_unsuccessfully(&"DONE".into(), "w1", ExportStatus::Failed, "late", at(7)),
            Err(StoreError::LeaseLost)
        ));
        assert_eq!(notices.state(&"DONE".into())?.status, "sent");
        assert_eq!(notices.state(&"FAILS".into())?.status, "sent");
        Ok(())
    }

    #[test]
    fn downloads_are_logged_per_file_in_order() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let log = SqliteDownloadLog::new(db);
        let record = |minute: i64, bytes: u64, by_link: bool| DownloadRecord {
            file_id: "F1".into(),
            user_id: "u1".into(),
            at: at(minute),
            bytes,
            client_address: Some("127.0.0.1".into()),
            by_link,
        };
        log.record(&record(5, 100, true))?;
        log.record(&record(1, 2048, false))?;
        assert_eq!(
            log.for_file("F1")?,
            vec![record(1, 2048, false), record(5, 100, true)]
        );
        assert!(log.for_file("F2")?.is_empty());
        Ok(())
    }

    fn download(minute: i64, bytes: u64, client: Option<&str>) -> DownloadRecord {
        DownloadRecord {
            file_id: "F1".into(),
            user_id: "u1".into(),
            at: at(minute),
            bytes,
            client_address: client.map(str::to_owned),
            by_link: false,
        }
    }

    #[test]
    fn ranged_gets_of_one_client_within_the_session_are_one_record() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let log = SqliteDownloadLog::new(db);
        for minute in 0..50 {
            log.record(&download(minute, 10, Some("10.0.0.1")))?;
        }
        log.record(&download(3, 7, Some("10.0.0.2")))?;
        log.record(&download(4, 1, None))?;
        log.record(&download(5, 1, None))?;
        // A later download of the first client, past the session, is a new one.
        log.record(&download(
            DOWNLOAD_SESSION_MINUTES + 1,
            10,
            Some("10.0.0.1"),
        ))?;
        assert_eq!(
            log.for_file("F1")?,
            [
                download(0, 500, Some("10.0.0.1")),
                download(3, 7, Some("10.0.0.2")),
                download(4, 2, None),
                download(DOWNLOAD_SESSION_MINUTES + 1, 10, Some("10.0.0.1")),
            ]
        );
        Ok(())
    }

    #[test]
    fn a_file_keeps_a_bounded_number_of_records() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let log = SqliteDownloadLog::new(db);
        let clients = MAX_DOWNLOAD_RECORDS_PER_FILE + 20;
        for client in 0..clients {
            log.record(&download(
                0,
                1,
                Some(&format!("10.0.{}.{}", client / 256, client % 256)),
            ))?;
        }
        let records = log.for_file("F1")?;
        assert_eq!(records.len() as i64, MAX_DOWNLOAD_RECORDS_PER_FILE);
        assert_eq!(
            records.iter().map(|r| r.bytes).sum::<u64>(),
            clients as u64,
            "no byte goes unrecorded"
        );
        Ok(())
    }
}
