//! What a personal export's page shows around a message's text: the edited mark and the
//! reactions. Names in them go through the pseudonym table like the authors do; every
//! string from the data is escaped here.

use chrono::{DateTime, NaiveDate, Utc};

use crate::i18n::Catalogue;
use crate::render::escape::push_escaped;
use crate::render::pseudonyms::Pseudonyms;
use crate::time::{push_clock, push_iso_seconds};
use crate::workspace::Message;

/// The most reacting people a reaction names (in its `title`); the rest are counted.
pub const REACTORS_NAMED: usize = 20;

/// A message's last edit, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// When.
    pub at: DateTime<Utc>,
    /// By whom, as shown (`User_N` for others), when the data says.
    pub by: Option<String>,
}

/// One reaction as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownReaction {
    /// The emoji's shortcode (untrusted text).
    pub emoji: String,
    /// How many people chose it.
    pub count: usize,
    /// The first [`REACTORS_NAMED`] of them, as shown.
    pub names: Vec<String>,
}

/// The edit of `message`, its editor named through `pseudonyms`.
pub(super) fn edited(message: &Message, pseudonyms: &mut Pseudonyms) -> Option<Edited> {
    message.edited_at.map(|at| Edited {
        at,
        by: message
            .edited_by
            .as_deref()
            .filter(|name| !name.is_empty())
            .map(|name| pseudonyms.alias(name)),
    })
}

/// The reactions of `message` that someone still holds, their people named through
/// `pseudonyms`.
pub(super) fn reactions(message: &Message, pseudonyms: &mut Pseudonyms) -> Vec<ShownReaction> {
    message
        .reactions
        .iter()
        .filter(|r| !r.emoji.is_empty() && !r.usernames.is_empty())
        .map(|r| ShownReaction {
            emoji: r.emoji.clone(),
            count: r.usernames.len(),
            names: r
                .usernames
                .iter()
                .take(REACTORS_NAMED)
                .map(|name| pseudonyms.alias(name))
                .collect(),
        })
        .collect()
}

/// Times as the pages' `title`s give them: the long date in the reader's language and
/// the time of day, UTC. The words around the time of day are worked out once a day
/// rather than once a message.
#[derive(Debug, Default)]
pub(crate) struct TimeTitles {
    /// The last day asked for, and what goes before and after its time of day.
    day: Option<(NaiveDate, String, String)>,
}

impl TimeTitles {
    /// The title of time `ts`.
    pub(crate) fn long_time(&mut self, ts: DateTime<Utc>, words: &Catalogue) -> String {
        let day = ts.date_naive();
        let (_, before, after) = match &mut self.day {
            Some(known) if known.0 == day => known,
            slot => {
                let (before, after) = long_time_around(day, words);
                slot.insert((day, before, after))
            }
        };
        let mut text = before.clone();
        push_clock(&mut text, ts, true);
        text.push_str(after);
        text
    }
}

/// What a title writes before and after the time of day for any time of `day`.
fn long_time_around(day: NaiveDate, words: &Catalogue) -> (String, String) {
    const MARK: &str = "\u{0}";
    let text = words.text(
        "archive.time",
        &[("date", &words.long_date(day)), ("time", MARK)],
    );
    match text.split_once(MARK) {
        Some((before, after)) => (before.to_owned(), after.to_owned()),
        None => (text, String::new()),
    }
}

/// Appends the quiet "(edited)" mark, its time (and editor) in the title.
pub(crate) fn push_edited(
    out: &mut String,
    edited: &Edited,
    titles: &mut TimeTitles,
    words: &Catalogue,
) {
    let date = titles.long_time(edited.at, words);
    let title = match &edited.by {
        Some(name) => words.text("archive.edited_by", &[("date", &date), ("name", name)]),
        None => words.text("archive.edited_at", &[("date", &date)]),
    };
    out.push_str(" <time class=\"edited\" datetime=\"");
    push_iso_seconds(out, edited.at);
    out.push_str("\" title=\"");
    push_escaped(out, &title);
    out.push_str("\">");
    push_escaped(out, &words.text("archive.edited", &[]));
    out.push_str("</time>");
}

/// Appends the reactions as chips under the message: the shortcode and the count, the
/// people in the title.
pub(crate) fn push_reactions(out: &mut String, reactions: &[ShownReaction], words: &Catalogue) {
    if reactions.is_empty() {
        return;
    }
    out.push_str("<ul class=\"reactions\">");
    for reaction in reactions {
        let unnamed = reaction.count.saturating_sub(reaction.names.len());
        out.push_str("<li title=\"");
        if unnamed > 0 {
            let names = reaction.names.join(", ");
            let title = words.text(
                "archive.reacted_more",
                &[("names", &names), ("count", &unnamed.to_string())],
            );
            push_escaped(out, &title);
        } else {
            for (i, name) in reaction.names.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_escaped(out, name);
            }
        }
        out.push_str("\">");
        push_escaped(out, &reaction.emoji);
        out.push_str(" <span class=\"count\">");
        out.push_str(&reaction.count.to_string());
        out.push_str("</span></li>");
    }
    out.push_str("</ul>\n");
}
