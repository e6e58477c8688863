//! The processes that run export workers, registered in the database so that a process
//! restarting after a crash can tell at once that its predecessor is gone and take back
//! the operations it held, instead of waiting for their leases to run out.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// One process running export workers. Its workers hold leases as
/// `<id>/<worker number>` (see [`WorkerInstance::owner`]), which is how the leases of a
/// dead instance are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInstance {
    /// A random id, new for every start of a process (a plain name: letters and digits).
    pub id: String,
    /// The host name the process runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl WorkerInstance {
    /// The lease owner of worker `n` of this instance.
    pub fn owner(&self, n: usize) -> String {
        format!("{}/{n}", self.id)
    }

    /// Whether `owner` is a lease owner of the instance with id `instance`.
    pub fn owns(instance: &str, owner: &str) -> bool {
        owner
            .strip_prefix(instance)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The registry of worker instances. Declaring an instance dead releases every lease
/// its workers hold in the same transaction, so its operations can be claimed at once;
/// their progress writes stay fenced (a declared-dead worker that still runs can no
/// longer commit).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WorkerInstances: Send + Sync {
    /// Records `instance` as alive, with a heartbeat at `now`.
    ///
    /// Errors: `Unexpected` only.
    fn register(&self, instance: &WorkerInstance, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records that instance `id` is alive at `now`; `false` when it is unknown or was
    /// declared dead (its leases are gone; it should register again).
    ///
    /// Errors: `Unexpected` only.
    fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The instances on `host` not yet declared dead.
    ///
    /// Errors: `Unexpected` only.
    fn on_host(&self, host: &str) -> Result<Vec<WorkerInstance>, StoreError>;

    /// Declares dead the instances in `ids`, and every instance whose last heartbeat is
    /// older than `silent_since`, releasing the leases their workers hold; returns the
    /// ids declared dead and how many operations were released.
    ///
    /// Errors: `Unexpected` only.
    fn declare_dead(
        &self,
        ids: &[String],
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, usize), StoreError>;

    /// Records that instance `id` stopped cleanly (its workers released their
    /// operations themselves).
    ///
    /// Errors: `Unexpected` only.
    fn retire(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
}
