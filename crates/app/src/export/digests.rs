//! The manifest's size and SHA-256 of each room file (or page), worked out by the
//! committing thread from the bytes it appends, so that the package stage does not
//! read hundreds of megabytes back to describe them.
//!
//! Only an entry seen from its first byte to its last in this run is described here: a
//! resumed stage continues pages it did not see begin, and those are left to
//! [`ExportFiles::list`](udd_ports::ExportFiles::list), which reads them.

use std::collections::HashMap;
use std::ops::Range;

use udd_domain::render::{FileDigest, ManifestFile};

/// One archive entry's share of a batch's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EntryBytes {
    /// The entry's path in the archive.
    pub name: String,
    /// Its share of the batch's bytes.
    pub bytes: Range<usize>,
    /// Whether the entry begins with them.
    pub begins: bool,
    /// Whether the entry ends with them.
    pub ends: bool,
}

/// The digests of the entries the committed batches wrote.
#[derive(Debug, Default)]
pub(super) struct Digests {
    growing: HashMap<String, FileDigest>,
    done: Vec<ManifestFile>,
}

impl Digests {
    /// Takes in a committed batch: `bytes`, shared out among entries as `parts` says.
    pub fn take_in(&mut self, parts: &[EntryBytes], bytes: &[u8]) {
        for part in parts {
            if part.begins {
                self.growing
                    .insert(part.name.clone(), FileDigest::default());
            }
            // An entry whose beginning this run did not see is described by reading it.
            let Some(digest) = self.growing.get_mut(&part.name) else {
                continue;
            };
            let Some(share) = bytes.get(part.bytes.clone()) else {
                self.growing.remove(&part.name);
                continue;
            };
            digest.update(share);
            if part.ends {
                if let Some(digest) = self.growing.remove(&part.name) {
                    self.done.push(digest.finish(part.name.clone()));
                }
            }
        }
    }

    /// Every entry seen whole, described.
    pub fn into_done(self) -> Vec<ManifestFile> {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, bytes: Range<usize>, begins: bool, ends: bool) -> EntryBytes {
        EntryBytes {
            name: name.into(),
            bytes,
            begins,
            ends,
        }
    }

    fn digest_of(path: &str, bytes: &[u8]) -> ManifestFile {
        let mut digest = FileDigest::default();
        digest.update(bytes);
        digest.finish(path.into())
    }

    #[test]
    fn entries_seen_whole_are_described_across_batches() {
        let mut digests = Digests::default();
        // R.html begins and grows; R-2.html begins in the second batch and ends there.
        digests.take_in(&[part("R.html", 0..4, true, false)], b"<h1>");
        digests.take_in(
            &[
                part("R.html", 0..5, false, true),
                part("R-2.html", 5..9, true, true),
            ],
            b"</h1>page",
        );
        assert_eq!(
            digests.into_done(),
            [
                digest_of("R.html", b"<h1></h1>"),
                digest_of("R-2.html", b"page")
            ]
        );
    }

    #[test]
    fn an_entry_whose_beginning_was_not_seen_is_left_out() {
        let mut digests = Digests::default();
        // A resumed run continues R.html, then begins and finishes R-2.html.
        digests.take_in(&[part("R.html", 0..3, false, false)], b"abc");
        digests.take_in(
            &[
                part("R.html", 0..1, false, true),
                part("R-2.html", 1..3, true, true),
            ],
            b"dxy",
        );
        // A share outside the batch (never made by the engine) describes nothing.
        digests.take_in(&[part("R-3.html", 2..9, true, true)], b"abc");
        assert_eq!(digests.into_done(), [digest_of("R-2.html", b"xy")]);
    }
}
