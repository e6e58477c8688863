//! The export workers: threads that take queued operations and run them, waking every
//! `user_data.processing_frequency` and at once when a request is made in this process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use udd_adapters::RandomIds;
use udd_app::{ExportEngine, Outcome};
use udd_ports::{ExportWakeup, NoProgress};

use crate::services::Services;
use crate::settings::Settings;

/// Running worker threads.
pub struct Workers {
    stop: Arc<AtomicBool>,
    wakeup: Arc<dyn ExportWakeup>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `user_data.workers` threads.
    pub fn start(services: &Services, settings: &Settings) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = settings.user_data.processing_interval();
        // Unique per process and thread, so leases tell workers apart across machines.
        let process = format!("{}-{}", std::process::id(), RandomIds::random_string(6));
        let threads = (0..settings.user_data.workers)
            .map(|n| {
                let engine = services.engine.clone();
                let wakeup = Arc::clone(&services.wakeup);
                let stop = Arc::clone(&stop);
                let owner = format!("udd-{process}-{n}");
                std::thread::Builder::new()
                    .name(format!("export-worker-{n}"))
                    .spawn(move || work(&engine, wakeup.as_ref(), &stop, interval, &owner))
            })
            .filter_map(|spawned| {
                spawned
                    .map_err(|e| tracing::error!(error = %e, "could not start a worker"))
                    .ok()
            })
            .collect();
        tracing::info!(workers = settings.user_data.workers, every = ?interval, "export workers started");
        Self {
            stop,
            wakeup: Arc::clone(&services.wakeup),
            threads,
        }
    }

    /// Asks the workers to stop after their current batch, and waits for them. An
    /// interrupted operation is released and resumes later exactly where it stopped.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Each notification wakes one waiting worker; keep ringing until all are out.
        while self.threads.iter().any(|t| !t.is_finished()) {
            self.wakeup.notify();
            std::thread::sleep(Duration::from_millis(20));
        }
        for thread in self.threads {
            let _ = thread.join();
        }
        tracing::info!("export workers stopped");
    }
}

fn work(
    engine: &ExportEngine,
    wakeup: &dyn ExportWakeup,
    stop: &AtomicBool,
    interval: Duration,
    owner: &str,
) {
    while !stop.load(Ordering::SeqCst) {
        match engine.run_next(owner, &NoProgress, stop) {
            Ok(Some(outcome)) => {
                log(&outcome);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the export queue could not be read")
            }
        }
        wakeup.wait(interval);
    }
}

fn log(outcome: &Outcome) {
    match outcome {
        Outcome::Completed { operation_id, file } => {
            tracing::info!(operation = %operation_id, zip = %file.path, "export finished")
        }
        Outcome::Retrying {
            operation_id,
            reason,
        } => {
            tracing::warn!(operation = %operation_id, %reason, "export will be retried")
        }
        Outcome::Failed {
            operation_id,
            reason,
        } => tracing::error!(operation = %operation_id, %reason, "export failed"),
        Outcome::Skipped { operation_id } => {
            tracing::warn!(operation = %operation_id, "stale export skipped")
        }
        Outcome::LeaseLost { operation_id } => {
            tracing::warn!(operation = %operation_id, "export taken over")
        }
        Outcome::Interrupted { operation_id } => {
            tracing::info!(operation = %operation_id, "export paused for shutdown")
        }
    }
}
