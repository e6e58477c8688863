//! `users.requestDataDownload`: queue an export, or answer with the recent one.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{ExportOperation, RequestPolicy};
use udd_ports::{
    Clock, ExportFolders, ExportOperations, ExportWakeup, IdGenerator, RequestOutcome,
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

/// Queues data downloads under the once-a-day policy.
#[derive(Clone)]
pub struct RequestDataDownload {
    operations: Arc<dyn ExportOperations>,
    folders: Arc<dyn ExportFolders>,
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
    policy: RequestPolicy,
    enabled: bool,
    wakeup: Option<Arc<dyn ExportWakeup>>,
}

impl RequestDataDownload {
    /// Builds the use case; `enabled` mirrors `user_data.enable_download`.
    pub fn new(
        operations: Arc<dyn ExportOperations>,
        folders: Arc<dyn ExportFolders>,
        ids: Arc<dyn IdGenerator>,
        clock: Arc<dyn Clock>,
        policy: RequestPolicy,
        enabled: bool,
    ) -> Self {
        Self {
            operations,
            folders,
            ids,
            clock,
            policy,
            enabled,
            wakeup: None,
        }
    }

    /// Wakes the workers through `wakeup` whenever an operation is created.
    pub fn with_wakeup(mut self, wakeup: Arc<dyn ExportWakeup>) -> Self {
        self.wakeup = Some(wakeup);
        self
    }

    /// Creates a new operation whatever the once-a-day policy says (`udd export`).
    pub fn execute_now(
        &self,
        user_id: &str,
        full_export: bool,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        let always = RequestPolicy {
            reuse_window: chrono::Duration::zero(),
        };
        self.request(user_id, full_export, &always)
    }

    /// Requests a full or personal export of `user_id`'s data.
    pub fn execute(
        &self,
        user_id: &str,
        full_export: bool,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        self.request(user_id, full_export, &self.policy)
    }

    fn request(
        &self,
        user_id: &str,
        full_export: bool,
        policy: &RequestPolicy,
    ) -> Result<DataDownloadRequest, RequestDownloadError> {
        if !self.enabled {
            return Err(RequestDownloadError::Disabled);
        }
        let now = self.clock.now();
        let id = self.ids.new_id();
        let candidate = ExportOperation::new_pending(
            id.clone(),
            user_id.to_owned(),
            full_export,
            self.folders.paths_for(&id),
            now,
        );
        let outcome = self
            .operations
            .create_unless_recent(&candidate, policy, now)
            .map_err(anyhow::Error::new)?;
        // From here on the operation is queued whatever happens: the answer names it,
        // so a client never gets an error for a request that was nevertheless taken.
        let (requested, operation) = match outcome {
            RequestOutcome::Created(operation) => {
                // The worker creates whatever folder it writes into, so one that cannot
                // be made now fails (and is retried) there, where it is recorded.
                if let Err(e) = self.folders.create(&operation.paths) {
                    tracing::warn!(operation = %operation.id, error = %format!("{e:#}"), "could not create the export folders; the worker will try again");
                }
                if let Some(wakeup) = &self.wakeup {
                    wakeup.notify();
                }
                tracing::info!(operation = %operation.id, user = user_id, full_export, "export requested");
                (true, operation)
            }
            RequestOutcome::Reused(operation) => (false, operation),
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use udd_domain::ExportPaths;
    use udd_ports::{
        MockClock, MockExportFolders, MockExportOperations, MockIdGenerator, StoreError,
    };

    fn folders(expect_create: usize) -> MockExportFolders {
        let mut folders = MockExportFolders::new();
        folders.expect_paths_for().returning(|id| ExportPaths {
            export_path: format!("/data/{id}"),
            assets_path: format!("/data/{id}/assets"),
        });
        folders
            .expect_create()
            .times(expect_create)
            .returning(|_| Ok(()));
        folders
    }

    fn use_case(
        operations: MockExportOperations,
        folders: MockExportFolders,
        enabled: bool,
    ) -> RequestDataDownload {
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().return_const("OP1".to_owned());
        let mut clock = MockClock::new();
        clock.expect_now().return_const(DateTime::UNIX_EPOCH);
        RequestDataDownload::new(
            Arc::new(operations),
            Arc::new(folders),
            Arc::new(ids),
            Arc::new(clock),
            RequestPolicy::default(),
            enabled,
        )
    }

    #[test]
    fn a_new_operation_is_pending_with_its_folders_created() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_create_unless_recent()
            .withf(|op, _, _| {
                op.id == "OP1" && op.full_export && op.paths.assets_path == "/data/OP1/assets"
            })
            .returning(|op, _, _| Ok(RequestOutcome::Created(op.clone())));
        operations.expect_count_queued_before().returning(|_| Ok(3));
        let answer = use_case(operations, folders(1), true)
            .execute("u1", true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.requested);
        assert_eq!(answer.operation.status, udd_domain::ExportStatus::Pending);
        assert_eq!(answer.operation.user_id, "u1");
        assert_eq!(answer.pending_before, 3);
    }

    #[test]
    fn a_reused_operation_is_answered_without_creating_folders() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_create_unless_recent()
            .returning(|op, _, _| {
                let mut existing = op.clone();
                existing.id = "OLD".into();
                Ok(RequestOutcome::Reused(existing))
            });
        operations.expect_count_queued_before().returning(|_| Ok(0));
        let answer = use_case(operations, folders(0), true)
            .execute("u1", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!answer.requested);
        assert_eq!(answer.operation.id, "OLD");
    }

    #[test]
    fn a_created_operation_is_answered_even_when_its_folders_or_position_fail() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_create_unless_recent()
            .returning(|op, _, _| Ok(RequestOutcome::Created(op.clone())));
        operations
            .expect_count_queued_before()
            .returning(|_| Err(StoreError::Unexpected(anyhow::anyhow!("locked"))));
        let mut folders = MockExportFolders::new();
        folders.expect_paths_for().returning(|id| ExportPaths {
            export_path: format!("/data/{id}"),
            assets_path: format!("/data/{id}/assets"),
        });
        folders
            .expect_create()
            .times(1)
            .returning(|_| Err(anyhow::anyhow!("read-only file system")));
        let answer = use_case(operations, folders, true)
            .execute("u1", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.requested);
        assert_eq!(answer.operation.id, "OP1");
        assert_eq!(answer.pending_before, 0);
    }

    #[test]
    fn a_disabled_feature_refuses_before_touching_storage() {
        let mut operations = MockExportOperations::new();
        operations.expect_create_unless_recent().never();
        let err = use_case(operations, folders(0), false)
            .execute("u1", false)
            .unwrap_err();
        assert!(matches!(err, RequestDownloadError::Disabled));
    }

    #[test]
    fn a_storage_failure_surfaces_as_unexpected() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_create_unless_recent()
            .returning(|_, _, _| Err(StoreError::Unexpected(anyhow::anyhow!("locked"))));
        let err = use_case(operations, folders(0), true)
            .execute("u1", false)
            .unwrap_err();
        assert!(matches!(err, RequestDownloadError::Unexpected(_)));
    }
}
