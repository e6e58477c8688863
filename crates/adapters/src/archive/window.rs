//! Entries compressed in parallel over a sliding window and appended in order.
//!
//! Entries are taken from the caller's stream only while fewer than [`WINDOW`] are
//! between taken and appended; worker threads (one per core) deflate what is missing
//! of them — the chunks of a working-folder file not made ahead, or a whole upload —
//! and the calling thread appends each entry as soon as it and every entry before it
//! are done. What an archive keeps in memory is therefore bounded by the window, never
//! by the number of entries.

use std::collections::VecDeque;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use anyhow::Context;
use udd_domain::OperationId;
use udd_ports::{ArchiveEntry, ArchiveSource};

use super::chunks::Chunk;
use super::zip_stream::ZipStream;
use super::zip_write::Part;
use super::ZipArchiveStore;
use crate::fs::inside;

/// How many entries may be taken and not yet appended.
pub(crate) const WINDOW: usize = 64;

/// One piece of work for a compressing thread, for the entry numbered `slot`.
enum Job {
    /// Making a chunk of a working-folder file into the pack.
    Chunk {
        slot: u64,
        folder: PathBuf,
        source: PathBuf,
        chunk: Chunk,
    },
    /// Deflating an upload.
    Blob { slot: u64, entry: ArchiveEntry },
}

/// What a job gave: the entry it was for, and the upload's part when it was one.
type Done = (u64, anyhow::Result<Option<Part>>);

/// An entry taken and not yet appended.
struct Slot {
    entry: ArchiveEntry,
    /// Jobs of this entry still running.
    waiting: usize,
    pending: Pending,
}

enum Pending {
    /// A working-folder file: its chunks, gathered once all are made.
    Chunks { folder: PathBuf, plan: Vec<Chunk> },
    /// An upload: its part, once deflated.
    Blob(Option<Part>),
}

/// The entries taken and not yet appended, numbered from `first`.
struct Window {
    slots: VecDeque<Slot>,
    first: u64,
}

impl Window {
    fn slot(&mut self, number: u64) -> anyhow::Result<&mut Slot> {
        let at = number
            .checked_sub(self.first)
            .and_then(|at| usize::try_from(at).ok());
        at.and_then(|at| self.slots.get_mut(at))
            .context("a compressed entry is not in the window")
    }

    fn next_number(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    /// The first entry, taken out, when nothing of it is still running.
    fn pop_ready(&mut self) -> Option<Slot> {
        if self.slots.front()?.waiting > 0 {
            return None;
        }
        self.first += 1;
        self.slots.pop_front()
    }
}

impl ZipArchiveStore {
    /// Compresses `entries` as they come and appends them, in order, to `zip`.
    pub(crate) fn append_all<W, D>(
        &self,
        name: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        stamp: zip::DateTime,
        zip: &mut ZipStream<W, D>,
    ) -> anyhow::Result<()>
    where
        W: Write,
        D: Read + Write + Seek,
    {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = AtomicBool::new(false);
        let (jobs, queue) = channel::<Job>();
        let queue = Mutex::new(queue);
        let (finished, done) = channel::<Done>();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let finished = finished.clone();
                let (queue, stop) = (&queue, &stop);
                scope.spawn(move || self.compress_jobs(name, stamp, queue, stop, &finished));
            }
            drop(finished);
            let written = self.feed_and_append(name, entries, stamp, &jobs, &done, zip);
            // Whatever happened, the threads find no more work and end.
            if written.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            drop(jobs);
            written
        })
    }

    /// The calling thread's side: takes entries into the window, hands their work to
    /// the threads and appends every entry whose turn has come.
    fn feed_and_append<W, D>(
        &self,
        name: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        stamp: zip::DateTime,
        jobs: &Sender<Job>,
        done: &Receiver<Done>,
        zip: &mut ZipStream<W, D>,
    ) -> anyhow::Result<()>
    where
        W: Write,
        D: Read + Write + Seek,
    {
        let mut window = Window {
            slots: VecDeque::with_capacity(WINDOW),
            first: 0,
        };
        let mut exhausted = false;
        loop {
            while !exhausted && window.slots.len() < WINDOW {
                match entries.next() {
                    Some(entry) => {
                        let slot = self.take(name, entry?, window.next_number(), jobs)?;
                        window.slots.push_back(slot);
                    }
                    None => exhausted = true,
                }
            }
            while let Some(slot) = window.pop_ready() {
                self.part_of(name, slot, stamp)?.append_to(zip)?;
            }
            if window.slots.is_empty() {
                if exhausted {
                    return Ok(());
                }
                continue;
            }
            let (number, part) = done
                .recv()
                .map_err(|_| anyhow::anyhow!("the compressing threads ended early"))?;
            let part = part?;
            let slot = window.slot(number)?;
            slot.waiting -= 1;
            if let (Pending::Blob(waiting), Some(part)) = (&mut slot.pending, part) {
                *waiting = Some(part);
            }
        }
    }

    /// Takes `entry` as entry `number`: checks its name and hands the threads what is
    /// missing of it.
    fn take(
        &self,
        name: &OperationId,
        entry: ArchiveEntry,
        number: u64,
        jobs: &Sender<Job>,
    ) -> anyhow::Result<Slot> {
        // Entry names obey the working-folder rule: relative, no `..`, no hidden parts.
        inside(Path::new(""), &entry.name)?;
        let send = |job| {
            jobs.send(job)
                .map_err(|_| anyhow::anyhow!("the compressing threads ended early"))
        };
        let part = match &entry.source {
            ArchiveSource::Working(file) => self.whole_file(name, file)?,
            ArchiveSource::WorkingRange(part) => part.clone(),
            ArchiveSource::Blob(_) => {
                send(Job::Blob {
                    slot: number,
                    entry: entry.clone(),
                })?;
                return Ok(Slot {
                    entry,
                    waiting: 1,
                    pending: Pending::Blob(None),
                });
            }
        };
        let (folder, source, plan) = self.chunk_plan(name, &part, true)?;
        let mut waiting = 0;
        for chunk in &plan {
            if !self.packs.has(&folder, chunk)? {
                send(Job::Chunk {
                    slot: number,
                    folder: folder.clone(),
                    source: source.clone(),
                    chunk: chunk.clone(),
                })?;
                waiting += 1;
            }
        }
        Ok(Slot {
            entry,
            waiting,
            pending: Pending::Chunks { folder, plan },
        })
    }

    /// The part of an entry all of whose work is done.
    fn part_of(
        &self,
        name: &OperationId,
        slot: Slot,
        stamp: zip::DateTime,
    ) -> anyhow::Result<Part> {
        match slot.pending {
            Pending::Chunks { folder, plan } => Ok(Part::chunked(
                &slot.entry.name,
                stamp,
                self.packs.gather(&folder, &plan)?,
            )),
            Pending::Blob(part) => {
                part.with_context(|| format!("{} of {name} was not compressed", slot.entry.name))
            }
        }
    }

    /// A compressing thread: runs jobs until there are no more, or until told to stop
    /// (then it only empties the queue).
    fn compress_jobs(
        &self,
        name: &OperationId,
        stamp: zip::DateTime,
        queue: &Mutex<Receiver<Job>>,
        stop: &AtomicBool,
        finished: &Sender<Done>,
    ) {
        loop {
            let job = match queue.lock() {
                Ok(queue) => queue.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else {
                return;
            };
            if stop.load(Ordering::SeqCst) {
                continue;
            }
            let (slot, result) = match job {
                Job::Chunk {
                    slot,
                    folder,
                    source,
                    chunk,
                } => (
                    slot,
                    guarded(|| self.packs.make(&folder, &source, &chunk).map(|()| None)),
                ),
                Job::Blob { slot, entry } => (
                    slot,
                    guarded(|| self.blob_part(&entry, name, slot, stamp).map(Some)),
                ),
            };
            if finished.send((slot, result)).is_err() {
                return;
            }
        }
    }
}

/// Runs `work`, turning a panic into an error, so that the appending thread always
/// hears back about every job it handed out.
fn guarded<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("a compressing thread panicked")))
}
