//! Keeping the lease on an operation alive while it is worked on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use udd_domain::OperationId;

use super::error::{EngineError, Step};
use super::ExportEngine;

impl ExportEngine {
    /// When a lease taken or renewed at `now` runs out.
    pub(super) fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Confirms (and extends) the lease right before a step that must not run under a
    /// lease another worker may have taken over: the heartbeat notices a lost lease
    /// only every third of its length, and a worker paused past it would otherwise
    /// touch files that the new holder may be writing.
    pub(super) fn confirm_lease(&self, id: &OperationId, owner: &str) -> Step<()> {
        let now = self.ports.clock.now();
        if self.ports.queue.renew(id, owner, self.lease_until(now))? {
            Ok(())
        } else {
            Err(EngineError::LeaseLost)
        }
    }

    /// Renews the lease every third of its length while `work` runs, and flags `lost`
    /// if renewal fails, so the work stops before its next write.
    pub(super) fn with_heartbeat<T>(
        &self,
        id: &OperationId,
        owner: &str,
        lost: &AtomicBool,
        work: impl FnOnce() -> T,
    ) -> T {
        let (done, finished) = mpsc::channel::<()>();
        let interval = (self.config.lease / 3).max(Duration::from_millis(50));
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(interval) {
                    let now = self.ports.clock.now();
                    match self.ports.queue.renew(id, owner, self.lease_until(now)) {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A failed renewal is not yet a lost lease; try again next tick.
                        Err(e) => {
                            tracing::warn!(operation = %id, error = %e, "lease renewal failed")
                        }
                    }
                }
            });
            let result = work();
            drop(done);
            result
        })
    }
}
