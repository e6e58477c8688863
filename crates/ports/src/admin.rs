//! What an operator sees of and does to the export queue (`udd ops …`, `/metrics`).

use chrono::{DateTime, Utc};
use udd_domain::{ExportStatus, OperationId, UserId};

use crate::StoreError;

/// One operation as an operator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationLine {
    /// The operation.
    pub id: OperationId,
    /// Its owner.
    pub user_id: UserId,
    /// A full (JSON) export rather than a personal one.
    pub full_export: bool,
    /// Where it stands.
    pub status: ExportStatus,
    /// Times a worker has taken it up.
    pub attempts: u32,
    /// The worker holding it (`<instance>/<n>`), if any.
    pub lease_owner: Option<String>,
    /// Until when the lease runs, or when a retry is due when nobody holds it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Why it failed or was last released.
    pub failure_reason: Option<String>,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The operator's view of the queue.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait OperationAdmin: Send + Sync {
    /// Operations newest first, only those in `status` when given, at most `limit`.
    ///
    /// Errors: `Unexpected` only.
    fn list(
        &self,
        status: Option<ExportStatus>,
        limit: u32,
    ) -> Result<Vec<OperationLine>, StoreError>;

    /// One operation.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn line(&self, id: &OperationId) -> Result<OperationLine, StoreError>;

    /// Queues a `failed` or `skipped` operation again from its start (no cutoff, no
    /// rooms, attempts back to 0), or makes an unfinished one that waits for a retry
    /// claimable at once; `false` when it is completed or held by a worker.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn retry(&self, id: &OperationId, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Ends an unfinished operation as `failed` with `reason`, taking the lease from
    /// any worker that holds it (its next write fails and it stops); nobody is mailed.
    /// `false` when it had already ended.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn cancel(
        &self,
        id: &OperationId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// How many operations are in each status (statuses with none left out).
    ///
    /// Errors: `Unexpected` only.
    fn count_by_status(&self) -> Result<Vec<(ExportStatus, u64)>, StoreError>;
}
