//! The threads of the messages stage, so reading, writing and compressing overlap on
//! every core while memory stays flat:
//!
//! - this thread reads the pages of messages and renders them into batches;
//! - a committing thread appends each batch after its room file's committed length,
//!   makes it durable and commits it, in order: the render thread never waits for a
//!   disk sync, and at most one rendered batch waits for it (a bounded channel);
//! - one compressing thread per core deflates whatever the committed batches made final
//!   (see [`ArchiveStore::prepare`](udd_ports::ArchiveStore::prepare)), so by the end
//!   of the last room most of the archive is compressed already.
//!
//! A batch is committed exactly as if one thread had done everything: the render thread
//! only runs ahead of the commits, and when the committing thread stops (a lost lease, a
//! failed write) the batches rendered past it are dropped and the error is the run's.

use std::sync::{mpsc, Mutex};

use udd_domain::{OperationId, RoomExport};
use udd_ports::{ExportBatch, ExportFileRef};

use super::error::{EngineError, Run, Step};
use super::ExportEngine;

/// Something to compress ahead: a working-folder entry, and how many of its bytes are
/// committed while it still grows (`None` once it is complete).
pub(super) type Prepare = (String, Option<u64>);

/// One rendered batch on its way to be written and committed.
pub(super) struct Rendered {
    /// The room's position in the room list.
    pub index: usize,
    /// The room's progress once the batch is committed.
    pub room: RoomExport,
    /// What to append: a file, the length to cut it back to first, and the bytes.
    pub writes: Vec<(String, u64, String)>,
    /// Pseudonyms the batch assigned.
    pub pseudonyms: Vec<(String, String)>,
    /// Uploads the batch met.
    pub files: Vec<ExportFileRef>,
    /// How many messages it holds.
    pub count: u64,
    /// What can be compressed once it is committed.
    pub prepare: Vec<Prepare>,
}

impl ExportEngine {
    /// Runs `work` beside one compressing thread per core, which compress what `work`
    /// sends them (see [`Prepare`]). A failure there costs only time: the zip stage
    /// compresses whatever is not ready. The threads finish what was sent before this
    /// returns.
    pub(super) fn compressing<T>(
        &self,
        id: &OperationId,
        work: impl FnOnce(&mpsc::Sender<Prepare>) -> Step<T>,
    ) -> Step<T> {
        let archives = &self.ports.archives;
        let (sender, jobs) = mpsc::channel::<Prepare>();
        let jobs = Mutex::new(jobs);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let next = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    let Ok((entry, committed)) = next else {
                        return;
                    };
                    if let Err(e) = archives.prepare(id, &entry, committed) {
                        tracing::debug!(entry = %entry, error = %e, "compressing ahead failed");
                    }
                });
            }
            // The sender is dropped as soon as `work` ends, whichever way it ends, which
            // lets the compressing threads finish and the scope close.
            let result = work(&sender);
            drop(sender);
            result
        })
    }

    /// Runs `render`, which sends batches in order, beside a thread that writes and
    /// commits them; returns once every batch sent is committed, or the first error
    /// (the committing thread's first: it is why sending failed).
    pub(super) fn committing(
        &self,
        id: &OperationId,
        run: &Run<'_>,
        done: u64,
        compress: &mpsc::Sender<Prepare>,
        render: impl FnOnce(&mpsc::SyncSender<Rendered>) -> Step<()>,
    ) -> Step<u64> {
        let (to_commit, batches) = mpsc::sync_channel::<Rendered>(1);
        std::thread::scope(|scope| {
            let committer = scope.spawn(move || self.commit_all(id, run, done, batches, compress));
            let rendered = render(&to_commit);
            drop(to_commit);
            let committed = committer
                .join()
                .map_err(|_| anyhow::anyhow!("the committing thread panicked"))?;
            let written = committed?;
            rendered.map(|()| written)
        })
    }

    /// Writes and commits every batch received, in order; returns the messages
    /// committed so far in the operation.
    fn commit_all(
        &self,
        id: &OperationId,
        run: &Run<'_>,
        mut written: u64,
        batches: mpsc::Receiver<Rendered>,
        compress: &mpsc::Sender<Prepare>,
    ) -> Step<u64> {
        for batch in batches {
            run.check()?;
            // The heartbeat notices a lost lease only every third of its length; a
            // worker that was paused past it must not cut or write a file another
            // worker may now be writing, so the lease is confirmed (and extended) right
            // before the append.
            let now = self.ports.clock.now();
            if !self
                .ports
                .queue
                .renew(id, run.owner, self.lease_until(now))?
            {
                return Err(EngineError::LeaseLost);
            }
            for (file, from, bytes) in &batch.writes {
                self.ports.files.append(id, file, *from, bytes.as_bytes())?;
            }
            let now = self.ports.clock.now();
            let count = batch.count;
            let commit = ExportBatch {
                room_index: batch.index,
                room: batch.room,
                pseudonyms: batch.pseudonyms,
                files: batch.files,
            };
            self.ports
                .progress
                .commit_batch(id, run.owner, &commit, now)?;
            for job in batch.prepare {
                let _ = compress.send(job);
            }
            written += count;
            run.progress.set(written);
        }
        Ok(written)
    }
}
