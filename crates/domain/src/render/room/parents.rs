//! Which messages may start a thread, known before their replies are read: a fixed-size
//! Bloom filter of the parent ids (`tmid`s) of an export's replies. A personal export
//! asks the store about a message's thread only when the filter says it may have one,
//! instead of for every message; the filter never misses a parent, and a false "may"
//! costs one lookup that finds nothing. Its memory is fixed whatever the workspace.

/// Bits in the filter: 1 MiB. With three probes, 400,000 distinct parents (a 10 M
/// message workspace with one reply in 20 messages) give about one false "may" in 370.
const BITS: usize = 1 << 23;

/// Probes per id.
const PROBES: u64 = 3;

/// The parents of an export's threads, as a Bloom filter.
#[derive(Clone)]
pub struct ThreadParents {
    bits: Vec<u64>,
}

impl std::fmt::Debug for ThreadParents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: u32 = self.bits.iter().map(|word| word.count_ones()).sum();
        f.debug_struct("ThreadParents")
            .field("bits_set", &set)
            .finish()
    }
}

impl Default for ThreadParents {
    fn default() -> Self {
        Self {
            bits: vec![0; BITS / 64],
        }
    }
}

impl ThreadParents {
    /// Records `parent` as a message some reply answers.
    pub fn insert(&mut self, parent: &str) {
        for bit in probes(parent) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether `id` may start a thread: `false` only for a message no reply recorded
    /// here answers.
    pub fn may_start(&self, id: &str) -> bool {
        probes(id).all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The filter's bits for `id`: double hashing from one 64-bit FNV-1a hash of its bytes
/// (fast on short ids, and the same in every process), its bits mixed so that the two
/// halves used below are both well spread.
fn probes(id: &str) -> impl Iterator<Item = usize> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The finaliser of MurmurHash3.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    let (h1, h2) = (hash, (hash >> 32) | 1);
    (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % BITS as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_parent_is_never_missed_and_others_are_rarely_taken_for_one() {
        let mut parents = ThreadParents::default();
        for i in 0..50_000 {
            parents.insert(&format!("parent-{i}"));
        }
        assert!((0..50_000).all(|i| parents.may_start(&format!("parent-{i}"))));
        let false_hits = (0..100_000)
            .filter(|i| parents.may_start(&format!("other-{i}")))
            .count();
        // 50,000 parents in 2^23 bits with 3 probes: about 6 false hits in 100,000.
        assert!(false_hits < 100, "{false_hits} false hits");
    }

    #[test]
    fn an_empty_filter_knows_no_parent() {
        let parents = ThreadParents::default();
        assert!(!parents.may_start("anything"));
        assert!(!parents.may_start(""));
    }
}
