//! The engine itself: claiming an operation and walking it through its stages. The
//! stages' work lives beside it (`messages`, `package`), as do the lease keeping
//! (`lease`) and the retry rule (`retry`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_domain::render::channels_json_line;
use udd_domain::{ExportOperation, ExportStatus, OperationId, User};
use udd_ports::{
    ArchiveStore, BlobStore, Clock, ExportFiles, ExportProgress, ExportQueue, IdGenerator,
    Progress, StoreError, UserDataFile, Users, WorkspaceReader,
};

use super::error::{EngineError, Run, Step};
use super::package::Package;
use super::plan;

/// How the engine paces and bounds its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Messages per batch (`user_data.message_limit_per_request`).
    pub batch_size: u32,
    /// How long a claim lasts without renewal; a dead worker's operation is taken over
    /// once it runs out.
    pub lease: Duration,
    /// Attempts before an operation that keeps failing becomes `failed`.
    pub max_attempts: u32,
    /// Days a finished zip stays downloadable.
    pub retention_days: u32,
    /// Output gathered before one append-sync-commit. Larger means fewer syncs; a crash
    /// redoes at most this much.
    pub commit_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            lease: Duration::from_secs(60),
            max_attempts: 3,
            retention_days: 7,
            commit_bytes: 1 << 20,
        }
    }
}

/// The ports the engine drives.
#[derive(Clone)]
pub struct ExportPorts {
    /// Claiming and releasing operations.
    pub queue: Arc<dyn ExportQueue>,
    /// Durable progress.
    pub progress: Arc<dyn ExportProgress>,
    /// The requester's profile.
    pub users: Arc<dyn Users>,
    /// Rooms, messages, uploads, avatars.
    pub reader: Arc<dyn WorkspaceReader>,
    /// Upload and avatar bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The working folder.
    pub files: Arc<dyn ExportFiles>,
    /// Finished zips.
    pub archives: Arc<dyn ArchiveStore>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// File ids.
    pub ids: Arc<dyn IdGenerator>,
}

/// How handling one operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The zip is recorded and downloadable.
    Completed {
        /// The operation.
        operation_id: OperationId,
        /// The user data file.
        file: UserDataFile,
    },
    /// A failure; the operation will be retried later.
    Retrying {
        /// The operation.
        operation_id: OperationId,
        /// What went wrong.
        reason: String,
    },
    /// The operation gave up for good; its partial files are removed.
    Failed {
        /// The operation.
        operation_id: OperationId,
        /// Why.
        reason: String,
    },
    /// Started long ago and abandoned (Rocket.Chat's `skipped`).
    Skipped {
        /// The operation.
        operation_id: OperationId,
    },
    /// Another worker took the operation over; this one stopped touching it.
    LeaseLost {
        /// The operation.
        operation_id: OperationId,
    },
    /// Stopped on request (shutdown) between two batches; resumes later.
    Interrupted {
        /// The operation.
        operation_id: OperationId,
    },
}

/// Called with each operation the engine claims, before it works on it.
pub type ClaimHook = Arc<dyn Fn(&ExportOperation) + Send + Sync>;

/// Runs export operations.
#[derive(Clone)]
pub struct ExportEngine {
    pub(super) ports: ExportPorts,
    pub(super) config: EngineConfig,
    on_claim: Option<ClaimHook>,
}

impl ExportEngine {
    /// Builds the engine.
    pub fn new(ports: ExportPorts, config: EngineConfig) -> Self {
        Self {
            ports,
            config,
            on_claim: None,
        }
    }

    /// Calls `hook` with every operation this engine claims, as soon as it holds it
    /// (an operator's counters see an export start when it starts, not when it ends).
    pub fn on_claim(mut self, hook: ClaimHook) -> Self {
        self.on_claim = Some(hook);
        self
    }

    /// Claims the oldest waiting operation and handles it; `None` when there is none.
    pub fn run_next(
        &self,
        owner: &str,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> anyhow::Result<Option<Outcome>> {
        self.claim_and_handle(owner, progress, stop, |now, until| {
            self.ports.queue.claim_next(owner, now, until)
        })
    }

    /// Claims operation `id` and handles it; `None` when another worker holds it or it
    /// is already finished.
    pub fn run_operation(
        &self,
        id: &OperationId,
        owner: &str,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> anyhow::Result<Option<Outcome>> {
        self.claim_and_handle(owner, progress, stop, |now, until| {
            self.ports.queue.claim(id, owner, now, until)
        })
    }

    fn claim_and_handle(
        &self,
        owner: &str,
        progress: &dyn Progress,
        stop: &AtomicBool,
        claim: impl FnOnce(DateTime<Utc>, DateTime<Utc>) -> Result<Option<ExportOperation>, StoreError>,
    ) -> anyhow::Result<Option<Outcome>> {
        let now = self.ports.clock.now();
        let Some(operation) = claim(now, self.lease_until(now))? else {
            return Ok(None);
        };
        if let Some(hook) = &self.on_claim {
            hook(&operation);
        }
        Ok(Some(self.handle(operation, owner, progress, stop)))
    }

    fn handle(
        &self,
        mut operation: ExportOperation,
        owner: &str,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> Outcome {
        let id = operation.id.clone();
        let now = self.ports.clock.now();
        if operation.is_stale(now) {
            return match self.ports.queue.finish_unsuccessfully(
                &id,
                owner,
                ExportStatus::Skipped,
                "not updated for over a day",
                now,
            ) {
                Ok(()) => Outcome::Skipped { operation_id: id },
                Err(e) => self.retry_or_fail(&operation, owner, &anyhow::Error::new(e)),
            };
        }
        let lost = AtomicBool::new(false);
        let run = Run {
            owner,
            lost: &lost,
            stop,
            progress,
        };
        // A panic on a bad record fails this operation for good (a retry would meet the
        // same record); the worker lives on.
        let mut panicked = false;
        let result = self.with_heartbeat(&id, owner, &lost, || {
            crate::guard::catch_panic(|| self.process(&mut operation, &run)).unwrap_or_else(
                |panic| {
                    panicked = true;
                    Err(EngineError::Failed(anyhow::anyhow!(panic)))
                },
            )
        });
        match result {
            Ok(file) => {
                tracing::info!(operation = %id, file = %file.id, size = file.size, "export completed");
                Outcome::Completed {
                    operation_id: id,
                    file,
                }
            }
            Err(EngineError::LeaseLost) => {
                tracing::warn!(operation = %id, "lease lost; another worker has the operation");
                Outcome::LeaseLost { operation_id: id }
            }
            Err(EngineError::Stopped) => {
                if let Err(e) = self.ports.queue.pause(&id, owner) {
                    tracing::warn!(operation = %id, error = %e, "could not release the operation");
                }
                Outcome::Interrupted { operation_id: id }
            }
            Err(EngineError::Failed(err)) if panicked => {
                self.fail(&operation, owner, &format!("{err:#}"))
            }
            Err(EngineError::Failed(err)) => self.retry_or_fail(&operation, owner, &err),
        }
    }

    /// Walks the operation through its remaining stages.
    fn process(&self, op: &mut ExportOperation, run: &Run<'_>) -> Step<UserDataFile> {
        let user = self
            .ports
            .users
            .get(&op.user_id)
            .map_err(anyhow::Error::new)
            .context("loading the requester")?;
        self.adopt_folder(op, run)?;
        if op.cutoff.is_none() {
            self.plan(op, &user, run)?;
        }
        loop {
            run.check()?;
            match op.status {
                ExportStatus::ExportingRooms => {
                    self.write_channels(op)?;
                    self.advance(op, ExportStatus::Exporting, None, run)?;
                }
                ExportStatus::Exporting => {
                    let id = op.id.clone();
                    // The rest of the room files is still being compressed when the
                    // last batch is committed: the uploads are listed and the manifest
                    // written meanwhile, and the zip waits for both.
                    let package = self.compressing(&id, |compress| {
                        let described = self.export_messages(op, &user, run, compress)?;
                        self.advance(op, ExportStatus::Downloading, None, run)?;
                        self.advance(op, ExportStatus::Compressing, None, run)?;
                        self.list_package(op, &user, described, run)
                    })?;
                    self.package(op, package, run)?;
                }
                // Uploads are read from the blob store when the zip is written, so
                // there is nothing to copy here any more; the stage is kept for
                // Rocket.Chat's status sequence.
                ExportStatus::Downloading => {
                    self.advance(op, ExportStatus::Compressing, None, run)?
                }
                ExportStatus::Compressing => {
                    let package = self.list_package(op, &user, Vec::new(), run)?;
                    self.package(op, package, run)?;
                }
                ExportStatus::Uploading => return self.upload(op, &user, run),
                other => {
                    return Err(anyhow::anyhow!(
                        "an operation in status `{other}` cannot be processed"
                    )
                    .into())
                }
            }
        }
    }

    /// Writes the zip of `package` and moves on to recording it.
    fn package(&self, op: &mut ExportOperation, package: Package, run: &Run<'_>) -> Step<()> {
        let zip = self.write_zip(op, package, run)?;
        self.advance(op, ExportStatus::Uploading, Some(zip), run)
    }

    fn advance(
        &self,
        op: &mut ExportOperation,
        next: ExportStatus,
        archive_key: Option<String>,
        run: &Run<'_>,
    ) -> Step<()> {
        run.check()?;
        let now = self.ports.clock.now();
        op.move_to(next, now)?;
        self.ports
            .progress
            .set_status(&op.id, run.owner, next, archive_key.clone(), now)?;
        if archive_key.is_some() {
            op.archive_key = archive_key;
        }
        Ok(())
    }

    /// Fixes the cutoff and the room list.
    fn plan(&self, op: &mut ExportOperation, user: &User, run: &Run<'_>) -> Step<()> {
        let now = self.ports.clock.now();
        op.room_list = plan::room_list(self.ports.reader.as_ref(), user, op.full_export, now)?;
        op.cutoff = Some(now);
        if op.status == ExportStatus::Preparing {
            op.move_to(ExportStatus::Pending, now)?;
        }
        let next = if op.full_export {
            ExportStatus::ExportingRooms
        } else {
            ExportStatus::Exporting
        };
        op.move_to(next, now)?;
        run.check()?;
        self.ports.progress.start(op, run.owner)?;
        Ok(())
    }

    /// Makes the working folder this process's before anything is written to it. A
    /// folder this process did not write (missing here: the operation ran on another
    /// host; or left by a dead or paused process) is never trusted: the rooms start
    /// again from their beginning, recorded under this worker's lease before any file is
    /// written.
    fn adopt_folder(&self, op: &mut ExportOperation, run: &Run<'_>) -> Step<()> {
        if self.ports.files.adopt(&op.id)? {
            return Ok(());
        }
        if op.restart_room_files() {
            tracing::info!(operation = %op.id, status = %op.status, "working folder not found on this host or not written by this process; writing the rooms again");
            run.check()?;
            op.updated_at = self.ports.clock.now();
            self.ports.progress.start(op, run.owner)?;
        }
        Ok(())
    }

    fn write_channels(&self, op: &ExportOperation) -> Step<()> {
        let text: String = op
            .room_list
            .iter()
            .map(|room| channels_json_line(&room.room_id, &room.room_name, room.room_type.code()))
            .collect();
        Ok(self
            .ports
            .files
            .write(&op.id, "channels.json", text.as_bytes())?)
    }
}
