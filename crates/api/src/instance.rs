//! This process as a worker instance: registered in the database when its workers
//! start, kept alive by a heartbeat, retired when they stop. On start it declares dead
//! the instances of its own host whose process is gone and takes back their operations
//! at once, instead of waiting for their leases to run out; its heartbeat round declares
//! dead, on any host, the instances that stayed silent for longer than a lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use udd_adapters::system::{host_name, process_alive};
use udd_adapters::RandomIds;
use udd_ports::{Clock, ExportWakeup, WorkerInstance, WorkerInstances};

use crate::services::Services;
use crate::settings::Settings;

/// The instances this process registered.
static OURS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// This process's registration.
pub struct Instance {
    /// Who this process is; its workers' leases are `<id>/<n>`.
    pub me: WorkerInstance,
    instances: Arc<dyn WorkerInstances>,
    clock: Arc<dyn Clock>,
    wakeup: Arc<dyn ExportWakeup>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Instance {
    /// Registers a new instance for this process and takes over what the dead
    /// instances of this host held. A failure is logged: the workers still run, and
    /// a dead predecessor's operations come back when their leases run out.
    pub fn start(services: &Services, settings: &Settings) -> Self {
        let clock = Arc::clone(&services.clock);
        let id = RandomIds::random_string(17);
        if let Ok(mut ours) = OURS.lock() {
            ours.push(id.clone());
        }
        let me = WorkerInstance {
            id,
            host: host_name(),
            pid: std::process::id(),
            started_at: clock.now(),
        };
        let instance = Self {
            me,
            instances: Arc::clone(&services.instances),
            clock,
            wakeup: Arc::clone(&services.wakeup),
            metrics: Arc::clone(&services.metrics),
        };
        if let Err(e) = instance
            .instances
            .register(&instance.me, instance.clock.now())
        {
            tracing::error!(error = %e, "could not register this worker instance");
        }
        instance.take_over(Duration::from_secs(settings.user_data.lease_seconds));
        instance
    }

    /// Declares dead this host's instances whose process is gone (or whose pid is now
    /// this process's: a container restarted with the same pid), and every instance
    /// silent for longer than `lease`, releasing their operations.
    fn take_over(&self, lease: Duration) {
        let gone: Vec<String> = match self.instances.on_host(&self.me.host) {
            Ok(on_host) => on_host
                .into_iter()
                // Never one of this process's own (a process may run workers twice).
                .filter(|other| {
                    OURS.lock()
                        .map_or(other.id != self.me.id, |ours| !ours.contains(&other.id))
                })
                .filter(|other| other.pid == self.me.pid || !process_alive(other.pid))
                .map(|other| other.id)
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not list this host's worker instances");
                Vec::new()
            }
        };
        self.reap(&gone, lease);
    }

    fn reap(&self, gone: &[String], lease: Duration) {
        let now = self.clock.now();
        let silent_since =
            now - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        match self.instances.declare_dead(gone, silent_since, now) {
            Ok((dead, released)) if !dead.is_empty() => {
                tracing::warn!(instances = ?dead, released, "worker instances declared dead; their operations are free");
                self.metrics.took_over(released);
                if released > 0 {
                    self.wakeup.notify();
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not take over dead worker instances"),
        }
    }

    /// Renews this instance's heartbeat every third of `lease` until `stop` is set,
    /// and on each round declares dead the instances silent for longer than a lease.
    pub fn keep_alive(
        self: &Arc<Self>,
        stop: Arc<AtomicBool>,
        lease: Duration,
    ) -> Option<JoinHandle<()>> {
        let this = Arc::clone(self);
        let tick = (lease / 3).max(Duration::from_millis(100));
        std::thread::Builder::new()
            .name("instance-heartbeat".to_owned())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                loop {
                    // Woken early by `stop_heartbeat`, so a stop never waits for a tick.
                    std::thread::park_timeout(tick.saturating_sub(last.elapsed()));
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if last.elapsed() < tick {
                        continue;
                    }
                    last = std::time::Instant::now();
                    match this.instances.heartbeat(&this.me.id, this.clock.now()) {
                        Ok(true) => {}
                        // Declared dead while alive (paused for longer than a lease): the
                        // leases are gone and the workers' next writes fail; register again
                        // for the work to come.
                        Ok(false) => {
                            tracing::warn!(instance = %this.me.id, "this instance was declared dead; registering again");
                            if let Err(e) = this.instances.register(&this.me, this.clock.now()) {
                                tracing::error!(error = %e, "could not register this worker instance");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "worker heartbeat failed"),
                    }
                    this.reap(&[], lease);
                }
            })
            .map_err(|e| tracing::error!(error = %e, "could not start the worker heartbeat"))
            .ok()
    }

    /// Ends the heartbeat `keep_alive` started, once its `stop` flag is set: wakes it
    /// and waits for it.
    pub fn stop_heartbeat(heartbeat: Option<JoinHandle<()>>) {
        if let Some(heartbeat) = heartbeat {
            heartbeat.thread().unpark();
            let _ = heartbeat.join();
        }
    }

    /// Records a clean stop.
    pub fn retire(&self) {
        if let Err(e) = self.instances.retire(&self.me.id, self.clock.now()) {
            tracing::warn!(error = %e, "could not retire this worker instance");
        }
    }
}

/// Runs `work` (given its lease owner) as a worker instance of its own: registered,
/// kept alive and retired afterwards, as `udd worker` is. A foreground export killed
/// mid-way is then taken over as a worker's would be: at once by the next process
/// started on this host, after a lease by any other.
pub fn run_as_instance<T>(
    services: &Services,
    settings: &Settings,
    work: impl FnOnce(&str) -> T,
) -> T {
    let instance = Arc::new(Instance::start(services, settings));
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeat = instance.keep_alive(
        Arc::clone(&stop),
        Duration::from_secs(settings.user_data.lease_seconds),
    );
    let result = work(&instance.me.owner(0));
    stop.store(true, Ordering::SeqCst);
    Instance::stop_heartbeat(heartbeat);
    instance.retire();
    result
}
