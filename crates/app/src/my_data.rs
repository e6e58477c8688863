//! What the "My data" page shows a signed-in user: their latest export of each kind,
//! how far it got, its file while it can be downloaded, and when a new one may be
//! asked for.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;
use udd_domain::{ExportOperation, ExportStatus, RequestDecision, RequestPolicy, UserId};
use udd_ports::{Clock, ExportOperations, StoreError, UserDataFile, UserDataFiles};

/// One export as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyExport {
    /// The operation, with its rooms' progress.
    pub operation: ExportOperation,
    /// Its archive, while it can still be downloaded (completed, not expired, not removed).
    pub file: Option<UserDataFile>,
    /// Whether it completed but its archive is gone (expired or removed).
    pub expired: bool,
    /// While a new request of this kind would be answered with this operation: when
    /// that stops (the 24-hour rule). `None` when a new request would create one now.
    pub next_request_at: Option<DateTime<Utc>>,
}

impl MyExport {
    /// Messages written and messages to write, over all rooms.
    pub fn messages(&self) -> (u64, u64) {
        self.operation.message_progress()
    }

    /// How far the export got, 0 to 100. Only a completed export is at 100: when every
    /// message is written, the files, the archive and its storing are still to come, so
    /// the messages' share is capped at 99 until then.
    pub fn percent(&self) -> u8 {
        if self.operation.status == ExportStatus::Completed {
            return 100;
        }
        let (done, total) = self.messages();
        if total == 0 {
            return 0;
        }
        (done.min(total) * 100 / total).min(99) as u8
    }

    /// Whether it is still on its way (neither finished nor given up).
    pub fn is_active(&self) -> bool {
        !self.operation.status.is_terminal()
    }
}

/// Why the list could not be read.
#[derive(Debug, Error)]
pub enum MyExportsError {
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

use_case! {
    /// Lists a user's own exports (the latest of each kind they asked for themselves; the
    /// data protection officer's are not theirs to see here).
    pub struct MyExports {
        operations: Arc<dyn ExportOperations>,
        files: Arc<dyn UserDataFiles>,
        clock: Arc<dyn Clock>,
        policy: RequestPolicy,
    }
    /// Builds the use case; `policy` must be the one requests are decided by.
    pub fn new;
}

impl MyExports {
    /// The user's latest personal (HTML) export, then their latest full (JSON) one,
    /// each only if there is one.
    ///
    /// Errors: `Unexpected` when the store fails.
    pub fn list(&self, user_id: &UserId) -> Result<Vec<MyExport>, MyExportsError> {
        let now = self.clock.now();
        let mut exports = Vec::with_capacity(2);
        for full_export in [false, true] {
            let Some(operation) = self
                .operations
                .latest(user_id, full_export)
                .map_err(anyhow::Error::new)?
            else {
                continue;
            };
            let file = match &operation.file_id {
                Some(id) => match self.files.get(id) {
                    Ok(file) => Some(file),
                    Err(StoreError::NotFound) => None,
                    Err(other) => return Err(anyhow::Error::new(other).into()),
                },
                None => None,
            };
            let completed = operation.status == ExportStatus::Completed;
            let available = file.filter(|f| completed && f.is_available(now));
            let expired = completed && available.is_none();
            let next_request_at = (self.policy.decide(Some(&operation), expired, now)
                == RequestDecision::Reuse)
                .then(|| self.policy.next_request_at(&operation));
            exports.push(MyExport {
                operation,
                file: available,
                expired,
                next_request_at,
            });
        }
        Ok(exports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use udd_domain::{RoomExport, RoomExportStatus, RoomType};
    use udd_ports::{MockClock, MockExportOperations, MockUserDataFiles};

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(100)
    }

    fn op(id: &str, full: bool, status: ExportStatus, age: Duration) -> ExportOperation {
        let mut op = ExportOperation::new_pending(id.into(), "u1".into(), full, now() - age);
        op.status = status;
        op
    }

    fn room(done: u64, total: u64) -> RoomExport {
        RoomExport {
            room_id: "R".into(),
            room_name: "r".into(),
            user_id: None,
            exported_count: done,
            status: RoomExportStatus::Exporting,
            room_type: RoomType::Channel,
            target_file: "R.html".into(),
            total,
            cursor: None,
            file_length: 0,
            pages: Default::default(),
        }
    }

    fn file(expires_at: DateTime<Utc>) -> UserDataFile {
        UserDataFile {
            id: "F1".into(),
            user_id: "u1".into(),
            name: "1970-04-11-u1.zip".into(),
            size: 2048,
            sha256: "00".into(),
            key: "exports/A.zip".into(),
            created_at: now(),
            expires_at: Some(expires_at),
            removed_at: None,
        }
    }

    fn use_case(
        personal: Option<ExportOperation>,
        full: Option<ExportOperation>,
        files: MockUserDataFiles,
    ) -> MyExports {
        let mut operations = MockExportOperations::new();
        operations.expect_latest().returning(move |_, full_export| {
            Ok(if full_export {
                full.clone()
            } else {
                personal.clone()
            })
        });
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        MyExports::new(
            Arc::new(operations),
            Arc::new(files),
            Arc::new(clock),
            RequestPolicy::default(),
        )
    }

    #[test]
    fn nothing_asked_for_lists_nothing() {
        let listed = use_case(None, None, MockUserDataFiles::new())
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.is_empty());
    }

    #[test]
    fn a_running_export_shows_its_summed_progress_and_when_to_ask_again() {
        let mut running = op("A", true, ExportStatus::Exporting, Duration::hours(2));
        running.room_list = vec![room(3, 10), room(2, 10)];
        let listed = use_case(None, Some(running), MockUserDataFiles::new())
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 1);
        let export = &listed[0];
        assert!(export.operation.full_export);
        assert_eq!(export.messages(), (5, 20));
        assert_eq!(export.percent(), 25);
        assert!(export.is_active());
        assert_eq!(export.next_request_at, Some(now() + Duration::hours(22)));
        assert_eq!(export.file, None);
        assert!(!export.expired);
    }

    #[test]
    fn all_messages_written_is_not_yet_done() {
        let mut compressing = op("A", false, ExportStatus::Compressing, Duration::hours(1));
        compressing.room_list = vec![room(10, 10)];
        let listed = use_case(Some(compressing), None, MockUserDataFiles::new())
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed[0].percent(), 99);
    }

    #[test]
    fn a_completed_export_offers_its_file_until_it_expires() {
        let mut done = op("A", false, ExportStatus::Completed, Duration::hours(3));
        done.file_id = Some("F1".into());
        let mut files = MockUserDataFiles::new();
        files
            .expect_get()
            .returning(|_| Ok(file(now() + Duration::days(6))));
        let listed = use_case(Some(done.clone()), None, files)
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed[0].percent(), 100);
        assert_eq!(listed[0].file.as_ref().map(|f| f.size), Some(2048));
        assert!(!listed[0].is_active());

        let mut files = MockUserDataFiles::new();
        files.expect_get().returning(|_| Ok(file(now())));
        let listed = use_case(Some(done), None, files)
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed[0].file, None);
        assert!(listed[0].expired);
        assert_eq!(
            listed[0].next_request_at, None,
            "an expired export does not hold back a new request"
        );
    }

    #[test]
    fn a_failed_export_does_not_hold_back_a_new_request() {
        let mut failed = op("A", false, ExportStatus::Failed, Duration::hours(1));
        failed.failure_reason = Some("disk full".into());
        let listed = use_case(Some(failed), None, MockUserDataFiles::new())
            .list(&"u1".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed[0].next_request_at, None);
        assert_eq!(
            listed[0].operation.failure_reason.as_deref(),
            Some("disk full")
        );
    }

    #[test]
    fn a_failing_store_is_an_error() {
        let mut operations = MockExportOperations::new();
        operations
            .expect_latest()
            .returning(|_, _| Err(StoreError::Unexpected(anyhow::anyhow!("locked"))));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let listed = MyExports::new(
            Arc::new(operations),
            Arc::new(MockUserDataFiles::new()),
            Arc::new(clock),
            RequestPolicy::default(),
        )
        .list(&"u1".into());
        assert!(matches!(listed, Err(MyExportsError::Unexpected(_))));
    }
}
