//! Links between messages of one room's pages: a reply to its thread's parent, a parent
//! to its first reply, a quote to what it quotes — wherever those messages are.
//!
//! A page is written once, in order, so a link must know its target's page before
//! the target is written, and an export of a million messages must not hold a million
//! ids to find it. The export therefore asks the store about the few messages a batch
//! names ([`named_messages`]) and hands the answers over as [`LinkTargets`]: at most a
//! few entries per message of the batch. Messages already written are found by the
//! page starts [`PageState`](super::PageState) keeps (one entry per page).

use foldhash::{HashMap, HashSet, HashSetExt};

use serde_json::Value;

use super::page_file;
use crate::render::message::{percent_encode, quote_link, quoted_message_id};
use crate::workspace::Message;

/// A thread as its parent shows it: how many replies, and where the first one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStart {
    /// Replies in the archive.
    pub replies: u64,
    /// The first reply's id.
    pub first_reply: String,
    /// The page holding it.
    pub page: u32,
}

/// Where the messages one batch links to are, and which of its messages a link may
/// point at (those get anchors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTargets {
    pages: HashMap<String, u32>,
    threads: HashMap<String, ThreadStart>,
    anchors: HashSet<String>,
}

impl LinkTargets {
    /// Records that message `id` is on page `page` of this room.
    pub fn insert_page(&mut self, id: impl Into<String>, page: u32) {
        self.pages.insert(id.into(), page);
    }

    /// Records the thread that message `parent` starts.
    pub fn insert_thread(&mut self, parent: impl Into<String>, thread: ThreadStart) {
        self.threads.insert(parent.into(), thread);
    }

    /// The page of message `id`, when it is in this room's archive.
    pub fn page(&self, id: &str) -> Option<u32> {
        self.pages.get(id).copied()
    }

    /// The thread message `parent` starts, when it has replies.
    pub fn thread(&self, parent: &str) -> Option<&ThreadStart> {
        self.threads.get(parent)
    }

    /// Records that message `id` of the batch gets an anchor on its page: some link
    /// may point at it (see [`LinkedMessages::may_be_linked`](super::LinkedMessages)).
    pub fn insert_anchor(&mut self, id: impl Into<String>) {
        self.anchors.insert(id.into());
    }

    /// Whether message `id` of the batch gets an anchor.
    pub fn anchored(&self, id: &str) -> bool {
        self.anchors.contains(id)
    }
}

/// The messages a batch names, each once, in order of first mention: thread parents
/// (`tmid`) and quoted messages (`message_link`). The export looks up which of them the
/// room's archive holds, and where.
pub fn named_messages(batch: &[Message]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut named = Vec::new();
    for message in batch {
        let quoted = message.attachments.iter().flat_map(quoted_messages);
        for id in message.thread_id.as_deref().into_iter().chain(quoted) {
            if seen.insert(id) {
                named.push(id.to_owned());
            }
        }
    }
    named
}

/// The ids of the messages a message's `attachments` quote (`message_link`s), in
/// order; nothing for attachments that are not a list.
pub fn quoted_messages(attachments: &Value) -> impl Iterator<Item = &str> {
    attachments
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(quote_link)
        .filter_map(quoted_message_id)
}

/// The href of message `id` on page `page`, seen from page `from` of the room whose
/// first page is `first_page`: the anchor alone on the same page.
pub(super) fn message_href(first_page: &str, from: u32, page: u32, id: &str) -> String {
    let anchor = percent_encode(id);
    if page == from {
        format!("#{anchor}")
    } else {
        format!(
            "./{}#{anchor}",
            percent_encode(&page_file(first_page, page))
        )
    }
}
