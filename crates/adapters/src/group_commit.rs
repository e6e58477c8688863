//! Group commit: callers that each have a record to write at the same moment share one
//! transaction. The first caller writes everything queued by then (and whatever queues
//! while it writes), the others wait for the outcome of the write that carried theirs;
//! every caller returns only once its record is committed or has failed, so nothing
//! is acknowledged that is not stored.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// What a waiting caller learns: its record was committed, or why not.
type Outcome = Result<(), String>;

struct Slot {
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

struct Queue<R> {
    waiting: Vec<(R, Arc<Slot>)>,
    writing: bool,
}

/// A queue of records written in batches by whichever caller arrives first.
pub(crate) struct GroupCommit<R> {
    queue: Mutex<Queue<R>>,
}

impl<R> std::fmt::Debug for GroupCommit<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<R> Default for GroupCommit<R> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                writing: false,
            }),
        }
    }
}

impl<R> GroupCommit<R> {
    /// Queues `record` and returns once it is written: by this caller, through `write`
    /// (which gets every record queued so far, `record` among them, and commits them
    /// together), or by another caller already writing.
    pub(crate) fn submit(
        &self,
        record: R,
        write: impl Fn(&[R]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let slot = Arc::new(Slot {
            outcome: Mutex::new(None),
            ready: Condvar::new(),
        });
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push((record, slot.clone()));
            if queue.writing {
                drop(queue);
                return Self::wait(&slot);
            }
            queue.writing = true;
        }
        // This caller writes until the queue is empty; its own record is in the first
        // batch, the rest belong to callers that came while it wrote.
        loop {
            let batch = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.waiting.is_empty() {
                    queue.writing = false;
                    break;
                }
                std::mem::take(&mut queue.waiting)
            };
            let (records, slots): (Vec<R>, Vec<Arc<Slot>>) = batch.into_iter().unzip();
            // A panic in `write` must not leave the others waiting forever.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&records)))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("writing the batch panicked")))
                    .map_err(|e| format!("{e:#}"));
            for slot in slots {
                *slot.outcome.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(outcome.clone());
                slot.ready.notify_all();
            }
        }
        Self::wait(&slot)
    }

    fn wait(slot: &Slot) -> anyhow::Result<()> {
        let mut outcome = slot.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(done) = outcome.take() {
                return done.map_err(anyhow::Error::msg);
            }
            outcome = slot
                .ready
                .wait(outcome)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_record_is_written_once_and_concurrent_ones_share_batches() {
        let group = GroupCommit::<usize>::default();
        let written = Mutex::new(Vec::new());
        let batches = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..64 {
                let (group, written, batches) = (&group, &written, &batches);
                scope.spawn(move || {
                    group
                        .submit(i, |records| {
                            batches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            written.lock().unwrap().extend_from_slice(records);
                            Ok(())
                        })
                        .unwrap();
                    // Returned: the record is stored.
                    assert!(written.lock().unwrap().contains(&i));
                });
            }
        });
        let mut all = written.into_inner().unwrap();
        all.sort_unstable();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
        assert!(
            batches.load(Ordering::SeqCst) < 64,
            "some records shared a write"
        );
    }

    #[test]
    fn a_failed_write_fails_every_record_it_carried_and_the_next_ones_go_on() {
        let group = GroupCommit::<u8>::default();
        let err = group.submit(1, |_| anyhow::bail!("disk full")).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(group
            .submit(2, |records| {
                assert_eq!(records, [2]);
                Ok(())
            })
            .is_ok());
    }
}
