//! Retention: expired zips are deleted and their records marked, and whatever crashed or
//! failed operations left on disk is swept, so disk use never grows without bound.

use std::sync::Arc;

use chrono::Duration;
use udd_domain::{ExportStatus, TokenLifetime};
use udd_ports::{
    ArchiveStore, Clock, DownloadAudit, ExportOperations, LoginTokens, OperationRecords,
    StoreError, StoredExports, StoredItem, UserDataFiles,
};

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired zips deleted (their records marked removed).
    pub expired: u32,
    /// Working folders, zips and temporary files of finished or unknown operations
    /// removed.
    pub orphans: u32,
    /// Finished operations deleted for their age.
    pub records: u64,
    /// Download log records deleted for their age.
    pub downloads: u64,
    /// Expired login tokens forgotten.
    pub tokens: u64,
}

/// How long records of finished operations and the download log are kept.
#[derive(Clone)]
pub struct RecordsRetention {
    /// The operation records.
    pub records: Arc<dyn OperationRecords>,
    /// The download log.
    pub downloads: Arc<dyn DownloadAudit>,
    /// Their age limit.
    pub keep: Duration,
}

/// How long login tokens work: past that they are forgotten.
#[derive(Clone)]
pub struct TokenRetention {
    /// The tokens.
    pub tokens: Arc<dyn LoginTokens>,
    /// How long one works after it was issued.
    pub lifetime: TokenLifetime,
}

use_case! {
    /// Deletes what is no longer needed.
    pub struct Retention {
        files: Arc<dyn UserDataFiles>,
        operations: Arc<dyn ExportOperations>,
        archives: Arc<dyn ArchiveStore>,
        stored: Arc<dyn StoredExports>,
        clock: Arc<dyn Clock>,
        grace: Duration,
        records: Option<RecordsRetention> = None,
        tokens: Option<TokenRetention> = None,
    }
    /// Builds the sweeper. Items of operations the database does not know are left
    /// alone for `grace` (a request creates its folders around the moment it stores the
    /// operation), then removed.
    pub fn new;
}

/// Expired files handled per query.
const BATCH: u32 = 100;

impl Retention {
    /// Also deletes finished operations' records and download log records older than
    /// `retention.keep`.
    pub fn with_records(mut self, retention: RecordsRetention) -> Self {
        self.records = Some(retention);
        self
    }

    /// Also forgets login tokens once they have expired.
    pub fn with_tokens(mut self, retention: TokenRetention) -> Self {
        self.tokens = Some(retention);
        self
    }

    /// One sweep: expired files first, then orphans. A file or item that cannot be
    /// removed is logged and tried again next sweep.
    ///
    /// Errors: the records or the listing failing.
    pub fn sweep(&self) -> anyhow::Result<SweepReport> {
        let mut report = SweepReport::default();
        self.remove_expired(&mut report)?;
        self.remove_orphans(&mut report)?;
        self.remove_old_records(&mut report)?;
        if let Some(retention) = &self.tokens {
            let issued_before = retention.lifetime.issued_since(self.clock.now());
            report.tokens += retention.tokens.delete_issued_before(issued_before)?;
        }
        if report != SweepReport::default() {
            tracing::info!(
                expired = report.expired,
                orphans = report.orphans,
                records = report.records,
                downloads = report.downloads,
                tokens = report.tokens,
                "retention sweep"
            );
        }
        Ok(report)
    }

    fn remove_expired(&self, report: &mut SweepReport) -> anyhow::Result<()> {
        loop {
            let now = self.clock.now();
            let expired = self.files.expired(now, BATCH)?;
            let full_batch = expired.len() == BATCH as usize;
            let mut stuck = false;
            for file in expired {
                if let Err(e) = self.archives.remove(&file.key) {
                    tracing::warn!(file = %file.id, key = %file.key, error = %format!("{e:#}"), "could not delete an expired export");
                    stuck = true;
                    continue;
                }
                self.files.mark_removed(&file.id, self.clock.now())?;
                tracing::info!(file = %file.id, user = %file.user_id, "expired export deleted");
                report.expired += 1;
            }
            // A file that cannot be deleted stays listed; leave it to the next sweep
            // rather than spin on it.
            if !full_batch || stuck {
                return Ok(());
            }
        }
    }

    /// Records past their age: finished operations whose archive is gone (the expiry
    /// pass above removes archives first), and the download log.
    fn remove_old_records(&self, report: &mut SweepReport) -> anyhow::Result<()> {
        let Some(retention) = &self.records else {
            return Ok(());
        };
        let before = self.clock.now() - retention.keep;
        loop {
            let deleted = retention.records.remove_finished_before(before, BATCH)?;
            report.records += deleted.operations;
            if deleted.operations < u64::from(BATCH) {
                break;
            }
        }
        report.downloads += retention.downloads.remove_before(before)?;
        Ok(())
    }

    fn remove_orphans(&self, report: &mut SweepReport) -> anyhow::Result<()> {
        let now = self.clock.now();
        for item in self.stored.list()? {
            let keep = match self.operations.get(&item.operation_id) {
                Ok(op) => keeps(op.status, &item),
                Err(StoreError::NotFound) => now - item.modified < self.grace,
                Err(other) => return Err(other.into()),
            };
            if keep {
                continue;
            }
            match self.stored.remove(&item) {
                Ok(()) => {
                    tracing::info!(operation = %item.operation_id, path = %item.path, "left-over export files removed");
                    report.orphans += 1;
                }
                Err(e) => {
                    tracing::warn!(path = %item.path, error = %format!("{e:#}"), "could not remove left-over export files")
                }
            }
        }
        Ok(())
    }
}

/// Whether an item on disk is still needed by its operation: everything of an
/// operation in progress, and the finished zip of a completed one (until it expires,
/// which the expiry pass handles through the file record).
fn keeps(status: ExportStatus, item: &StoredItem) -> bool {
    match status {
        ExportStatus::Completed => item.finished_zip,
        ExportStatus::Failed | ExportStatus::Skipped => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;
    use udd_domain::ExportOperation;
    use udd_ports::{
        MockArchiveStore, MockClock, MockExportOperations, MockStoredExports, MockUserDataFiles,
        UserDataFile,
    };

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn item(op: &str, finished_zip: bool, age_minutes: i64) -> StoredItem {
        StoredItem {
            operation_id: op.into(),
            path: format!("/data/{op}{}", if finished_zip { ".zip" } else { "" }),
            finished_zip,
            modified: now() - Duration::minutes(age_minutes),
        }
    }

    fn operation(id: &str, status: ExportStatus) -> ExportOperation {
        let mut op = ExportOperation::new_pending(id.into(), "u1".into(), false, now());
        op.status = status;
        op
    }

    fn expired_file(id: &str) -> UserDataFile {
        UserDataFile {
            id: id.into(),
            user_id: "u1".into(),
            name: "x.zip".into(),
            size: 1,
            sha256: "00".into(),
            key: format!("exports/{id}.zip"),
            created_at: now() - Duration::days(8),
            expires_at: Some(now() - Duration::days(1)),
            removed_at: None,
        }
    }

    struct Fixture {
        files: MockUserDataFiles,
        archives: MockArchiveStore,
        stored: Vec<StoredItem>,
        operations: Vec<ExportOperation>,
    }

    /// Runs a sweep; returns the report and the paths of the items removed.
    fn sweep(f: Fixture) -> (SweepReport, Vec<String>) {
        let mut operations = MockExportOperations::new();
        let known = f.operations;
        operations.expect_get().returning(move |id| {
            known
                .iter()
                .find(|op| op.id == *id)
                .cloned()
                .ok_or(StoreError::NotFound)
        });
        let removed = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&removed);
        let mut stored = MockStoredExports::new();
        let listing = f.stored;
        stored.expect_list().returning(move || Ok(listing.clone()));
        stored.expect_remove().returning(move |item| {
            sink.lock().expect("lock").push(item.path.clone());
            Ok(())
        });
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let retention = Retention::new(
            Arc::new(f.files),
            Arc::new(operations),
            Arc::new(f.archives),
            Arc::new(stored),
            Arc::new(clock),
            Duration::hours(1),
        );
        let report = retention.sweep().expect("sweep");
        let removed = removed.lock().expect("lock").clone();
        (report, removed)
    }

    fn no_expired_files() -> MockUserDataFiles {
        let mut files = MockUserDataFiles::new();
        files.expect_expired().returning(|_, _| Ok(Vec::new()));
        files
    }

    #[test]
    fn expired_zips_are_deleted_and_marked_removed() {
        let mut files = MockUserDataFiles::new();
        files
            .expect_expired()
            .returning(|_, _| Ok(vec![expired_file("F1"), expired_file("F2")]));
        files
            .expect_mark_removed()
            .withf(|id, at| ["F1", "F2"].contains(&id.as_str()) && *at == now())
            .times(2)
            .returning(|_, _| Ok(()));
        let mut archives = MockArchiveStore::new();
        archives
            .expect_remove()
            .withf(|key| key == "exports/F1.zip" || key == "exports/F2.zip")
            .times(2)
            .returning(|_| Ok(()));
        let (report, _) = sweep(Fixture {
            files,
            archives,
            stored: Vec::new(),
            operations: Vec::new(),
        });
        assert_eq!(report.expired, 2);
    }

    #[test]
    fn a_zip_that_cannot_be_deleted_stays_unmarked() {
        let mut files = MockUserDataFiles::new();
        files
            .expect_expired()
            .returning(|_, _| Ok(vec![expired_file("F1")]));
        files.expect_mark_removed().never();
        let mut archives = MockArchiveStore::new();
        archives
            .expect_remove()
            .returning(|_| Err(anyhow::anyhow!("permission denied")));
        let (report, _) = sweep(Fixture {
            files,
            archives,
            stored: Vec::new(),
            operations: Vec::new(),
        });
        assert_eq!(report.expired, 0);
    }

    #[test]
    fn only_what_a_live_operation_needs_survives_the_sweep() {
        let (report, removed) = sweep(Fixture {
            files: no_expired_files(),
            archives: MockArchiveStore::new(),
            stored: vec![
                item("RUNNING", false, 600),
                item("DONE", true, 600),
                item("DONE", false, 600),
                item("FAILED", false, 1),
                item("SKIPPED", true, 1),
                item("UNKNOWN_OLD", false, 61),
                item("UNKNOWN_NEW", false, 59),
            ],
            operations: vec![
                operation("RUNNING", ExportStatus::Exporting),
                operation("DONE", ExportStatus::Completed),
                operation("FAILED", ExportStatus::Failed),
                operation("SKIPPED", ExportStatus::Skipped),
            ],
        });
        assert_eq!(
            removed,
            [
                "/data/DONE",
                "/data/FAILED",
                "/data/SKIPPED.zip",
                "/data/UNKNOWN_OLD"
            ]
        );
        assert_eq!(report.orphans, 4);
    }

    /// A sweeper with no expired file and nothing left on disk, for the passes over
    /// records and tokens.
    fn nothing_on_disk() -> Retention {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let mut stored = MockStoredExports::new();
        stored.expect_list().returning(|| Ok(Vec::new()));
        Retention::new(
            Arc::new(no_expired_files()),
            Arc::new(MockExportOperations::new()),
            Arc::new(MockArchiveStore::new()),
            Arc::new(stored),
            Arc::new(clock),
            Duration::hours(1),
        )
    }

    fn records_retention(
        records: udd_ports::MockOperationRecords,
        downloads: udd_ports::MockDownloadAudit,
    ) -> Retention {
        nothing_on_disk().with_records(RecordsRetention {
            records: Arc::new(records),
            downloads: Arc::new(downloads),
            keep: Duration::days(365),
        })
    }

    #[test]
    fn records_and_downloads_past_their_age_are_deleted_batch_after_batch() {
        let mut records = udd_ports::MockOperationRecords::new();
        let mut batches = vec![BATCH, BATCH, 3].into_iter();
        records
            .expect_remove_finished_before()
            .withf(|before, limit| *before == now() - Duration::days(365) && *limit == BATCH)
            .times(3)
            .returning(move |_, _| {
                Ok(udd_ports::DeletedRecords {
                    operations: u64::from(batches.next().unwrap_or(0)),
                    files: 0,
                    notices: 0,
                })
            });
        let mut downloads = udd_ports::MockDownloadAudit::new();
        downloads
            .expect_remove_before()
            .withf(|before| *before == now() - Duration::days(365))
            .times(1)
            .returning(|_| Ok(7));
        let report = records_retention(records, downloads)
            .sweep()
            .expect("sweep");
        assert_eq!(report.records, u64::from(2 * BATCH + 3));
        assert_eq!(report.downloads, 7);
    }

    #[test]
    fn a_failing_record_store_fails_the_sweep() {
        let mut records = udd_ports::MockOperationRecords::new();
        records
            .expect_remove_finished_before()
            .returning(|_, _| Err(StoreError::Unexpected(anyhow::anyhow!("disk I/O error"))));
        let mut downloads = udd_ports::MockDownloadAudit::new();
        downloads.expect_remove_before().never();
        assert!(records_retention(records, downloads).sweep().is_err());
    }

    #[test]
    fn without_records_retention_no_record_is_touched() {
        // The mocks have no expectations: any call would panic.
        let (report, _) = sweep(Fixture {
            files: no_expired_files(),
            archives: MockArchiveStore::new(),
            stored: Vec::new(),
            operations: Vec::new(),
        });
        assert_eq!((report.records, report.downloads), (0, 0));
    }

    #[test]
    fn tokens_issued_before_their_lifetime_are_forgotten_by_a_sweep() {
        let mut tokens = udd_ports::MockLoginTokens::new();
        tokens
            .expect_delete_issued_before()
            .withf(|before| *before == now() - Duration::days(90))
            .times(1)
            .returning(|_| Ok(4));
        let retention = nothing_on_disk().with_tokens(TokenRetention {
            tokens: Arc::new(tokens),
            lifetime: TokenLifetime(Duration::days(90)),
        });
        assert_eq!(retention.sweep().expect("sweep").tokens, 4);
    }
}
