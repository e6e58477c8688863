//! Independent pieces of work spread over the cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `work` done on each of `items`, on one thread per core (never more threads than
/// items, and none of its own for a single item or a single core); the results come
/// in the items' order. A panic in `work` is resumed here once every thread has
/// stopped, as for any scoped thread; `None` stands for a result that could not be
/// handed over (a poisoned slot), which callers treat as missing.
pub(super) fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(|item| Some(work(item))).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let (Some(item), Some(slot)) = (items.get(at), done.get(at)) else {
                    return;
                };
                let result = work(item);
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    done.into_iter()
        .map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_item_is_done_once_and_answered_in_its_place() {
        let items: Vec<u64> = (0..1_000).collect();
        let threads = Mutex::new(HashSet::new());
        let done = on_every_core(&items, |n| {
            if let Ok(mut threads) = threads.lock() {
                threads.insert(std::thread::current().id());
            }
            n * 2
        });
        let expected: Vec<Option<u64>> = items.iter().map(|n| Some(n * 2)).collect();
        assert_eq!(done, expected);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = threads.into_inner().map_or(0, |t| t.len());
        assert!(threads <= cores, "{threads} threads on {cores} cores");
    }

    #[test]
    fn nothing_to_do_is_nothing_done() {
        let done = on_every_core(&[] as &[u8], |_| -> u8 { unreachable!("no item") });
        assert!(done.is_empty());
    }
}
