//! The export workers: threads that take queued operations and run them, waking every
//! `user_data.processing_frequency` and at once when a request is made in this process.
//! Between exports the workers keep house: whichever worker ends an export sends the
//! mail its owner is owed at once, every worker sends retries that fell due when it
//! wakes, and one of them runs the retention sweep every
//! `user_data.retention_sweep_minutes`.
//!
//! No record can stop them: a panic inside one export or one mail is caught and
//! recorded against it, and a supervisor thread restarts any worker thread that exits
//! all the same. [`WorkerHealth`] tells `/health` how many are alive.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::instance::Instance;
use udd_app::{catch_panic, ExportEngine, NotifyOwners, Outcome, Retention};
use udd_domain::time::retry_delay;
use udd_domain::OperationId;
use udd_ports::{ExportFiles, ExportWakeup, NoProgress, OperationAdmin, Singleton};

use crate::services::Services;
use crate::settings::Settings;

/// How many export workers this process should have and how many are alive; shared
/// with `/health`, which reads it without touching the database.
#[derive(Debug, Default)]
pub struct WorkerHealth {
    expected: AtomicUsize,
    alive: AtomicUsize,
    last_death: Mutex<Option<String>>,
}

impl WorkerHealth {
    /// Why the process cannot export, or `None` while at least one worker it should
    /// have is alive (or it should have none, as a pure API server).
    pub fn problem(&self) -> Option<String> {
        let expected = self.expected.load(Ordering::SeqCst);
        if expected == 0 || self.alive.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = self
            .last_death
            .lock()
            .ok()
            .and_then(|last| last.clone())
            .map(|why| format!(": the last one died of {why}"))
            .unwrap_or_default();
        Some(format!("no export worker is alive (0 of {expected}){last}"))
    }

    /// Workers alive and workers expected.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.alive.load(Ordering::SeqCst),
            self.expected.load(Ordering::SeqCst),
        )
    }

    fn died(&self, why: String) {
        if let Ok(mut last) = self.last_death.lock() {
            *last = Some(why);
        }
    }
}

/// Counts a worker thread as alive from its spawning until it ends, by unwinding too.
struct Alive(Arc<WorkerHealth>);

impl Alive {
    fn new(health: Arc<WorkerHealth>) -> Self {
        health.alive.fetch_add(1, Ordering::SeqCst);
        Self(health)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps `count` threads running `body(n)` until `stop` is set: a thread that exits
/// (by a panic or otherwise) is restarted after a pause that doubles while it keeps
/// dying, from one second up to a minute.
struct Supervisor {
    thread: JoinHandle<()>,
}

impl Supervisor {
    fn start<F>(
        count: usize,
        stop: Arc<AtomicBool>,
        health: Arc<WorkerHealth>,
        body: F,
    ) -> std::io::Result<Self>
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        health.expected.store(count, Ordering::SeqCst);
        let body = Arc::new(body);
        let spawn = {
            let health = Arc::clone(&health);
            move |n: usize| {
                let body = Arc::clone(&body);
                // Counted before the thread runs, so `/health` never sees a gap.
                let alive = Alive::new(Arc::clone(&health));
                std::thread::Builder::new()
                    .name(format!("export-worker-{n}"))
                    .spawn(move || {
                        let _alive = alive;
                        body(n);
                    })
            }
        };
        // The first workers start here, before `start` returns: a `/health` asked
        // right after start-up sees them alive.
        let first: Vec<_> = (0..count)
            .map(|n| start_worker(n, &spawn, &health))
            .collect();
        let thread = std::thread::Builder::new()
            .name("export-supervisor".to_owned())
            .spawn(move || supervise(first, &stop, &health, spawn))?;
        Ok(Self { thread })
    }
}

/// One worker slot: its thread (none while waiting to restart), and its restart history.
struct Slot {
    thread: Option<JoinHandle<()>>,
    deaths: u32,
    restart_at: Option<Instant>,
}

/// Starts worker `n`; a failed start is logged and reported to `health`.
fn start_worker(
    n: usize,
    spawn: &impl Fn(usize) -> std::io::Result<JoinHandle<()>>,
    health: &WorkerHealth,
) -> Option<JoinHandle<()>> {
    spawn(n)
        .map_err(|e| {
            tracing::error!(worker = n, error = %e, "could not start a worker");
            health.died(format!("a failed start: {e}"));
        })
        .ok()
}

fn supervise(
    first: Vec<Option<JoinHandle<()>>>,
    stop: &AtomicBool,
    health: &WorkerHealth,
    spawn: impl Fn(usize) -> std::io::Result<JoinHandle<()>>,
) {
    let start = |n: usize| start_worker(n, &spawn, health);
    let mut slots: Vec<Slot> = first
        .into_iter()
        .map(|thread| Slot {
            thread,
            deaths: 0,
            restart_at: None,
        })
        .collect();
    // A worker that could not even start is retried like one that died.
    for slot in slots.iter_mut().filter(|s| s.thread.is_none()) {
        slot.deaths = 1;
        slot.restart_at = Some(Instant::now() + Duration::from_secs(1));
    }
    while !stop.load(Ordering::SeqCst) {
        for (n, slot) in slots.iter_mut().enumerate() {
            if slot.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                let why = match slot.thread.take().map(JoinHandle::join) {
                    Some(Err(panic)) => udd_app::guard::panic_message(panic.as_ref()),
                    _ => "an unexpected exit".to_owned(),
                };
                slot.deaths += 1;
                let pause =
                    retry_delay(Duration::from_secs(1), Duration::from_secs(60), slot.deaths);
                tracing::error!(worker = n, error = %why, restart_in = ?pause, "an export worker died; restarting it");
                health.died(why);
                slot.restart_at = Some(Instant::now() + pause);
            }
            if slot.restart_at.is_some_and(|at| at <= Instant::now()) {
                slot.restart_at = None;
                slot.thread = start(n);
                if slot.thread.is_none() {
                    slot.deaths += 1;
                    slot.restart_at = Some(Instant::now() + Duration::from_secs(5));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for thread in slots.into_iter().filter_map(|s| s.thread) {
        let _ = thread.join();
    }
}

/// Running worker threads.
pub struct Workers {
    stop: Arc<AtomicBool>,
    wakeup: Arc<dyn ExportWakeup>,
    supervisor: Option<Supervisor>,
    instance: Arc<Instance>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Workers {
    /// Starts `user_data.workers` threads under a supervisor, reporting to
    /// `services.worker_health`.
    pub fn start(services: &Services, settings: &Settings) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = settings.user_data.processing_interval();
        // Leases name the instance and the thread, so those of a dead process are found.
        let instance = Arc::new(Instance::start(services, settings));
        let housekeeping = Arc::new(Housekeeping::new(services, settings));
        let engine = services.engine.clone();
        let wakeup = Arc::clone(&services.wakeup);
        let count = settings.user_data.workers as usize;
        let body = {
            let stop = Arc::clone(&stop);
            let wakeup = Arc::clone(&wakeup);
            let instance = Arc::clone(&instance);
            move |n: usize| {
                let owner = instance.me.owner(n);
                work(
                    &engine,
                    wakeup.as_ref(),
                    &stop,
                    interval,
                    &owner,
                    &housekeeping,
                );
            }
        };
        let supervisor = Supervisor::start(
            count,
            Arc::clone(&stop),
            Arc::clone(&services.worker_health),
            body,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "could not start the worker supervisor");
            services
                .worker_health
                .died(format!("a supervisor that could not start: {e}"));
        })
        .ok();
        tracing::info!(workers = count, every = ?interval, instance = %instance.me.id, "export workers started");
        let heartbeat = instance.keep_alive(
            Arc::clone(&stop),
            Duration::from_secs(settings.user_data.lease_seconds),
        );
        Self {
            stop,
            wakeup,
            supervisor,
            instance,
            heartbeat,
        }
    }

    /// Asks the workers to stop after their current batch, and waits for them (at most
    /// [`SHUTDOWN_GRACE`]). An interrupted operation is released and resumes later
    /// exactly where it stopped.
    pub fn shutdown(self) {
        self.shutdown_within(SHUTDOWN_GRACE);
    }

    /// [`Workers::shutdown`], waiting at most `grace`. Workers stop between batches,
    /// within a second or so; one still busy after `grace` is blocked, usually on a
    /// database that cannot be reached (every call waits out the pool's connection
    /// timeout). The process then ends without it: what it held is taken back as
    /// after a crash (at once by the next process on this host, after the lease by
    /// any other), and nothing committed is lost.
    pub fn shutdown_within(self, grace: Duration) {
        let Self {
            stop,
            wakeup,
            supervisor,
            instance,
            heartbeat,
        } = self;
        stop.store(true, Ordering::SeqCst);
        let stopped = finish_within(grace, move || {
            if let Some(supervisor) = supervisor {
                // Each notification wakes one waiting worker; keep ringing until all are out.
                while !supervisor.thread.is_finished() {
                    wakeup.notify();
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = supervisor.thread.join();
            }
            Instance::stop_heartbeat(heartbeat);
            instance.retire();
        });
        if stopped {
            tracing::info!("export workers stopped");
        } else {
            tracing::warn!(
                grace = ?grace,
                "export workers did not stop in time (can the database be reached?); \
                 their operations resume as after a crash"
            );
        }
    }
}

/// How long a stopping process waits for its workers (a container runtime usually
/// kills a process 10 s after asking it to stop).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Runs `work` on a thread of its own and waits at most `grace` for it; whether it
/// finished. A thread still running is left behind (the process is ending).
fn finish_within(grace: Duration, work: impl FnOnce() + Send + 'static) -> bool {
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("udd-shutdown".into())
        .spawn(move || {
            work();
            let _ = done.send(());
        });
    match spawned {
        Ok(thread) => {
            let in_time = finished.recv_timeout(grace).is_ok();
            if in_time {
                let _ = thread.join();
            }
            in_time
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not wait for the workers to stop");
            false
        }
    }
}

/// Mail and retention, run between exports by the workers of a process.
pub struct Housekeeping {
    singleton: Arc<dyn Singleton>,
    notify: NotifyOwners,
    retention: Retention,
    sweep_every: Duration,
    /// When this process last swept; shared so the workers take turns.
    last_sweep: Mutex<Option<Instant>>,
    metrics: Arc<crate::metrics::Metrics>,
    admin: Arc<dyn OperationAdmin>,
    working: Arc<dyn ExportFiles>,
}

impl Housekeeping {
    /// Housekeeping on the app's services.
    pub fn new(services: &Services, settings: &Settings) -> Self {
        Self {
            singleton: services.singleton.clone(),
            notify: services.notify.clone(),
            retention: services.retention.clone(),
            sweep_every: Duration::from_secs(
                settings
                    .user_data
                    .retention_sweep_minutes
                    .saturating_mul(60),
            ),
            last_sweep: Mutex::new(None),
            metrics: Arc::clone(&services.metrics),
            admin: Arc::clone(&services.admin),
            working: Arc::clone(&services.working),
        }
    }

    /// After a worker lost an operation: when it was not taken over but ended (an
    /// operator cancelled it), its working folder on this host goes now.
    fn after_lease_lost(&self, id: &OperationId) {
        match self.admin.line(id) {
            Ok(line) if line.status.is_terminal() => {
                if let Err(e) = self.working.remove_all(id) {
                    tracing::warn!(operation = %id, error = %e, "could not remove the working folder");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(operation = %id, error = %e, "could not read the operation"),
        }
    }

    /// Sends the mails that are due, and sweeps when a sweep is due. Failures, panics
    /// included, are logged; the next round tries again.
    ///
    /// Each runs in one process at a time among those sharing the database
    /// ([`Singleton`]): a process that finds another at it passes this round.
    pub fn run(&self) {
        let mut deliver = || match catch_panic(|| self.notify.deliver_due()) {
            Ok(Ok(report)) => self.metrics.mailed(&report),
            Ok(Err(e)) => tracing::error!(error = %e, "mail delivery could not run"),
            Err(panic) => tracing::error!(error = %panic, "mail delivery could not run"),
        };
        if let Err(e) = self.singleton.try_run("mail", &mut deliver) {
            tracing::error!(error = %e, "mail delivery could not run");
        }
        if self.sweep_due() {
            let mut sweep = || match catch_panic(|| self.retention.sweep()) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %format!("{e:#}"), "the retention sweep failed")
                }
                Err(panic) => tracing::error!(error = %panic, "the retention sweep failed"),
            };
            match self.singleton.try_run("retention", &mut sweep) {
                Ok(true) => {}
                Ok(false) => tracing::debug!("another process is sweeping"),
                Err(e) => tracing::error!(error = %e, "the retention sweep could not run"),
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
    // Every line this worker logs names it (`<instance>/<n>`, the lease owner).
    let _span = tracing::info_span!("worker", worker_id = %owner).entered();
    while !stop.load(Ordering::SeqCst) {
        let began = Instant::now();
        let ran = match catch_panic(|| engine.run_next(owner, &NoProgress, stop)) {
            Ok(Ok(Some(outcome))) => {
                log(&outcome);
                housekeeping
                    .metrics
                    .handled(&outcome, began.elapsed().as_secs_f64());
                if let Outcome::LeaseLost { operation_id } = &outcome {
                    housekeeping.after_lease_lost(operation_id);
                }
                true
            }
            Ok(Ok(None)) => false,
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "the export queue could not be read");
                false
            }
            Err(panic) => {
                tracing::error!(error = %panic, "the export queue could not be read");
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
            tracing::info!(operation = %operation_id, archive = %file.key, "export finished")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out: {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_worker_that_dies_is_restarted_and_health_says_so_meanwhile() {
        let stop = Arc::new(AtomicBool::new(false));
        let health = Arc::new(WorkerHealth::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let body = {
            let (stop, runs) = (Arc::clone(&stop), Arc::clone(&runs));
            move |_n: usize| {
                // The first two runs die; the third one works until stopped.
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("a bad record");
                }
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        let supervisor =
            Supervisor::start(1, Arc::clone(&stop), Arc::clone(&health), body).unwrap();

        wait_until("the first death is seen", || {
            health.problem().is_some_and(|p| p.contains("a bad record"))
        });
        let problem = health.problem().unwrap();
        assert!(
            problem.contains("no export worker is alive (0 of 1)"),
            "{problem}"
        );
        assert!(problem.contains("a bad record"), "{problem}");
        wait_until("the third run is alive", || {
            runs.load(Ordering::SeqCst) == 3 && health.counts() == (1, 1)
        });
        assert_eq!(health.problem(), None);

        stop.store(true, Ordering::SeqCst);
        wait_until("the supervisor ends", || supervisor.thread.is_finished());
        assert_eq!(health.counts(), (0, 1));
    }

    #[test]
    fn a_process_without_workers_is_healthy() {
        assert_eq!(WorkerHealth::default().problem(), None);
    }

    #[test]
    fn waiting_for_stopping_work_ends_at_the_grace_or_when_it_is_done() {
        assert!(finish_within(Duration::from_secs(30), || {}));
        let began = Instant::now();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        // Work that never ends by itself (a call stuck on an unreachable database).
        assert!(!finish_within(Duration::from_millis(100), move || {
            let _ = blocked.recv();
        }));
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "waited {:?}",
            began.elapsed()
        );
        drop(release);
    }
}
