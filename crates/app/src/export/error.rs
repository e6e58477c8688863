//! How one run of an operation ends early, and what a run carries between its steps.

use std::sync::atomic::{AtomicBool, Ordering};

use udd_domain::IllegalTransition;
use udd_ports::{Progress, StoreError};

/// Why a run stopped before the operation was complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// The lease ran out and another worker may hold the operation: stop without
    /// touching it again.
    #[error("the lease on the operation was lost")]
    LeaseLost,
    /// Asked to stop (shutdown) between two batches: give the operation back.
    #[error("stopped on request")]
    Stopped,
    /// Anything else: the attempt failed, and the retry rule decides what follows.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<StoreError> for EngineError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::LeaseLost => Self::LeaseLost,
            other => Self::Failed(anyhow::Error::new(other)),
        }
    }
}

impl From<IllegalTransition> for EngineError {
    fn from(err: IllegalTransition) -> Self {
        Self::Failed(anyhow::Error::new(err))
    }
}

/// The result of one step of a run.
pub(crate) type Step<T> = Result<T, EngineError>;

/// What one run of one operation shares between its steps.
pub(crate) struct Run<'a> {
    /// The worker holding the lease.
    pub owner: &'a str,
    /// Set by the lease keeper when the lease is gone.
    pub lost: &'a AtomicBool,
    /// Set when the process shuts down.
    pub stop: &'a AtomicBool,
    /// Where progress is shown (a progress bar for `udd export`).
    pub progress: &'a dyn Progress,
}

impl Run<'_> {
    /// Stops the run at the next step once the lease is lost or a stop is asked for.
    pub fn check(&self) -> Step<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(EngineError::LeaseLost);
        }
        if self.stop.load(Ordering::SeqCst) {
            return Err(EngineError::Stopped);
        }
        Ok(())
    }
}
