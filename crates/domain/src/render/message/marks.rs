//! What a personal export's page shows around a message's text: the edited mark and the
//! reactions. Names in them go through the pseudonym table like the authors do; every
//! string from the data is escaped here.

use chrono::{DateTime, NaiveDate, Utc};

use crate::i18n::Catalogue;
use crate::render::escape::escape_html;
use crate::render::pseudonyms::Pseudonyms;
use crate::time::push_clock;
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

/// A time as the pages' `title`s give it: the long date in the reader's language and
/// the time of day, UTC.
pub(crate) fn long_time(ts: DateTime<Utc>, words: &Catalogue) -> String {
    let (before, after) = long_time_around(ts.date_naive(), words);
    let mut text = before;
    push_clock(&mut text, ts, true);
    text.push_str(&after);
    text
}

/// What [`long_time`] writes before and after the time of day for any time of `day`:
/// pages work it out once a day rather than once a message.
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

/// The quiet "(edited)" mark, its time (and editor) in the title.
pub(crate) fn edited_html(edited: &Edited, words: &Catalogue) -> String {
    let date = long_time(edited.at, words);
    let title = match &edited.by {
        Some(name) => words.text("archive.edited_by", &[("date", &date), ("name", name)]),
        None => words.text("archive.edited_at", &[("date", &date)]),
    };
    format!(
        " <time class=\"edited\" datetime=\"{}\" title=\"{}\">{}</time>",
        edited.at.format("%Y-%m-%dT%H:%M:%SZ"),
        escape_html(&title),
        escape_html(&words.text("archive.edited", &[]))
    )
}

/// The reactions as chips under the message: the shortcode and the count, the people
/// in the title.
pub(crate) fn reactions_html(reactions: &[ShownReaction], words: &Catalogue) -> String {
    if reactions.is_empty() {
        return String::new();
    }
    let mut html = String::from("<ul class=\"reactions\">");
    for reaction in reactions {
        let names = reaction.names.join(", ");
        let unnamed = reaction.count.saturating_sub(reaction.names.len());
        let title = if unnamed > 0 {
            words.text(
                "archive.reacted_more",
                &[("names", &names), ("count", &unnamed.to_string())],
            )
        } else {
            names
        };
        html.push_str(&format!(
            "<li title=\"{}\">{} <span class=\"count\">{}</span></li>",
            escape_html(&title),
            escape_html(&reaction.emoji),
            reaction.count
        ));
    }
    html.push_str("</ul>\n");
    html
}
