//! Reading a collection ahead, on a thread of its own: the file is read, decoded and
//! mapped there while the caller's thread hands what came before to the store, so an
//! import keeps two cores busy instead of taking turns on one.
//!
//! What crosses between the threads is finished entries, in order, a few hundred at a
//! time through a bounded channel: memory stays the same whatever the file's size.

use std::sync::mpsc;

use udd_ports::DumpEntry;

use super::source::Source;
use super::Item;

/// Entries handed over at once.
const PER_CHUNK: usize = 256;

/// Chunks read ahead of the caller at most.
const CHUNKS_AHEAD: usize = 8;

/// Reads the collection `name` of `source`, mapping each item with `map` (`None`: left
/// out) on a thread of its own, and visits the entries here, in the file's order, with
/// the bytes read so far. Errors: the reader's (I/O), or the first of `visit`.
pub(crate) fn read(
    source: &Source,
    name: &str,
    map: impl Fn(Item<'_>) -> anyhow::Result<Option<DumpEntry>> + Send,
    visit: &mut dyn FnMut(DumpEntry, u64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (sender, chunks) = mpsc::sync_channel::<Vec<(DumpEntry, u64)>>(CHUNKS_AHEAD);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(PER_CHUNK);
            let read = source.read(name, &mut |item, bytes| {
                if let Some(entry) = map(item)? {
                    chunk.push((entry, bytes));
                }
                if chunk.len() >= PER_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(PER_CHUNK));
                    // Nobody to send to: the caller stopped (its visitor failed).
                    sender
                        .send(full)
                        .map_err(|_| anyhow::anyhow!("the import stopped"))?;
                }
                Ok(())
            });
            // What was read before an error is visited before the error is reported.
            // Nobody left to take it means the caller stopped already.
            if !chunk.is_empty() {
                let _ = sender.send(chunk);
            }
            read
        });
        let mut visited = Ok(());
        'chunks: for chunk in chunks.iter() {
            for (entry, bytes) in chunk {
                if let Err(e) = visit(entry, bytes) {
                    visited = Err(e);
                    break 'chunks;
                }
            }
        }
        // A reader still sending finds nobody and stops.
        drop(chunks);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the dump reader failed unexpectedly")));
        // The visitor's failure first: the reader stopped because of it.
        visited.and(read)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rocketchat::source::Folder;
    use udd_ports::DumpLocation;

    fn folder(lines: usize) -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text: String = (0..lines).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        std::fs::write(dir.path().join("rocketchat_room.json"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let folder = Folder::index(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no files"));
        (dir, Source::Folder(folder))
    }

    fn numbered(item: Item<'_>) -> anyhow::Result<Option<DumpEntry>> {
        let Item::Doc(_, pos) = item else {
            anyhow::bail!("not a document")
        };
        // Every third line left out, to see that the order and the rest survive.
        Ok((pos.number % 3 != 0).then(|| DumpEntry::Malformed {
            at: DumpLocation::line("f", pos.number),
            error: String::new(),
        }))
    }

    #[test]
    fn entries_arrive_in_order_with_what_was_left_out_missing() -> anyhow::Result<()> {
        let (_dir, source) = folder(2_000);
        let mut seen = Vec::new();
        read(&source, "rocketchat_room", numbered, &mut |entry, _| {
            if let DumpEntry::Malformed { at, .. } = entry {
                seen.push(at.line);
            }
            Ok(())
        })?;
        let expected: Vec<u64> = (1..=2_000).filter(|n| n % 3 != 0).collect();
        assert_eq!(seen, expected);
        Ok(())
    }

    #[test]
    fn a_failing_visitor_stops_the_reader_and_its_error_is_the_one_reported() {
        let (_dir, source) = folder(50_000);
        let mut visits = 0;
        let err = read(&source, "rocketchat_room", numbered, &mut |_, _| {
            visits += 1;
            if visits == 10 {
                anyhow::bail!("the store failed")
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "the store failed");
        assert_eq!(visits, 10);
    }

    #[test]
    fn a_failing_map_is_reported_after_the_entries_before_it() {
        let (_dir, source) = folder(1_000);
        let mut visits = 0;
        let err = read(
            &source,
            "rocketchat_room",
            |item| match &item {
                Item::Doc(_, pos) if pos.number == 700 => anyhow::bail!("unreadable"),
                _ => numbered(item),
            },
            &mut |_, _| {
                visits += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("unreadable"), "{err:#}");
        assert_eq!(visits, (1..700).filter(|n| n % 3 != 0).count());
    }
}
