//! What an import did, per collection.

use udd_ports::{Collection, Moved};

/// Problems kept word for word in the summary; beyond that they are only counted.
const MAX_LISTED_PROBLEMS: usize = 200;

/// Counts for one collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionCounts {
    /// Documents accepted from the dump: `added + updated + unchanged`.
    pub imported: u64,
    /// Documents the store did not hold.
    pub added: u64,
    /// Documents the store held in another version (another `_updatedAt`).
    pub updated: u64,
    /// Documents the store already held with the same `_updatedAt` (left as they were,
    /// users aside: their login tokens change without `_updatedAt`, so they are always
    /// written). For the trash, records already applied by an earlier import.
    pub unchanged: u64,
    /// Documents deleted: named by the dump's trash, or removed with their room.
    pub deleted: u64,
    /// Trash records naming a document of this collection the store does not hold.
    pub not_held: u64,
    /// Messages left out as the history of an edited message (`_hidden`).
    pub hidden: u64,
    /// Documents skipped for a missing or wrong required field.
    pub skipped: u64,
    /// Lines that were not JSON.
    pub malformed: u64,
    /// Uploads or avatars whose bytes were not in the dump (imported without a blob).
    pub missing_blobs: u64,
}

impl CollectionCounts {
    /// Whether the import changed anything in this collection.
    pub fn changed(&self) -> bool {
        self.added + self.updated + self.deleted > 0
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts per collection, in load order.
    pub counts: Vec<(Collection, CollectionCounts)>,
    /// The first problems, each with its file and line.
    pub problems: Vec<String>,
    /// How many problems there were in all.
    pub problem_count: u64,
    /// Usernames and e-mail addresses that changed hands since the last import.
    pub moves: Vec<Moved>,
}

impl ImportSummary {
    /// The counts of `collection`.
    pub fn of(&self, collection: Collection) -> CollectionCounts {
        self.counts
            .iter()
            .find(|(c, _)| *c == collection)
            .map(|(_, counts)| *counts)
            .unwrap_or_default()
    }

    /// The counts of `collection`, to change.
    pub(super) fn counts_mut(&mut self, collection: Collection) -> &mut CollectionCounts {
        let at = match self.counts.iter().position(|(c, _)| *c == collection) {
            Some(at) => at,
            None => {
                self.counts.push((collection, CollectionCounts::default()));
                self.counts.len() - 1
            }
        };
        &mut self.counts[at].1
    }

    /// Documents not imported (skipped or malformed), across all collections.
    pub fn not_imported(&self) -> u64 {
        self.counts
            .iter()
            .map(|(_, counts)| counts.skipped + counts.malformed)
            .sum()
    }

    /// Whether the import changed anything at all.
    pub fn changed(&self) -> bool {
        self.counts.iter().any(|(_, counts)| counts.changed())
    }

    pub(super) fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(text);
        }
    }
}
