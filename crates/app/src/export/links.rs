//! Where the messages a batch of a personal export links to are: thread parents,
//! quoted messages and each thread's first reply, looked up in the store for that batch
//! alone, so memory stays bounded by the batch however long the room.

use foldhash::HashMap;

use chrono::{DateTime, Utc};
use udd_domain::render::{
    named_messages, page_of, LinkTargets, LinkedMessages, RoomPages, ThreadStart,
};
use udd_domain::{Message, MessageCursor, RoomId};
use udd_ports::BatchLookups;

use super::error::Step;
use super::ExportEngine;

impl ExportEngine {
    /// Which messages of the export's rooms (`room_ids`, up to `cutoff`) a link may
    /// point at: read once per run of the messages stage, so that a batch asks the
    /// store about the threads of thread parents only, and its pages give anchors to
    /// the messages links may point at only.
    pub(super) fn linked_messages(
        &self,
        room_ids: &[RoomId],
        cutoff: DateTime<Utc>,
    ) -> Step<LinkedMessages> {
        let mut linked = LinkedMessages::default();
        self.ports
            .reader
            .linked_messages(room_ids, cutoff, &mut linked)?;
        Ok(linked)
    }

    /// The link targets of `batch`, the next messages of room `room_id` (sent at or
    /// before `cutoff`) that `pages` will place. A target already placed is found by
    /// the page starts, one in the batch by its position, a later one by counting the
    /// messages between the batch's end and it. Threads are looked for only where
    /// `linked` says a message may start one, and the messages it says a link may
    /// point at get anchors.
    pub(super) fn link_targets(
        &self,
        room_id: &RoomId,
        cutoff: DateTime<Utc>,
        pages: &RoomPages<'_>,
        batch: &[Message],
        linked: &LinkedMessages,
        lookups: &mut dyn BatchLookups,
    ) -> Step<LinkTargets> {
        let mut targets = LinkTargets::default();
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(targets);
        };
        for message in batch.iter().filter(|m| linked.may_be_linked(m)) {
            targets.insert_anchor(message.id.clone());
        }
        let reader = &self.ports.reader;
        let start = pages.position();
        let end = start + batch.len() as u64;
        let in_batch: HashMap<&str, u64> = batch
            .iter()
            .zip(start..)
            .map(|(m, position)| (m.id.as_str(), position))
            .collect();
        let (first, last) = (MessageCursor::after(first), MessageCursor::after(last));
        let page_of_key = |key: &MessageCursor| -> Step<u32> {
            if let Some(position) = in_batch.get(key.id.as_str()) {
                return Ok(page_of(*position));
            }
            if *key < first {
                return Ok(pages.page_holding(key));
            }
            let ahead = reader.count_between(room_id, cutoff, &last, key)?;
            Ok(page_of(end + ahead))
        };
        // Named messages of the batch itself need no lookup.
        let (here, elsewhere): (Vec<String>, Vec<String>) = named_messages(batch)
            .into_iter()
            .partition(|id| in_batch.contains_key(id.as_str()));
        for id in here {
            let page = page_of(in_batch[id.as_str()]);
            targets.insert_page(id, page);
        }
        if !elsewhere.is_empty() {
            for key in reader.message_keys(room_id, cutoff, &elsewhere)? {
                let page = page_of_key(&key)?;
                targets.insert_page(key.id, page);
            }
        }
        let starters: Vec<MessageCursor> = batch
            .iter()
            .filter(|m| linked.may_start(&m.id))
            .map(MessageCursor::after)
            .collect();
        if starters.is_empty() {
            return Ok(targets);
        }
        for thread in lookups.threads_started(room_id, cutoff, &starters)? {
            let page = page_of_key(&thread.first)?;
            targets.insert_thread(
                thread.parent,
                ThreadStart {
                    replies: thread.replies,
                    first_reply: thread.first.id,
                    page,
                },
            );
        }
        Ok(targets)
    }
}
