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
//! The render thread comes first: while it renders, one core fewer compresses
//! ([`Cores`]); once it is done, every core does. Left to the scheduler, the
//! compressing threads would take turns with it on the same cores, and the render
//! thread, whose work is the stage's longest chain on a personal export, would get two
//! thirds of a core on two cores. Nothing is starved: unlike a lower priority, this only
//! limits how many of the export's own threads run at once. (Its waits for the
//! committing thread are left out: they are short, a few milliseconds, shorter than a
//! chunk's deflate, and letting a compressing job start in each made the render
//! thread share its core again.)
//!
//! A batch is committed exactly as if one thread had done everything: the render thread
//! only runs ahead of the commits, and when the committing thread stops (a lost lease, a
//! failed write) the batches rendered past it are dropped and the error is the run's.

use std::sync::{mpsc, Condvar, Mutex, MutexGuard, PoisonError};

use udd_domain::{OperationId, RoomExport};
use udd_ports::{ExportBatch, ExportFileRef, WorkingRange};

use super::digests::{Digests, EntryBytes};
use super::error::{Run, Step};
use super::ExportEngine;

/// Something to compress ahead: a working-folder entry, or its first bytes while it
/// still grows, and whether it is complete (see
/// [`ArchiveStore::prepare`](udd_ports::ArchiveStore::prepare)).
pub(super) type Prepare = (WorkingRange, bool);

/// One rendered batch on its way to be written and committed.
pub(super) struct Rendered {
    /// The room's position in the room list.
    pub index: usize,
    /// The room's progress once the batch is committed.
    pub room: RoomExport,
    /// What to append: a file, the length to cut it back to first, and the bytes.
    pub write: (String, u64, String),
    /// Pseudonyms the batch assigned.
    pub pseudonyms: Vec<(String, String)>,
    /// Uploads the batch met.
    pub files: Vec<ExportFileRef>,
    /// How many messages it holds.
    pub count: u64,
    /// What can be compressed once it is committed.
    pub prepare: Vec<Prepare>,
    /// The archive entries the written bytes belong to.
    pub parts: Vec<EntryBytes>,
}

/// The compressing threads of the messages stage, as the stage's other threads see
/// them: where to send what can be compressed, and the [`Cores`] they share with the
/// render thread.
pub(super) struct Compressors<'a> {
    jobs: mpsc::Sender<Prepare>,
    cores: &'a Cores,
}

impl Compressors<'_> {
    /// Hands `job` to the compressing threads. A job sent after they stopped is
    /// dropped: the zip stage compresses whatever is not ready.
    pub fn send(&self, job: Prepare) {
        let _ = self.jobs.send(job);
    }

    /// Marks the calling thread as the render thread, busy until the guard is dropped.
    pub fn rendering(&self) -> Rendering<'_> {
        self.cores.rendering()
    }
}

/// How many of an export's threads may run at once, one per core, the render thread
/// first: a compressing thread starts a job only while the threads running, the
/// render thread included, are fewer than the cores. The render thread never waits
/// here.
#[derive(Debug)]
pub(super) struct Cores {
    cores: usize,
    running: Mutex<Running>,
    freed: Condvar,
}

/// What runs now.
#[derive(Debug, Default)]
struct Running {
    rendering: bool,
    compressing: usize,
}

impl Cores {
    /// Room for `cores` threads at once (at least one).
    fn new(cores: usize) -> Self {
        Self {
            cores: cores.max(1),
            running: Mutex::new(Running::default()),
            freed: Condvar::new(),
        }
    }

    fn running(&self) -> MutexGuard<'_, Running> {
        // The counts stay meaningful whatever a panicking holder was doing.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_rendering(&self, rendering: bool) {
        self.running().rendering = rendering;
        if !rendering {
            self.freed.notify_all();
        }
    }

    /// The render thread is busy until the guard is dropped.
    fn rendering(&self) -> Rendering<'_> {
        self.set_rendering(true);
        Rendering(self)
    }

    /// Waits until a compressing job may start; it runs until the slot is dropped.
    fn compressing(&self) -> Compressing<'_> {
        let mut running = self.running();
        while usize::from(running.rendering) + running.compressing >= self.cores {
            running = self
                .freed
                .wait(running)
                .unwrap_or_else(PoisonError::into_inner);
        }
        running.compressing += 1;
        Compressing(self)
    }
}

/// The render thread at work, from [`Compressors::rendering`] until dropped.
pub(super) struct Rendering<'a>(&'a Cores);

impl Drop for Rendering<'_> {
    fn drop(&mut self) {
        self.0.set_rendering(false);
    }
}

/// One compressing job's place among the running threads, from
/// [`Cores::compressing`] until dropped.
pub(super) struct Compressing<'a>(&'a Cores);

impl Drop for Compressing<'_> {
    fn drop(&mut self) {
        self.0.running().compressing -= 1;
        self.0.freed.notify_one();
    }
}

impl ExportEngine {
    /// Runs `work` beside one compressing thread per core, which compress what `work`
    /// sends them (see [`Prepare`]), giving way to its render thread (see [`Cores`]).
    /// A failure there costs only time: the zip stage compresses whatever is not
    /// ready. The threads finish what was sent before this returns.
    pub(super) fn compressing<T>(
        &self,
        id: &OperationId,
        work: impl FnOnce(&Compressors<'_>) -> Step<T>,
    ) -> Step<T> {
        let archives = &self.ports.archives;
        let (sender, jobs) = mpsc::channel::<Prepare>();
        let jobs = Mutex::new(jobs);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores = Cores::new(threads);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let next = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    let Ok((part, complete)) = next else {
                        return;
                    };
                    let _slot = cores.compressing();
                    if let Err(e) = archives.prepare(id, &part, complete) {
                        tracing::debug!(entry = %part.file, error = %e, "compressing ahead failed");
                    }
                });
            }
            // The sender is dropped as soon as `work` ends, whichever way it ends, which
            // lets the compressing threads finish and the scope close.
            let compressors = Compressors {
                jobs: sender,
                cores: &cores,
            };
            let result = work(&compressors);
            drop(compressors);
            result
        })
    }

    /// Runs `render`, which sends batches in order, beside a thread that writes and
    /// commits them; returns once every batch sent is committed, with the messages
    /// committed so far and the [`Digests`] of what they wrote, or the first error (the
    /// committing thread's first: it is why sending failed).
    pub(super) fn committing(
        &self,
        id: &OperationId,
        run: &Run<'_>,
        done: u64,
        compress: &Compressors<'_>,
        render: impl FnOnce(&mpsc::SyncSender<Rendered>) -> Step<()>,
    ) -> Step<(u64, Digests)> {
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
    /// committed so far in the operation, and the digests of what they wrote.
    fn commit_all(
        &self,
        id: &OperationId,
        run: &Run<'_>,
        mut written: u64,
        batches: mpsc::Receiver<Rendered>,
        compress: &Compressors<'_>,
    ) -> Step<(u64, Digests)> {
        let mut digests = Digests::default();
        for batch in batches {
            run.check()?;
            // No cutting or writing a file another worker may now be writing.
            self.confirm_lease(id, run.owner)?;
            let (file, from, bytes) = &batch.write;
            self.ports.files.append(id, file, *from, bytes.as_bytes())?;
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
                compress.send(job);
            }
            digests.take_in(&batch.parts, bytes.as_bytes());
            written += count;
            run.progress.set(written);
        }
        Ok((written, digests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Long enough for a thread that is not held back to have taken its slot.
    const BLOCKED: Duration = Duration::from_millis(200);
    /// Long enough for a thread let go to take its slot, however busy the machine.
    const FREED: Duration = Duration::from_secs(30);

    /// Starts a compressing job on a thread of its own (not joined: a test that fails
    /// must not hang on a job that never starts); the receiver hears once the job
    /// runs, and the sender it hears ends the job.
    fn job(cores: &Arc<Cores>) -> mpsc::Receiver<mpsc::Sender<()>> {
        let (started, runs) = mpsc::channel();
        let cores = Arc::clone(cores);
        std::thread::spawn(move || {
            let _slot = cores.compressing();
            let (end, ends) = mpsc::channel();
            let _ = started.send(end);
            let _ = ends.recv();
        });
        runs
    }

    /// Checks that `waiting` does not start (`why` says what holds it back), runs
    /// `free`, then waits for it to start; returns the sender that ends it.
    fn held_until_freed(
        waiting: &mpsc::Receiver<mpsc::Sender<()>>,
        why: &str,
        free: impl FnOnce(),
    ) -> mpsc::Sender<()> {
        assert!(
            waiting.recv_timeout(BLOCKED).is_err(),
            "a job started: {why}"
        );
        free();
        waiting
            .recv_timeout(FREED)
            .unwrap_or_else(|_| panic!("a job did not start once freed: {why}"))
    }

    #[test]
    fn while_the_render_thread_works_one_core_fewer_compresses() {
        let cores = Arc::new(Cores::new(2));
        let rendering = cores.rendering();
        let first = job(&cores).recv_timeout(FREED).expect("a core is free");
        let second = held_until_freed(&job(&cores), "the render thread had the other core", || {
            drop(rendering)
        });
        let _ = (first.send(()), second.send(()));
    }

    #[test]
    fn without_rendering_every_core_compresses_and_a_job_waits_for_a_free_one() {
        let cores = Arc::new(Cores::new(2));
        let first = job(&cores).recv_timeout(FREED).expect("a core is free");
        let second = job(&cores).recv_timeout(FREED).expect("so is the other");
        let third = held_until_freed(&job(&cores), "a third job on two cores", || {
            let _ = first.send(());
        });
        let _ = (second.send(()), third.send(()));
    }

    #[test]
    fn on_one_core_compressing_waits_for_the_render_thread() {
        let cores = Arc::new(Cores::new(1));
        let rendering = cores.rendering();
        let only = held_until_freed(&job(&cores), "the render thread had the only core", || {
            drop(rendering)
        });
        let _ = only.send(());
    }
}
