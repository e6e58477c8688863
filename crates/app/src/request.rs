//! `users.requestDataDownload`: queue an export, or answer with the recent one.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{ExportOperation, RequestDecision, RequestPolicy, RequestedBy, UserId};
use udd_ports::{
    Clock, ExportFiles, ExportOperations, ExportWakeup, IdGenerator, StoreError, UserDataFiles,
};

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDownloadRequest {
    /// Whether this request created the operation (`false`: a recent one was reused).
    pub requested: bool,
    /// The operation that answers the request.
    pub operation: ExportOperation,
    /// How many unfinished operations are ahead of it in the queue.
    pub pending_before: u64,
}

/// Why a request was refused.
#[derive(Debug, Error)]
pub enum RequestDownloadError {
    /// `user_data.enable_download` is off.
    #[error("Data download is disabled")]
    Disabled,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

use_case! {
    /// Queues data downloads under the once-a-day policy. The policy is decided here, from
    /// the user's latest operation; the store only guarantees that of concurrent requests
    /// that saw the same latest operation, one creates.
    pub struct RequestDataDownload {
        operations: Arc<dyn ExportOperations>,
        files: Arc<dyn UserDataFiles>,
        working: Arc<dyn ExportFiles>,
        ids: Arc<dyn IdGenerator>,
        clock: Arc<dyn Clock>,
        policy: RequestPolicy,
        enabled: bool,
        wakeup: Option<Arc<dyn ExportWakeup>> = None,
    }
    /// Builds the use case; `enabled` mirrors `user_data.enable_download`. `files`
    /// tells whether the latest operation's download is gone; `working` prepares a new
    /// operation's working folder.
    pub fn new;
}

/// How often a request re-reads and decides again when others created operations
/// between its read and its insert; each round sees a newer operation, which the policy
/// then reuses, so a second round is already rare.
const MAX_ROUNDS: usize = 8;

impl RequestDataDownload {
    /// Wakes the workers through `wakeup` whenever an operation is created.
    pub fn with_wakeup(mut self, wakeup: Arc<dyn ExportWakeup>) -> Self {
        self.wakeup = Some(wakeup);
        self
    }

    /// Creates a new operation whatever the once-a-day policy says (`udd export`).
    pub fn execute_now(
        &self,
        user_id: &UserId,
        full_export: bool,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        let always = RequestPolicy {
            reuse_window: chrono::Duration::zero(),
        };
        self.request(user_id, full_export, &always)
    }

    /// Queues an export of `user_id`'s data for the data protection officer: always a
    /// new operation, recorded as the officer's, so its end mails nobody and the
    /// owner's own requests neither reuse it nor count it. It is allowed with
    /// `user_data.enable_download` off: that switch governs the users' own requests, not
    /// the officer's duty to answer a subject-access request.
    ///
    /// Errors: the working folder or the store failing.
    pub fn execute_for_officer(
        &self,
        user_id: &UserId,
        full_export: bool,
    ) -> Result<ExportOperation, RequestDownloadError> {
        let operation = ExportOperation::new_pending(
            self.ids.new_id().into(),
            user_id.clone(),
            full_export,
            self.clock.now(),
        )
        .asked_by(RequestedBy::Officer);
        self.working.prepare(&operation.id)?;
        if let Err(e) = self.operations.insert(&operation) {
            if let Err(cleanup) = self.working.remove_all(&operation.id) {
                tracing::warn!(operation = %operation.id, error = %cleanup, "could not remove an unused folder");
            }
            return Err(anyhow::Error::new(e).into());
        }
        tracing::info!(operation = %operation.id, user = %user_id, full_export, "export requested by the data protection officer");
        Ok(operation)
    }

    /// Requests a full or personal export of `user_id`'s data.
    pub fn execute(
        &self,
        user_id: &UserId,
        full_export: bool,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        self.request(user_id, full_export, &self.policy)
    }

    fn request(
        &self,
        user_id: &UserId,
        full_export: bool,
        policy: &RequestPolicy,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        if !self.enabled {
            return Err(RequestDownloadError::Disabled);
        }
        let (requested, operation) = self.create_or_reuse(user_id, full_export, policy)?;
        // From here on the operation exists: the answer names it, so a client never
        // gets an error for a request that was nevertheless queued.
        let pending_before = match self.operations.count_queued_before(&operation) {
            Ok(count) => count,
            Err(e) => {
                // The position is advice; the operation is what the answer is for.
                tracing::warn!(operation = %operation.id, error = %e, "could not count the operations queued before");
                0
            }
        };
        Ok(DataDownloadRequest {
            requested,
            operation,
            pending_before,
        })
    }

    /// The operation that answers the request, and whether it was created for it.
    fn create_or_reuse(
        &self,
        user_id: &UserId,
        full_export: bool,
        policy: &RequestPolicy,
    ) -> Result<(bool, ExportOperation), RequestDownloadError> {
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let latest = self
                .operations
                .latest(user_id, full_export)
                .map_err(anyhow::Error::new)?;
            let gone = self.download_gone(latest.as_ref(), now)?;
            if let (Some(latest), RequestDecision::Reuse) =
                (&latest, policy.decide(latest.as_ref(), gone, now))
            {
                return Ok((false, latest.clone()));
            }
            let candidate = ExportOperation::new_pending(
                self.ids.new_id().into(),
                user_id.clone(),
                full_export,
                now,
            );
            // The folder first: if it cannot be made, nothing is queued and the caller's
            // error is the whole truth.
            self.working.prepare(&candidate.id)?;
            let expected = latest.as_ref().map(|op| &op.id);
            if self
                .operations
                .insert_if_latest(&candidate, expected)
                .map_err(anyhow::Error::new)?
            {
                if let Some(wakeup) = &self.wakeup {
                    wakeup.notify();
                }
                tracing::info!(operation = %candidate.id, user = %user_id, full_export, "export requested");
                return Ok((true, candidate));
            }
            // Another request got in first; its operation is the one to decide about.
            if let Err(e) = self.working.remove_all(&candidate.id) {
                tracing::warn!(operation = %candidate.id, error = %e, "could not remove an unused folder");
            }
        }
        Err(anyhow::anyhow!("the export queue kept changing under this request; try again").into())
    }

    /// Whether the download of `latest` expired or was removed (so it is not reused).
    fn download_gone(
        &self,
        latest: Option<&ExportOperation>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, RequestDownloadError> {
        let Some(file_id) = latest.and_then(|op| op.file_id.as_ref()) else {
            return Ok(false);
        };
        match self.files.get(file_id) {
            Ok(file) => Ok(!file.is_available(now)),
            Err(StoreError::NotFound) => Ok(true),
            Err(other) => Err(anyhow::Error::new(other).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use udd_domain::{ExportStatus, UserDataFile};
    use udd_ports::{
        MockClock, MockExportFiles, MockExportOperations, MockIdGenerator, MockUserDataFiles,
    };

    fn now() -> DateTime<chrono::Utc> {
        DateTime::UNIX_EPOCH + Duration::days(100)
    }

    fn working(prepared: usize, removed: usize) -> MockExportFiles {
        let mut working = MockExportFiles::new();
        working
            .expect_prepare()
            .times(prepared)
            .returning(|_| Ok(()));
        working
            .expect_remove_all()
            .times(removed)
            .returning(|_| Ok(()));
        working
    }

    fn existing(id: &str, created: DateTime<chrono::Utc>) -> ExportOperation {
        let mut op = ExportOperation::new_pending(id.into(), "u1".into(), false, created);
        op.status = ExportStatus::Completed;
        op.file_id = Some(format!("F-{id}").into());
        op
    }

    fn use_case(
        operations: MockExportOperations,
        files: MockUserDataFiles,
        working: MockExportFiles,
        enabled: bool,
    ) -> RequestDataDownload {
        let mut ids = MockIdGenerator::new();
        let mut n = 0;
        ids.expect_new_id().returning(move || {
            n += 1;
            format!("OP{n}")
        });
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        RequestDataDownload::new(
            Arc::new(operations),
            Arc::new(files),
            Arc::new(working),
            Arc::new(ids),
            Arc::new(clock),
            RequestPolicy::default(),
            enabled,
        )
    }

    /// u1 asks for a personal export, the feature on.
    fn ask_personal(
        operations: MockExportOperations,
        files: MockUserDataFiles,
        working: MockExportFiles,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        use_case(operations, files, working, true).execute(&"u1".into(), false)
    }

    fn file(expires_at: DateTime<chrono::Utc>) -> UserDataFile {
        UserDataFile {
            id: "F-OLD".into(),
            user_id: "u1".into(),
            name: "x.zip".into(),
            size: 1,
            sha256: "00".into(),
            key: "exports/OLD.zip".into(),
            created_at: now(),
            expires_at: Some(expires_at),
            removed_at: None,
        }
    }

    #[test]
    fn a_first_request_creates_a_pending_operation_with_its_folder() {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().returning(|_, _| Ok(None));
        operations
            .expect_insert_if_latest()
            .withf(|op, expected| op.id == "OP1" && op.full_export && expected.is_none())
            .times(1)
            .returning(|_, _| Ok(true));
        operations.expect_count_queued_before().returning(|_| Ok(3));
        let answer = use_case(operations, MockUserDataFiles::new(), working(1, 0), true)
            .execute(&"u1".into(), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.requested);
        assert_eq!(answer.operation.status, ExportStatus::Pending);
        assert_eq!(answer.operation.user_id, "u1");
        assert_eq!(answer.pending_before, 3);
    }

    #[test]
    fn a_created_operation_is_answered_even_when_its_queue_position_fails() {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().returning(|_, _| Ok(None));
        operations
            .expect_insert_if_latest()
            .times(1)
            .returning(|_, _| Ok(true));
        operations
            .expect_count_queued_before()
            .returning(|_| Err(StoreError::Unexpected(anyhow::anyhow!("locked"))));
        let answer = ask_personal(operations, MockUserDataFiles::new(), working(1, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.requested);
        assert_eq!(answer.operation.id, "OP1");
        assert_eq!(answer.pending_before, 0);
    }

    #[test]
    fn a_recent_operation_is_reused_without_a_folder_or_insert() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_latest()
            .returning(|_, _| Ok(Some(existing("OLD", now() - Duration::hours(23)))));
        operations.expect_insert_if_latest().never();
        operations.expect_count_queued_before().returning(|_| Ok(0));
        let mut files = MockUserDataFiles::new();
        files
            .expect_get()
            .returning(|_| Ok(file(now() + Duration::days(6))));
        let answer =
            ask_personal(operations, files, working(0, 0)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!answer.requested);
        assert_eq!(answer.operation.id, "OLD");
    }

    #[test]
    fn a_recent_operation_whose_file_expired_is_not_reused() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_latest()
            .returning(|_, _| Ok(Some(existing("OLD", now() - Duration::hours(1)))));
        operations
            .expect_insert_if_latest()
            .withf(|_, expected| expected.map(|id| id.as_str()) == Some("OLD"))
            .returning(|_, _| Ok(true));
        operations.expect_count_queued_before().returning(|_| Ok(0));
        let mut files = MockUserDataFiles::new();
        files.expect_get().returning(|_| Ok(file(now())));
        let answer =
            ask_personal(operations, files, working(1, 0)).unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.requested);
    }

    #[test]
    fn losing_the_race_reads_again_and_reuses_the_winners_operation() {
        let mut operations = MockExportOperations::new();
        let mut reads = 0;
        operations.expect_latest().returning(move |_, _| {
            reads += 1;
            // First nothing; then the operation another request just created.
            Ok((reads > 1).then(|| {
                let mut winner = existing("WINNER", now());
                winner.status = ExportStatus::Pending;
                winner.file_id = None;
                winner
            }))
        });
        operations
            .expect_insert_if_latest()
            .times(1)
            .returning(|_, _| Ok(false));
        operations.expect_count_queued_before().returning(|_| Ok(0));
        let answer = ask_personal(operations, MockUserDataFiles::new(), working(1, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!answer.requested);
        assert_eq!(answer.operation.id, "WINNER");
    }

    #[test]
    fn a_folder_that_cannot_be_made_queues_nothing() {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().returning(|_, _| Ok(None));
        operations.expect_insert_if_latest().never();
        let mut working = MockExportFiles::new();
        working
            .expect_prepare()
            .returning(|_| Err(anyhow::anyhow!("read-only filesystem")));
        let err = ask_personal(operations, MockUserDataFiles::new(), working).unwrap_err();
        assert!(format!("{err:#}").contains("read-only"), "{err:#}");
    }

    #[test]
    fn a_disabled_feature_refuses_before_touching_storage() {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().never();
        let err = use_case(operations, MockUserDataFiles::new(), working(0, 0), false)
            .execute(&"u1".into(), false)
            .unwrap_err();
        assert!(matches!(err, RequestDownloadError::Disabled));
    }

    #[test]
    fn a_storage_failure_surfaces_as_unexpected() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_latest()
            .returning(|_, _| Err(StoreError::Unexpected(anyhow::anyhow!("locked"))));
        let err = ask_personal(operations, MockUserDataFiles::new(), working(0, 0)).unwrap_err();
        assert!(matches!(err, RequestDownloadError::Unexpected(_)));
    }

    #[test]
    fn an_officers_request_always_stores_a_new_operation_marked_as_the_officers() {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().never();
        operations
            .expect_insert()
            .withf(|op| {
                op.requested_by == RequestedBy::Officer && op.user_id == "u1" && op.full_export
            })
            .times(1)
            .returning(|_| Ok(()));
        let use_case = use_case(operations, MockUserDataFiles::new(), working(1, 0), false);
        let op = use_case
            .execute_for_officer(&"u1".into(), true)
            .expect("queued although self-service downloads are off");
        assert_eq!(op.id, "OP1");
        assert_eq!(op.requested_by, RequestedBy::Officer);
    }

    #[test]
    fn an_officers_request_that_cannot_be_stored_leaves_no_folder_behind() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_insert()
            .returning(|_| Err(StoreError::AlreadyExists("OP1".into())));
        let use_case = use_case(operations, MockUserDataFiles::new(), working(1, 1), true);
        assert!(use_case.execute_for_officer(&"u1".into(), false).is_err());
    }
}
