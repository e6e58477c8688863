//! `udd ops delete`: erasing a user's exports — the archives in the archive store, the
//! working folders and every record of them. The download log is kept: it is the
//! record of what was handed over, and retention ages it out like the other records.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{OperationId, UserId};
use udd_ports::{ArchiveStore, Clock, DeletedRecords, ExportFiles, OperationRecords, StoreError};

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Archive keys deleted from the archive store.
    pub archives: Vec<String>,
    /// Working folders cleared, by operation.
    pub working: Vec<OperationId>,
    /// Rows deleted.
    pub records: DeletedRecords,
}

impl Erasure {
    /// Whether there was nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.archives.is_empty()
            && self.working.is_empty()
            && self.records == DeletedRecords::default()
    }
}

/// Why an erasure did not happen.
#[derive(Debug, Error)]
pub enum EraseError {
    /// A worker holds one of the user's operations right now; erasing under it would
    /// leave it writing into records that are gone.
    #[error("an export of this user is running ({}); wait for it to end, or force", ids(.0))]
    Running(Vec<OperationId>),
    /// An archive could not be deleted; nothing was erased, so running again retries.
    #[error("could not delete the archive {key}")]
    Archive {
        /// The archive's key.
        key: String,
        /// What went wrong.
        #[source]
        source: anyhow::Error,
    },
    /// The records failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn ids(ids: &[OperationId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<StoreError> for EraseError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

use_case! {
    /// Erases a user's exports.
    pub struct EraseUserExports {
        records: Arc<dyn OperationRecords>,
        archives: Arc<dyn ArchiveStore>,
        working: Arc<dyn ExportFiles>,
        clock: Arc<dyn Clock>,
    }
    /// Builds the use case.
    pub fn new;
}

impl EraseUserExports {
    /// Deletes the user's archives, working folders and records. Refuses while a worker
    /// holds one of their operations unless `force`. Bytes go first and records last,
    /// so an erasure cut short is finished by running it again; erasing a user with
    /// nothing left removes nothing and succeeds.
    ///
    /// Errors: `Running`; `Archive`; `Unexpected`.
    pub fn execute(&self, user_id: &UserId, force: bool) -> Result<Erasure, EraseError> {
        let found = self.records.of_user(user_id, self.clock.now())?;
        let running: Vec<OperationId> = found
            .operations
            .iter()
            .filter(|op| op.running)
            .map(|op| op.id.clone())
            .collect();
        if !running.is_empty() && !force {
            return Err(EraseError::Running(running));
        }
        let mut erasure = Erasure::default();
        for file in found.files.iter().filter(|file| file.removed_at.is_none()) {
            self.archives
                .remove(&file.key)
                .map_err(|source| EraseError::Archive {
                    key: file.key.clone(),
                    source,
                })?;
            erasure.archives.push(file.key.clone());
        }
        for op in &found.operations {
            // Left-overs are swept by retention too; a failure here is not worth
            // keeping the records for.
            match self.working.remove_all(&op.id) {
                Ok(()) => erasure.working.push(op.id.clone()),
                Err(e) => {
                    tracing::warn!(operation = %op.id, error = %format!("{e:#}"), "could not clear a working folder")
                }
            }
        }
        erasure.records = self.records.delete_of_user(user_id)?;
        tracing::info!(
            user = %user_id,
            archives = erasure.archives.len(),
            operations = erasure.records.operations,
            "export records erased"
        );
        Ok(erasure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use udd_domain::{ExportStatus, UserDataFile};
    use udd_ports::{
        MockArchiveStore, MockClock, MockExportFiles, MockOperationRecords, OperationSummary,
        UserRecords,
    };

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn file(id: &str, removed: bool) -> UserDataFile {
        UserDataFile {
            id: id.into(),
            user_id: "u1".into(),
            name: format!("{id}.zip"),
            size: 1,
            sha256: "00".into(),
            key: format!("exports/{id}.zip"),
            created_at: now(),
            expires_at: None,
            removed_at: removed.then(now),
        }
    }

    fn found(running: bool) -> UserRecords {
        UserRecords {
            operations: vec![
                OperationSummary {
                    id: "OP1".into(),
                    status: ExportStatus::Completed,
                    running: false,
                },
                OperationSummary {
                    id: "OP2".into(),
                    status: ExportStatus::Exporting,
                    running,
                },
            ],
            files: vec![file("A", false), file("B", true)],
        }
    }

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        Arc::new(clock)
    }

    fn deleted() -> DeletedRecords {
        DeletedRecords {
            operations: 2,
            files: 2,
            notices: 1,
        }
    }

    #[test]
    fn erasing_removes_live_archives_working_folders_then_records() {
        let mut records = MockOperationRecords::new();
        records.expect_of_user().returning(|_, _| Ok(found(false)));
        records
            .expect_delete_of_user()
            .withf(|user| user == "u1")
            .times(1)
            .returning(|_| Ok(deleted()));
        let mut archives = MockArchiveStore::new();
        archives
            .expect_remove()
            .withf(|key| key == "exports/A.zip")
            .times(1)
            .returning(|_| Ok(()));
        let mut working = MockExportFiles::new();
        working.expect_remove_all().times(2).returning(|_| Ok(()));
        let erase = EraseUserExports::new(
            Arc::new(records),
            Arc::new(archives),
            Arc::new(working),
            clock(),
        );
        let erasure = erase.execute(&"u1".into(), false).expect("erased");
        assert_eq!(erasure.archives, vec!["exports/A.zip".to_owned()]);
        assert_eq!(
            erasure.working,
            vec!["OP1".into(), "OP2".into()] as Vec<OperationId>
        );
        assert_eq!(erasure.records, deleted());
    }

    #[test]
    fn a_running_export_stops_the_erasure_unless_forced() {
        let mut records = MockOperationRecords::new();
        records.expect_of_user().returning(|_, _| Ok(found(true)));
        records
            .expect_delete_of_user()
            .times(1)
            .returning(|_| Ok(deleted()));
        let mut archives = MockArchiveStore::new();
        archives.expect_remove().times(1).returning(|_| Ok(()));
        let mut working = MockExportFiles::new();
        working.expect_remove_all().returning(|_| Ok(()));
        let erase = EraseUserExports::new(
            Arc::new(records),
            Arc::new(archives),
            Arc::new(working),
            clock(),
        );
        match erase.execute(&"u1".into(), false) {
            Err(EraseError::Running(ids)) => assert_eq!(ids, vec![OperationId::from("OP2")]),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            erase.execute(&"u1".into(), true).expect("forced").records,
            deleted()
        );
    }

    #[test]
    fn an_archive_that_cannot_be_deleted_keeps_every_record() {
        let mut records = MockOperationRecords::new();
        records.expect_of_user().returning(|_, _| Ok(found(false)));
        records.expect_delete_of_user().never();
        let mut archives = MockArchiveStore::new();
        archives
            .expect_remove()
            .returning(|_| Err(anyhow::anyhow!("read-only file system")));
        let erase = EraseUserExports::new(
            Arc::new(records),
            Arc::new(archives),
            Arc::new(MockExportFiles::new()),
            clock(),
        );
        match erase.execute(&"u1".into(), false) {
            Err(EraseError::Archive { key, .. }) => assert_eq!(key, "exports/A.zip"),
            other => panic!("expected an archive error, got {other:?}"),
        }
    }

    #[test]
    fn erasing_a_user_with_nothing_left_removes_nothing() {
        let mut records = MockOperationRecords::new();
        records
            .expect_of_user()
            .returning(|_, _| Ok(UserRecords::default()));
        records
            .expect_delete_of_user()
            .returning(|_| Ok(DeletedRecords::default()));
        let erase = EraseUserExports::new(
            Arc::new(records),
            Arc::new(MockArchiveStore::new()),
            Arc::new(MockExportFiles::new()),
            clock(),
        );
        assert!(erase
            .execute(&"u1".into(), false)
            .expect("no error")
            .is_empty());
    }
}
