//! What follows a failed attempt: a retry after a growing pause, or failure for good.

use std::time::Duration;

use udd_domain::time::retry_delay;
use udd_domain::{ExportOperation, ExportStatus};
use udd_ports::StoreError;

use super::{ExportEngine, Outcome};

/// The pause before the second attempt; it doubles after each further failure.
const FIRST_RETRY: Duration = Duration::from_secs(10);
/// The longest pause between attempts (about 21 minutes).
const MAX_RETRY: Duration = Duration::from_secs(1280);

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Try again once this much time has passed.
    RetryIn(Duration),
    /// No attempts left: the operation fails for good.
    GiveUp,
}

/// The retry rule: after the `attempts`-th failed attempt of at most `max_attempts`,
/// wait 10 s, doubling with each failure up to about 21 minutes; after the last
/// attempt, give up.
pub(crate) fn after_failure(attempts: u32, max_attempts: u32) -> AfterFailure {
    if attempts >= max_attempts {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryIn(retry_delay(FIRST_RETRY, MAX_RETRY, attempts))
    }
}

impl ExportEngine {
    /// Applies the retry rule to a failed attempt: releases the operation for a later
    /// retry, or ends it as failed.
    pub(super) fn retry_or_fail(
        &self,
        operation: &ExportOperation,
        owner: &str,
        err: &anyhow::Error,
    ) -> Outcome {
        let id = operation.id.clone();
        let reason = format!("{err:#}");
        let wait = match after_failure(operation.attempts, self.config.max_attempts) {
            AfterFailure::GiveUp => {
                let reason = format!("gave up after {} attempts: {reason}", operation.attempts);
                return self.fail(operation, owner, &reason);
            }
            AfterFailure::RetryIn(wait) => wait,
        };
        let backoff = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(20));
        tracing::warn!(operation = %id, attempt = operation.attempts, retry_in = %backoff, error = %reason, "export attempt failed");
        let now = self.ports.clock.now();
        if let Err(e) = self.ports.queue.release(&id, owner, now + backoff, &reason) {
            tracing::error!(operation = %id, error = %e, "could not release the operation");
        }
        Outcome::Retrying {
            operation_id: id,
            reason,
        }
    }

    /// Ends the operation as failed for `reason` and removes what it wrote.
    pub(super) fn fail(&self, operation: &ExportOperation, owner: &str, reason: &str) -> Outcome {
        let id = operation.id.clone();
        tracing::error!(operation = %id, attempts = operation.attempts, error = %reason, "export failed");
        match self.ports.queue.finish_unsuccessfully(
            &id,
            owner,
            ExportStatus::Failed,
            reason,
            self.ports.clock.now(),
        ) {
            Err(StoreError::LeaseLost) => {
                // Another worker has it now: its files are not ours to remove.
                tracing::warn!(operation = %id, "lease lost before the operation could be marked failed");
                return Outcome::LeaseLost { operation_id: id };
            }
            Err(e) => {
                tracing::error!(operation = %id, error = %e, "could not mark the operation failed")
            }
            Ok(()) => {}
        }
        // The working folder and any archive go: a failed export leaves nothing behind
        // (what a crash keeps from here is swept by retention).
        if let Err(e) = self.ports.files.remove_all(&id) {
            tracing::warn!(operation = %id, error = %e, "could not remove the working folder");
        }
        if let Some(key) = &operation.archive_key {
            if let Err(e) = self.ports.archives.remove(key) {
                tracing::warn!(operation = %id, error = %e, "could not remove the archive");
            }
        }
        Outcome::Failed {
            operation_id: id,
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_after_doubling_pauses_until_the_last_attempt() {
        let waits: Vec<AfterFailure> = (1..=3).map(|n| after_failure(n, 3)).collect();
        assert_eq!(
            waits,
            [
                AfterFailure::RetryIn(Duration::from_secs(10)),
                AfterFailure::RetryIn(Duration::from_secs(20)),
                AfterFailure::GiveUp,
            ]
        );
        assert_eq!(
            after_failure(8, 100),
            AfterFailure::RetryIn(Duration::from_secs(1280))
        );
        assert_eq!(after_failure(30, 100), AfterFailure::RetryIn(MAX_RETRY));
        assert_eq!(after_failure(1, 1), AfterFailure::GiveUp);
    }
}
