//! Running one operation from wherever it stands to a finished zip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_domain::render::{
    channels_json_line, index_html, render_html, render_json_line, room_page_footer,
    room_page_header, user_html, user_json, zip_file_name, AttachedFile, IndexRoom, Manifest,
    ManifestFile, ManifestRoom, Pseudonyms, RenderedMessage, MANIFEST_FORMAT_VERSION,
};
use udd_domain::time::retry_delay;
use udd_domain::{
    ExportOperation, ExportPaths, ExportStatus, Message, MessageCursor, RoomExportStatus, Upload,
    User,
};
use udd_ports::{
    ArchiveEntry, ArchiveSource, ArchiveStore, BlobStore, Clock, ExportBatch, ExportFileRef,
    ExportFiles, ExportProgress, ExportQueue, IdGenerator, Progress, StoreError, UserDataFile,
    Users, WorkspaceReader,
};

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
        operation_id: String,
        /// The user data file.
        file: UserDataFile,
    },
    /// A failure; the operation will be retried later.
    Retrying {
        /// The operation.
        operation_id: String,
        /// What went wrong.
        reason: String,
    },
    /// The operation gave up for good; its partial files are removed.
    Failed {
        /// The operation.
        operation_id: String,
        /// Why.
        reason: String,
    },
    /// Started long ago and abandoned (Rocket.Chat's `skipped`).
    Skipped {
        /// The operation.
        operation_id: String,
    },
    /// Another worker took the operation over; this one stopped touching it.
    LeaseLost {
        /// The operation.
        operation_id: String,
    },
    /// Stopped on request (shutdown) between two batches; resumes later.
    Interrupted {
        /// The operation.
        operation_id: String,
    },
}

/// Marks an error as "the lease is gone": stop without touching the operation again.
#[derive(Debug, thiserror::Error)]
#[error("the lease on the operation was lost")]
struct LeaseLost;

/// Marks an error as "asked to stop".
#[derive(Debug, thiserror::Error)]
#[error("stopped on request")]
struct Stopped;

fn store(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::Conflict(_) => anyhow::Error::new(LeaseLost),
        other => anyhow::Error::new(other),
    }
}

/// Runs export operations.
#[derive(Clone)]
pub struct ExportEngine {
    ports: ExportPorts,
    config: EngineConfig,
}

/// What one run of one operation shares between its steps.
struct Run<'a> {
    owner: &'a str,
    lost: &'a AtomicBool,
    stop: &'a AtomicBool,
    progress: &'a dyn Progress,
}

impl Run<'_> {
    fn check(&self) -> anyhow::Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(LeaseLost.into());
        }
        if self.stop.load(Ordering::SeqCst) {
            return Err(Stopped.into());
        }
        Ok(())
    }
}

impl ExportEngine {
    /// Builds the engine.
    pub fn new(ports: ExportPorts, config: EngineConfig) -> Self {
        Self { ports, config }
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(60))
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
        id: &str,
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
                    Err(anyhow::anyhow!(panic))
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
            Err(err) if err.is::<LeaseLost>() => {
                tracing::warn!(operation = %id, "lease lost; another worker has the operation");
                Outcome::LeaseLost { operation_id: id }
            }
            Err(err) if err.is::<Stopped>() => {
                if let Err(e) = self.ports.queue.pause(&id, owner) {
                    tracing::warn!(operation = %id, error = %e, "could not release the operation");
                }
                Outcome::Interrupted { operation_id: id }
            }
            Err(err) if panicked => self.fail(&operation, owner, &format!("{err:#}")),
            Err(err) => self.retry_or_fail(&operation, owner, &err),
        }
    }

    /// Renews the lease every third of its length while `work` runs, and flags `lost`
    /// if renewal fails, so the work stops before its next write.
    fn with_heartbeat<T>(
        &self,
        id: &str,
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
                            tracing::warn!(operation = id, error = %e, "lease renewal failed")
                        }
                    }
                }
            });
            let result = work();
            drop(done);
            result
        })
    }

    fn retry_or_fail(
        &self,
        operation: &ExportOperation,
        owner: &str,
        err: &anyhow::Error,
    ) -> Outcome {
        let id = operation.id.clone();
        let reason = format!("{err:#}");
        let now = self.ports.clock.now();
        if operation.attempts >= self.config.max_attempts {
            let reason = format!("gave up after {} attempts: {reason}", operation.attempts);
            return self.fail(operation, owner, &reason);
        }
        // 10 s after the first failure, doubling, at most about 21 minutes.
        let backoff = chrono::Duration::from_std(retry_delay(
            Duration::from_secs(10),
            Duration::from_secs(1280),
            operation.attempts,
        ))
        .unwrap_or(chrono::Duration::minutes(20));
        tracing::warn!(operation = %id, attempt = operation.attempts, retry_in = %backoff, error = %reason, "export attempt failed");
        if let Err(e) = self.ports.queue.release(&id, owner, now + backoff, &reason) {
            tracing::error!(operation = %id, error = %e, "could not release the operation");
        }
        Outcome::Retrying {
            operation_id: id,
            reason,
        }
    }

    /// Ends the operation as failed for `reason` and removes what it wrote.
    fn fail(&self, operation: &ExportOperation, owner: &str, reason: &str) -> Outcome {
        let id = operation.id.clone();
        tracing::error!(operation = %id, attempts = operation.attempts, error = %reason, "export failed");
        match self.ports.queue.finish_unsuccessfully(
            &id,
            owner,
            ExportStatus::Failed,
            reason,
            self.ports.clock.now(),
        ) {
            Err(StoreError::Conflict(_)) => {
                // Another worker has it now: its files are not ours to remove.
                tracing::warn!(operation = %id, "lease lost before the operation could be marked failed");
                return Outcome::LeaseLost { operation_id: id };
            }
            Err(e) => {
                tracing::error!(operation = %id, error = %e, "could not mark the operation failed")
            }
            Ok(()) => {}
        }
        // The working folder and any zip go: a failed export leaves nothing behind
        // (what a crash keeps from here is swept by retention).
        if let Err(e) = self.ports.files.remove_all(&operation.paths) {
            tracing::warn!(operation = %id, error = %e, "could not remove the working folder");
        }
        if let Some(zip) = &operation.generated_file {
            if let Err(e) = self.ports.archives.remove(zip) {
                tracing::warn!(operation = %id, error = %e, "could not remove the zip");
            }
        }
        Outcome::Failed {
            operation_id: id,
            reason: reason.to_owned(),
        }
    }

    /// Walks the operation through its remaining stages.
    fn process(&self, op: &mut ExportOperation, run: &Run<'_>) -> anyhow::Result<UserDataFile> {
        let user = self
            .ports
            .users
            .get(&op.user_id)
            .map_err(anyhow::Error::new)
            .context("loading the requester")?;
        if op.cutoff.is_none() {
            self.plan(op, &user, run)?;
        }
        loop {
            run.check()?;
            match op.status {
                ExportStatus::ExportingRooms => {
                    self.write_channels(op)?;
                    self.ports.files.sync(&op.paths)?;
                    self.advance(op, ExportStatus::Exporting, None, run)?;
                }
                ExportStatus::Exporting => {
                    let cutoff = op.cutoff.context("the cutoff is fixed before exporting")?;
                    let (paths, id) = (op.paths.clone(), op.id.clone());
                    self.compressing(paths, id, cutoff, |finished| {
                        self.export_messages(op, &user, run, finished)?;
                        self.ports.files.sync(&op.paths)?;
                        self.advance(op, ExportStatus::Downloading, None, run)?;
                        self.advance(op, ExportStatus::Compressing, None, run)
                    })?;
                }
                // Uploads are read from the blob store when the zip is written, so
                // there is nothing to copy here any more; the stage is kept for
                // Rocket.Chat's status sequence.
                ExportStatus::Downloading => {
                    self.advance(op, ExportStatus::Compressing, None, run)?
                }
                ExportStatus::Compressing => {
                    let zip = self.compress(op, &user, run)?;
                    self.advance(op, ExportStatus::Uploading, Some(zip), run)?;
                }
                ExportStatus::Uploading => return self.upload(op, &user, run),
                other => anyhow::bail!("an operation in status `{other}` cannot be processed"),
            }
        }
    }

    fn advance(
        &self,
        op: &mut ExportOperation,
        next: ExportStatus,
        zip: Option<String>,
        run: &Run<'_>,
    ) -> anyhow::Result<()> {
        run.check()?;
        let now = self.ports.clock.now();
        op.move_to(next, now)?;
        self.ports
            .progress
            .set_status(&op.id, run.owner, next, zip.clone(), now)
            .map_err(store)?;
        if zip.is_some() {
            op.generated_file = zip;
        }
        Ok(())
    }

    /// Fixes the cutoff and the room list.
    fn plan(&self, op: &mut ExportOperation, user: &User, run: &Run<'_>) -> anyhow::Result<()> {
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
        self.ports.progress.start(op, run.owner).map_err(store)?;
        Ok(())
    }

    fn write_channels(&self, op: &ExportOperation) -> anyhow::Result<()> {
        let text: String = op
            .room_list
            .iter()
            .map(|room| channels_json_line(&room.room_id, &room.room_name, room.room_type.code()))
            .collect();
        self.ports
            .files
            .write(&op.paths, "channels.json", text.as_bytes())
    }

    /// Runs `work` with a second thread that compresses each room file sent to it, so
    /// finished rooms are deflated while the next ones are exported and the uploads
    /// copied; the zip stage then reuses that work. A failure on that thread costs only
    /// time: the zip stage compresses whatever is not ready.
    fn compressing<T>(
        &self,
        paths: ExportPaths,
        id: String,
        cutoff: DateTime<Utc>,
        work: impl FnOnce(&mpsc::Sender<String>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let archives = &self.ports.archives;
        let (finished, to_compress) = mpsc::channel::<String>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for entry in to_compress {
                    if let Err(e) = archives.prepare(&paths, &entry, &id, cutoff) {
                        tracing::debug!(entry = %entry, error = %e, "compressing ahead failed");
                    }
                }
            });
            // The sender is dropped as soon as `work` ends, whichever way it ends, which
            // lets the compressing thread finish and the scope close.
            let sender = finished;
            let result = work(&sender);
            drop(sender);
            result
        })
    }

    fn export_messages(
        &self,
        op: &mut ExportOperation,
        user: &User,
        run: &Run<'_>,
        finished: &mpsc::Sender<String>,
    ) -> anyhow::Result<()> {
        let (done, total) = op.message_progress();
        run.progress.start("messages", Some(total));
        run.progress.set(done);
        let mut pseudonyms = Pseudonyms::new(
            &user.username,
            self.ports.progress.pseudonyms(&op.id).map_err(store)?,
        );
        let mut written = done;
        for index in 0..op.room_list.len() {
            if op.room_list[index].status == RoomExportStatus::Completed {
                continue;
            }
            while op.room_list[index].status != RoomExportStatus::Completed {
                run.check()?;
                written += self.export_batch(op, index, &mut pseudonyms, run)?;
                run.progress.set(written);
            }
            let _ = finished.send(op.room_list[index].target_file.clone());
        }
        run.progress.finish(&format!(
            "{written} messages in {} rooms",
            op.room_list.len()
        ));
        Ok(())
    }

    /// Reads, writes and commits the next batches of room `index`: pages of
    /// `batch_size` messages are rendered until `commit_bytes` of output (or the end of
    /// the room), then appended, synced and committed together. Returns how many
    /// messages were committed.
    fn export_batch(
        &self,
        op: &mut ExportOperation,
        index: usize,
        pseudonyms: &mut Pseudonyms,
        run: &Run<'_>,
    ) -> anyhow::Result<u64> {
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before messages are exported")?;
        let full = op.full_export;
        let mut room = op.room_list[index].clone();
        let mut bytes = String::new();
        if !full && room.file_length == 0 && room.cursor.is_none() {
            bytes.push_str(&room_page_header(&room.room_name));
        }
        let mut files = Vec::new();
        let mut count = 0_u64;
        loop {
            run.check()?;
            let page = self
                .ports
                .reader
                .messages_page(
                    &room.room_id,
                    cutoff,
                    room.cursor.clone(),
                    self.config.batch_size,
                )
                .map_err(store)?;
            for message in &page {
                let file = self.attached_file(op, message)?;
                let rendered = RenderedMessage::new(message, file.as_ref(), pseudonyms);
                if full {
                    render_json_line(&rendered, &mut bytes);
                } else {
                    bytes.push_str(&render_html(&rendered, file.as_ref()));
                }
                if let Some(file) = file {
                    files.push(ExportFileRef {
                        file_id: file.id,
                        name: file.name,
                        asset: file.asset,
                    });
                }
            }
            count += page.len() as u64;
            if let Some(last) = page.last() {
                room.cursor = Some(MessageCursor::after(last));
            }
            if page.len() < self.config.batch_size as usize {
                room.status = RoomExportStatus::Completed;
                if !full {
                    bytes.push_str(room_page_footer());
                }
                break;
            }
            room.status = RoomExportStatus::Exporting;
            if bytes.len() >= self.config.commit_bytes {
                break;
            }
        }
        run.check()?;
        room.file_length = self.ports.files.append(
            &op.paths,
            &room.target_file,
            room.file_length,
            bytes.as_bytes(),
        )?;
        room.exported_count += count;
        let now = self.ports.clock.now();
        let batch = ExportBatch {
            room_index: index,
            room: room.clone(),
            pseudonyms: pseudonyms.take_fresh(),
            files,
        };
        self.ports
            .progress
            .commit_batch(&op.id, run.owner, &batch, now)
            .map_err(store)?;
        op.room_list[index] = room;
        op.updated_at = now;
        Ok(count)
    }

    /// The upload a message carries, named for `assets/`. An upload this export may
    /// not carry (see [`Upload::may_export`]) is named from the message alone and
    /// later listed as unavailable, like one whose record is gone.
    fn attached_file(
        &self,
        op: &ExportOperation,
        message: &Message,
    ) -> anyhow::Result<Option<AttachedFile>> {
        let Some(file_id) = &message.file_id else {
            return Ok(None);
        };
        let file = match self.exportable_upload(op, file_id)? {
            Some(upload) => {
                AttachedFile::new(file_id, &upload.name, upload.content_type.as_deref())
            }
            None => {
                let title = message
                    .attachments
                    .as_ref()
                    .and_then(|a| a[0]["title"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| file_id.clone());
                AttachedFile::new(file_id, &title, None)
            }
        };
        Ok(Some(file))
    }

    /// Upload `file_id`, if it exists and this export may carry it.
    fn exportable_upload(
        &self,
        op: &ExportOperation,
        file_id: &str,
    ) -> anyhow::Result<Option<Upload>> {
        match self.ports.reader.upload(file_id) {
            Ok(upload)
                if upload
                    .may_export(&op.user_id, op.room_list.iter().map(|r| r.room_id.as_str())) =>
            {
                Ok(Some(upload))
            }
            Ok(upload) => {
                tracing::warn!(
                    operation = %op.id, file = %file_id, room = ?upload.room_id,
                    "a message names an upload from outside the export's rooms; left out"
                );
                Ok(None)
            }
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(store(other)),
        }
    }

    /// Copies every upload met into `assets/`; missing ones are left out and reported.
    /// Writes the profile files, the avatar, the index and the manifest, then the zip.
    fn compress(&self, op: &ExportOperation, user: &User, run: &Run<'_>) -> anyhow::Result<String> {
        run.progress.start("zip", None);
        let files = &self.ports.files;
        let has_avatar = self.copy_avatar(op, user)?;
        // Uploads go into the zip straight from the blob store; the manifest needs
        // their size and hash, and the index which ones are there.
        let mut assets = Vec::new();
        let mut unavailable = Vec::new();
        if !has_avatar {
            unavailable.push("avatar: none was available".to_owned());
        }
        for upload in self.ports.progress.files(&op.id).map_err(store)? {
            match self.asset_blob(op, &upload)? {
                Some((key, (size, sha256))) => assets.push((upload, key, size, sha256)),
                None => unavailable.push(format!(
                    "upload {} ({}): the file was not available",
                    upload.file_id, upload.name
                )),
            }
        }
        if op.full_export {
            files.write(&op.paths, "user.json", user_json(user).as_bytes())?;
        } else {
            files.write(
                &op.paths,
                "user.html",
                user_html(user, has_avatar).as_bytes(),
            )?;
            let rooms: Vec<IndexRoom> = op
                .room_list
                .iter()
                .map(|r| IndexRoom {
                    name: r.room_name.clone(),
                    room_type: r.room_type.code().to_owned(),
                    file: r.target_file.clone(),
                    messages: r.exported_count,
                })
                .collect();
            let images: Vec<(String, String)> = assets
                .iter()
                .filter(|(upload, ..)| is_image_name(&upload.asset))
                .map(|(upload, ..)| (upload.asset.clone(), upload.name.clone()))
                .collect();
            let index = index_html(user, has_avatar, &rooms, &images, &unavailable);
            files.write(&op.paths, "index.html", index.as_bytes())?;
        }
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before compressing")?;
        // A manifest left by an interrupted attempt is not part of its own listing.
        let mut listed: Vec<(ManifestFile, ArchiveSource)> = files
            .list(&op.paths)?
            .into_iter()
            .filter(|f| f.path != "manifest.json")
            .map(|f| {
                let source = ArchiveSource::Working(f.path.clone());
                (f, source)
            })
            .collect();
        for (upload, key, size, sha256) in assets {
            let file = ManifestFile {
                path: format!("assets/{}", upload.asset),
                size,
                sha256,
            };
            listed.push((file, ArchiveSource::Blob(key)));
        }
        listed.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let manifest = Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            kind: if op.full_export { "full" } else { "personal" },
            user_id: user.id.clone(),
            username: user.username.clone(),
            cutoff: udd_domain::time::iso_millis(cutoff),
            rooms: op
                .room_list
                .iter()
                .map(|r| ManifestRoom {
                    room_id: r.room_id.clone(),
                    room_name: r.room_name.clone(),
                    room_type: r.room_type.code().to_owned(),
                    file: r.target_file.clone(),
                    messages: r.exported_count,
                })
                .collect(),
            files: listed.iter().map(|(f, _)| f.clone()).collect(),
            unavailable,
        };
        files.write(&op.paths, "manifest.json", manifest.to_json().as_bytes())?;
        let mut entries = vec![ArchiveEntry {
            name: "manifest.json".to_owned(),
            source: ArchiveSource::Working("manifest.json".to_owned()),
        }];
        entries.extend(listed.into_iter().map(|(f, source)| ArchiveEntry {
            name: f.path,
            source,
        }));
        run.check()?;
        let zip = self
            .ports
            .archives
            .store(&op.paths, &entries, &op.id, cutoff)?;
        run.progress.finish("zip written");
        Ok(zip)
    }

    /// The blob key, size and hash of an upload, or `None` when its bytes are gone or
    /// cannot be read: one unreadable file is listed as unavailable rather than failing
    /// the whole export.
    fn asset_blob(
        &self,
        op: &ExportOperation,
        upload: &ExportFileRef,
    ) -> anyhow::Result<Option<(String, (u64, String))>> {
        let key = self
            .exportable_upload(op, &upload.file_id)?
            .and_then(|found| found.blob);
        let Some(key) = key else { return Ok(None) };
        match self.ports.blobs.describe(&key) {
            Ok(described) => Ok(described.map(|described| (key, described))),
            Err(e) => {
                tracing::warn!(operation = %op.id, file = %upload.file_id, error = %format!("{e:#}"), "an upload could not be read; listed as unavailable");
                Ok(None)
            }
        }
    }

    fn copy_avatar(&self, op: &ExportOperation, user: &User) -> anyhow::Result<bool> {
        let Some(avatar) = self.ports.reader.avatar_of(&user.username).map_err(store)? else {
            return Ok(false);
        };
        let Some(key) = avatar.blob else {
            return Ok(false);
        };
        use std::io::Read as _;
        let opened = self.ports.blobs.open(&key).and_then(|content| {
            // Read whole before writing, so an unreadable avatar fails here, not
            // half-way into the working folder.
            content
                .map(|mut content| {
                    let mut bytes = Vec::new();
                    content.read_to_end(&mut bytes).map(|_| bytes)
                })
                .transpose()
                .map_err(anyhow::Error::new)
        });
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(operation = %op.id, error = %format!("{e:#}"), "the avatar could not be read; listed as unavailable");
                None
            }
        };
        match opened.map(std::io::Cursor::new) {
            Some(mut content) => {
                self.ports
                    .files
                    .write_from(&op.paths, "avatar", &mut content)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Records the zip as the user's file, completes the operation, and removes the
    /// working folder.
    fn upload(
        &self,
        op: &ExportOperation,
        user: &User,
        run: &Run<'_>,
    ) -> anyhow::Result<UserDataFile> {
        let path = op
            .generated_file
            .clone()
            .context("the zip is written before it is recorded")?;
        let (size, sha256) = self.ports.archives.describe(&path)?;
        let now = self.ports.clock.now();
        let file = UserDataFile {
            id: self.ports.ids.new_id(),
            user_id: user.id.clone(),
            name: zip_file_name(now, user.display_name(), op.full_export),
            size,
            sha256,
            path,
            created_at: now,
            // Settings bound the days; a date past chrono's range just never expires.
            expires_at: now.checked_add_signed(chrono::Duration::days(i64::from(
                self.config.retention_days,
            ))),
            removed_at: None,
        };
        run.check()?;
        self.ports
            .progress
            .complete(&op.id, run.owner, &file, now)
            .map_err(store)?;
        if let Err(e) = self.ports.files.remove_all(&op.paths) {
            tracing::warn!(operation = %op.id, error = %e, "could not remove the working folder");
        }
        Ok(file)
    }
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}
