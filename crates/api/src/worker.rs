//! The export workers: threads that take queued operations and run them, waking every
//! `user_data.processing_frequency` and at once when a request is made in this process.
//! Between exports the workers keep house: whichever worker ends an export sends the
//! mail its owner is owed at once, every worker sends retries that fell due when it
//! wakes, and one of them runs the retention sweep every
//! `user_data.retention_sweep_minutes`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use udd_adapters::RandomIds;
use udd_app::{ExportEngine, NotifyOwners, Outcome, Retention};
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
        // Unique per process and thread, so leases tell workers of different processes apart.
        let process = format!("{}-{}", std::process::id(), RandomIds::random_string(6));
        let housekeeping = Arc::new(Housekeeping::new(services, settings));
        let threads = (0..settings.user_data.workers)
            .map(|n| {
                let engine = services.engine.clone();
                let wakeup = Arc::clone(&services.wakeup);
                let stop = Arc::clone(&stop);
                let owner = format!("udd-{process}-{n}");
                let housekeeping = Arc::clone(&housekeeping);
                std::thread::Builder::new()
                    .name(format!("export-worker-{n}"))
                    .spawn(move || {
                        work(
                            &engine,
                            wakeup.as_ref(),
                            &stop,
                            interval,
                            &owner,
                            &housekeeping,
                        )
                    })
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

/// Mail and retention, run between exports by the workers of a process.
pub struct Housekeeping {
    notify: NotifyOwners,
    retention: Retention,
    sweep_every: Duration,
    /// When this process last swept; shared so the workers take turns.
    last_sweep: Mutex<Option<Instant>>,
}

impl Housekeeping {
    /// Housekeeping on the app's services.
    pub fn new(services: &Services, settings: &Settings) -> Self {
        Self {
            notify: services.notify.clone(),
            retention: services.retention.clone(),
            sweep_every: Duration::from_secs(
                settings
                    .user_data
                    .retention_sweep_minutes
                    .saturating_mul(60),
            ),
            last_sweep: Mutex::new(None),
        }
    }

    /// Sends the mails that are due, and sweeps when a sweep is due. Failures are
    /// logged; the next round tries again.
    pub fn run(&self) {
        if let Err(e) = self.notify.deliver_due() {
            tracing::error!(error = %e, "mail delivery could not run");
        }
        if self.sweep_due() {
            if let Err(e) = self.retention.sweep() {
                tracing::error!(error = %format!("{e:#}"), "the retention sweep failed");
            }
        }
    }

    /// Whether this worker should sweep now; takes the turn if so.
    fn sweep_due(&self) -> bool {
        let Ok(mut last) = self.last_sweep.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < self.sweep_every) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

fn work(
    engine: &ExportEngine,
    wakeup: &dyn ExportWakeup,
    stop: &AtomicBool,
    interval: Duration,
    owner: &str,
    housekeeping: &Housekeeping,
) {
    while !stop.load(Ordering::SeqCst) {
        let ran = match engine.run_next(owner, &NoProgress, stop) {
            Ok(Some(outcome)) => {
                log(&outcome);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the export queue could not be read");
                false
            }
        };
        housekeeping.run();
        if !ran {
            wakeup.wait(interval);
        }
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
