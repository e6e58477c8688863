//! A personal export's room as pages a browser opens quickly: at most
//! [`MESSAGES_PER_PAGE`] messages a page, a date line when the day changes, one author
//! line for a run of messages by the same person, replies and quotes linked to what they
//! answer and thread parents to their replies (on whichever page: [`LinkTargets`]), and a
//! month index. Fixed words come from the reader's [`Catalogue`].
//!
//! Everything a page needs from the batches before it is either derived from the
//! room's committed progress (the message count gives the page, the cursor the last
//! message's time) or carried in [`PageState`], which is committed with each batch. So
//! a batch renders the same bytes whether it follows the previous one in the same run
//! or comes after a restart.

mod html;
mod linked;
mod links;

use std::ops::Range;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::message::{push_html, AttachedFile, RenderedMessage, TimeTitles};
use crate::i18n::Catalogue;
use crate::time::to_millis;
use crate::workspace::MessageCursor;
pub use html::month_index_html;
use html::{day_separator, page_footer, page_header, push_message, MessageLinks, Placement};
pub use linked::LinkedMessages;
pub use links::{named_messages, quoted_messages, LinkTargets, ThreadStart};

/// The most messages one room page holds.
pub const MESSAGES_PER_PAGE: u64 = 2000;

/// Messages by the same author within this long of the previous one share its author
/// line.
const GROUP_WINDOW: Duration = Duration::minutes(5);

/// The page (from 1) holding the message at `position` (from 0) in the room's order.
pub fn page_of(position: u64) -> u32 {
    u32::try_from(position / MESSAGES_PER_PAGE + 1).unwrap_or(u32::MAX)
}

/// How many pages a room of `messages` messages has (an empty room still has one).
pub fn page_count(messages: u64) -> u32 {
    page_of(messages.saturating_sub(1))
}

/// The page the room's committed length refers to: the page of its last committed
/// message, or the first page before any.
pub fn current_page(committed_messages: u64) -> u32 {
    page_count(committed_messages)
}

/// The file of page `page` of the room whose first page is `first_page`:
/// `<roomId>.html`, then `<roomId>-2.html`, `<roomId>-3.html`, …
pub fn page_file(first_page: &str, page: u32) -> String {
    if page <= 1 {
        return first_page.to_owned();
    }
    format!("{}-{page}.html", stem(first_page))
}

/// Every page file of a room of `messages` messages, in order.
pub fn page_files(first_page: &str, messages: u64) -> Vec<String> {
    (1..=page_count(messages))
        .map(|page| page_file(first_page, page))
        .collect()
}

/// The working file holding every page of the room whose first page is `first_page`,
/// one after the other (`pages/<roomId>.html`): a room of a thousand pages is one file
/// while it is written, and its pages become archive entries as byte ranges of it
/// ([`PageState::page_range`]).
pub fn pages_file(first_page: &str) -> String {
    format!("{PAGES_FOLDER}{first_page}")
}

/// The folder of the rooms' [`pages_file`]s, inside the working folder.
pub const PAGES_FOLDER: &str = "pages/";

/// The room's month index: `<roomId>-index.html`.
pub fn month_index_file(first_page: &str) -> String {
    format!("{}-index.html", stem(first_page))
}

fn stem(first_page: &str) -> &str {
    first_page.strip_suffix(".html").unwrap_or(first_page)
}

/// Where a month's first message is: the month (`YYYY-MM`) and its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthStart {
    /// `YYYY-MM`, in UTC like every time in the archive.
    pub month: String,
    /// The page holding the month's first message.
    pub page: u32,
}

/// What a room's pages carry from one batch to the next, committed with the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    /// The room's title as the pages show it (direct rooms are named by their
    /// participants, pseudonymised as the export shows them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// When the room's first message was sent.
    #[serde(
        default,
        with = "chrono::serde::ts_milliseconds_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first: Option<DateTime<Utc>>,
    /// The author of the last message, when it was a user's message (not a system
    /// one): the next message by them within minutes joins its group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Each month's first message, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<MonthStart>,
    /// Where each page after the first begins: its first message's time (milliseconds
    /// since the epoch) and id. A link to a message already written finds its page here,
    /// with one entry per page however long the room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_starts: Vec<(i64, String)>,
    /// Where each page after the first begins in the room's [`pages_file`], in bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_offsets: Vec<u64>,
}

impl PageState {
    /// The page holding the message at `key`, which must be one already placed.
    pub fn page_holding(&self, key: &MessageCursor) -> u32 {
        let key = (to_millis(key.ts), key.id.as_str());
        let later_starts = self
            .page_starts
            .partition_point(|(ts, id)| (*ts, id.as_str()) <= key);
        u32::try_from(later_starts + 1).unwrap_or(u32::MAX)
    }

    /// The bytes of page `page` (from 1) in the room's [`pages_file`], `length` bytes
    /// long so far: from where it begins to where the next one does, or to `length`
    /// for the last page.
    pub fn page_range(&self, page: u32, length: u64) -> Range<u64> {
        let index = page.saturating_sub(1) as usize;
        let begins = |i: usize| match i {
            0 => Some(0),
            i => self.page_offsets.get(i - 1).copied(),
        };
        let start = begins(index).unwrap_or(length).min(length);
        let end = begins(index + 1).unwrap_or(length).clamp(start, length);
        start..end
    }

    /// The stored form: empty for a room no page was written for (full exports).
    pub fn to_text(&self) -> String {
        if *self == Self::default() {
            return String::new();
        }
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The stored form of everything but where the pages begin (`page_starts` and
    /// `page_offsets`), which a store keeps apart, one record per page written once:
    /// in this form they would be written again with every batch.
    pub fn to_text_without_pages(&self) -> String {
        Self {
            title: self.title.clone(),
            first: self.first,
            author: self.author.clone(),
            months: self.months.clone(),
            page_starts: Vec::new(),
            page_offsets: Vec::new(),
        }
        .to_text()
    }

    /// Reads the stored form back.
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text)
    }
}

/// What a batch appends to the room's [`pages_file`], after its committed length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagesAppend {
    /// The bytes.
    pub bytes: String,
    /// The pages they run through, in order, each with where its share of `bytes`
    /// begins: the first continues the page the committed length ends in (at 0), every
    /// later one starts there.
    pub pages: Vec<(u32, usize)>,
}

impl PagesAppend {
    /// Where each page's share of the bytes lies in them, in order.
    pub fn page_ranges(&self) -> impl Iterator<Item = (u32, Range<usize>)> + '_ {
        let ends = self.pages.iter().skip(1).map(|(_, at)| *at);
        self.pages
            .iter()
            .zip(ends.chain([self.bytes.len()]))
            .map(|((page, start), end)| (*page, *start..end))
    }
}

/// Renders one batch of a room's messages onto its pages.
#[derive(Debug)]
pub struct RoomPages<'a> {
    first_page: &'a str,
    words: &'a Catalogue,
    position: u64,
    last_ts: Option<DateTime<Utc>>,
    /// The committed length of the room's pages file: where the batch's bytes go.
    length: u64,
    state: &'a mut PageState,
    append: PagesAppend,
    titles: TimeTitles,
}

impl PagesAppend {
    /// The buffer of page `page`: the current one, or `page` started after it.
    fn out(&mut self, page: u32) -> &mut String {
        if self.pages.last().is_none_or(|(last, _)| *last != page) {
            self.pages.push((page, self.bytes.len()));
        }
        &mut self.bytes
    }
}

impl<'a> RoomPages<'a> {
    /// Continues the room whose first page is `first_page` after `position` committed
    /// messages, the last of them sent at `last_ts` (the cursor's time), and `length`
    /// committed bytes of its [`pages_file`], in the words of `words`.
    pub fn new(
        first_page: &'a str,
        position: u64,
        last_ts: Option<DateTime<Utc>>,
        length: u64,
        state: &'a mut PageState,
        words: &'a Catalogue,
    ) -> Self {
        Self {
            first_page,
            words,
            position,
            last_ts,
            length,
            state,
            append: PagesAppend::default(),
            titles: TimeTitles::default(),
        }
    }

    /// Gives the batch's buffer room for `bytes` from the start, so that rendering a
    /// batch does not copy its pages over as they grow.
    pub fn with_capacity(mut self, bytes: usize) -> Self {
        self.append.bytes.reserve(bytes);
        self
    }

    fn out(&mut self, page: u32) -> &mut String {
        self.append.out(page)
    }

    fn header(&self, page: u32) -> String {
        page_header(&self.state.title, self.first_page, page, self.words)
    }

    /// How many messages the room's pages hold so far: the position of the next one.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The page holding the message at `key`, which must be one already placed (in
    /// this batch or an earlier one).
    pub fn page_holding(&self, key: &MessageCursor) -> u32 {
        self.state.page_holding(key)
    }

    /// Places the next message; `targets` says where the messages it links to are.
    pub fn push(
        &mut self,
        message: &RenderedMessage,
        file: Option<&AttachedFile>,
        targets: &LinkTargets,
    ) {
        let page = page_of(self.position);
        let first_on_page = self.position.is_multiple_of(MESSAGES_PER_PAGE);
        if first_on_page {
            if page > 1 {
                let footer = page_footer(self.first_page, page - 1, true, self.words);
                self.out(page - 1).push_str(&footer);
                self.state
                    .page_starts
                    .push((to_millis(message.ts), message.id.to_string()));
                let begins = self.length + self.append.bytes.len() as u64;
                self.state.page_offsets.push(begins);
            }
            let header = self.header(page);
            self.out(page).push_str(&header);
        }
        let ts = message.ts;
        let previous = self.last_ts;
        let new_day = first_on_page || previous.is_none_or(|p| p.date_naive() != ts.date_naive());
        if new_day {
            let month = ts.format("%Y-%m").to_string();
            let new_month = previous.is_none_or(|p| p.format("%Y-%m").to_string() != month);
            if new_month {
                self.state.months.push(MonthStart {
                    month: month.clone(),
                    page,
                });
            }
            let separator = day_separator(ts, new_month.then_some(month.as_str()), self.words);
            self.out(page).push_str(&separator);
        }
        self.state.first.get_or_insert(ts);
        let system = message.message_type.is_some();
        let grouped = !new_day
            && !system
            && self.state.author.as_deref() == Some(message.username.as_str())
            && previous.is_some_and(|p| ts - p <= GROUP_WINDOW);
        let first_page = self.first_page;
        let locate = |id: &str| {
            targets
                .page(id)
                .map(|at| links::message_href(first_page, page, at, id))
        };
        let links = MessageLinks {
            parent: message.thread_id.as_deref().map(&locate),
            thread: targets.thread(&message.id).map(|thread| {
                (
                    thread.replies,
                    links::message_href(first_page, page, thread.page, &thread.first_reply),
                )
            }),
        };
        let placement = Placement {
            system,
            grouped,
            anchored: targets.anchored(&message.id),
        };
        let words = self.words;
        let out = self.append.out(page);
        let content = |out: &mut String| push_html(out, message, file, words, &locate);
        push_message(
            out,
            message,
            content,
            placement,
            &links,
            &mut self.titles,
            words,
        );
        if system {
            self.state.author = None;
        } else if !grouped {
            // A grouped message has the author already there.
            self.state.author = Some(message.username.clone());
        }
        self.last_ts = Some(ts);
        self.position += 1;
    }

    /// Ends the room: closes its last page (and writes the only page of an empty room).
    pub fn finish(&mut self) {
        if self.position == 0 {
            let header = self.header(1);
            let empty = html::empty_note(self.words);
            let page = self.out(1);
            page.push_str(&header);
            page.push_str(&empty);
        }
        let page = current_page(self.position);
        let footer = page_footer(self.first_page, page, false, self.words);
        self.out(page).push_str(&footer);
    }

    /// How many bytes the batch has rendered so far.
    pub fn pending_bytes(&self) -> usize {
        self.append.bytes.len()
    }

    /// What the batch appends to the room's [`pages_file`].
    pub fn into_append(self) -> PagesAppend {
        self.append
    }
}

#[cfg(test)]
mod tests;
