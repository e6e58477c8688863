//! Which messages other messages link to, known before the messages are read: a
//! thread's parent (named by its replies' `tmid`) and a quoted message (named by a
//! quote's `message_link`). Both are fixed-size Bloom filters of ids, so their memory is
//! the same whatever the workspace; a filter never misses an id it was given, and rarely
//! takes another for one.
//!
//! A personal export uses them twice: it asks the store about a message's thread only
//! when the message may start one, and it gives a message an anchor (`id`) on its page
//! only when some link may point at it. Message ids are random, so they do not
//! compress: written on every message, they were a third of a personal archive.

use crate::workspace::Message;

/// Bits in each filter: 1 MiB. With three probes, 400,000 distinct ids (a 10 M
/// message workspace with one reply in 20 messages) give about one false "may" in 370.
const BITS: usize = 1 << 23;

/// Probes per id.
const PROBES: u64 = 3;

/// A fixed-size Bloom filter of message ids.
#[derive(Clone)]
struct IdFilter {
    bits: Vec<u64>,
}

impl Default for IdFilter {
    fn default() -> Self {
        Self {
            bits: vec![0; BITS / 64],
        }
    }
}

impl IdFilter {
    fn insert(&mut self, id: &str) {
        for bit in probes(id) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    fn may_contain(&self, id: &str) -> bool {
        probes(id).all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    fn bits_set(&self) -> u32 {
        self.bits.iter().map(|word| word.count_ones()).sum()
    }
}

/// The messages an export's links may point at: thread parents and quoted messages.
#[derive(Clone, Default)]
pub struct LinkedMessages {
    parents: IdFilter,
    quoted: IdFilter,
}

impl std::fmt::Debug for LinkedMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedMessages")
            .field("parent_bits_set", &self.parents.bits_set())
            .field("quoted_bits_set", &self.quoted.bits_set())
            .finish()
    }
}

impl LinkedMessages {
    /// Records `parent` as a message some reply answers.
    pub fn insert_parent(&mut self, parent: &str) {
        self.parents.insert(parent);
    }

    /// Records `quoted` as a message some quote names.
    pub fn insert_quoted(&mut self, quoted: &str) {
        self.quoted.insert(quoted);
    }

    /// Whether `id` may start a thread: `false` only for a message no reply recorded
    /// here answers.
    pub fn may_start(&self, id: &str) -> bool {
        self.parents.may_contain(id)
    }

    /// Whether a link may point at `message`, so that its page gives it an anchor: a
    /// reply (its thread's first reply is linked from the parent), a thread parent, or
    /// a quoted message. `false` only for a message no link can name.
    pub fn may_be_linked(&self, message: &Message) -> bool {
        message.thread_id.is_some()
            || self.parents.may_contain(&message.id)
            || self.quoted.may_contain(&message.id)
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

    fn message(id: &str, thread_id: Option<&str>) -> Message {
        let mut message = Message::new(id, "R", chrono::DateTime::UNIX_EPOCH);
        message.thread_id = thread_id.map(str::to_owned);
        message
    }

    #[test]
    fn a_recorded_parent_is_never_missed_and_others_are_rarely_taken_for_one() {
        let mut linked = LinkedMessages::default();
        for i in 0..50_000 {
            linked.insert_parent(&format!("parent-{i}"));
        }
        assert!((0..50_000).all(|i| linked.may_start(&format!("parent-{i}"))));
        let false_hits = (0..100_000)
            .filter(|i| linked.may_start(&format!("other-{i}")))
            .count();
        // 50,000 parents in 2^23 bits with 3 probes: about 6 false hits in 100,000.
        assert!(false_hits < 100, "{false_hits} false hits");
    }

    #[test]
    fn an_empty_filter_knows_no_parent_and_no_linked_message() {
        let linked = LinkedMessages::default();
        assert!(!linked.may_start("anything"));
        assert!(!linked.may_start(""));
        assert!(!linked.may_be_linked(&message("anything", None)));
    }

    #[test]
    fn replies_parents_and_quoted_messages_may_be_linked_and_others_are_not() {
        let mut linked = LinkedMessages::default();
        linked.insert_parent("parent");
        linked.insert_quoted("quoted");
        assert!(linked.may_be_linked(&message("parent", None)));
        assert!(linked.may_be_linked(&message("quoted", None)));
        assert!(linked.may_be_linked(&message("reply", Some("parent"))));
        assert!(!linked.may_be_linked(&message("plain", None)));
        // A quoted message starts no thread: its thread is not looked up.
        assert!(!linked.may_start("quoted"));
    }
}
