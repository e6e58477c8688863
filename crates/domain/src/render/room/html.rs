//! The markup of room pages: the frame with its page links, date lines, messages and
//! the month index. Every user string is escaped here or before it arrives; every fixed
//! word comes from the reader's catalogue.

use chrono::{DateTime, Utc};

use super::{month_index_file, page_file, MonthStart};
use crate::i18n::Catalogue;
use crate::render::escape::{escape_html, push_escaped};
use crate::render::message::{
    percent_encode, push_edited, push_reactions, RenderedMessage, TimeTitles,
};
use crate::render::pages::{head, word};
use crate::time::{push_clock, push_iso_seconds};

fn href(file: &str) -> String {
    escape_html(&format!("./{}", percent_encode(file)))
}

fn page_links(first_page: &str, page: u32, has_next: Option<bool>, words: &Catalogue) -> String {
    let mut links = vec![
        format!(
            "<a href=\"./index.html\">{}</a>",
            word(words, "archive.all_rooms")
        ),
        format!(
            "<a href=\"{}\">{}</a>",
            href(&month_index_file(first_page)),
            word(words, "archive.months")
        ),
    ];
    if page > 1 {
        links.push(format!(
            "<a href=\"{}\" rel=\"prev\">{}</a>",
            href(&page_file(first_page, page - 1)),
            word(words, "archive.previous")
        ));
    }
    links.push(format!(
        "<span class=\"page\">{}</span>",
        escape_html(&words.text("archive.page", &[("page", &page.to_string())]))
    ));
    if has_next == Some(true) {
        links.push(format!(
            "<a href=\"{}\" rel=\"next\">{}</a>",
            href(&page_file(first_page, page + 1)),
            word(words, "archive.next")
        ));
    }
    format!("<nav class=\"pages\">{}</nav>\n", links.join(" "))
}

/// The start of page `page` of a room.
pub(super) fn page_header(title: &str, first_page: &str, page: u32, words: &Catalogue) -> String {
    let full_title = if page > 1 {
        words.text(
            "archive.title_page",
            &[("title", title), ("page", &page.to_string())],
        )
    } else {
        title.to_owned()
    };
    format!(
        "{}<header>\n{}<h1>{}</h1>\n<p class=\"tz\">{}</p>\n</header>\n<main>\n",
        head(&full_title, words),
        page_links(first_page, page, None, words),
        escape_html(title),
        word(words, "archive.times_in_utc")
    )
}

/// The end of page `page`, linking the next one when there is one.
pub(super) fn page_footer(
    first_page: &str,
    page: u32,
    has_next: bool,
    words: &Catalogue,
) -> String {
    format!(
        "</main>\n<footer>\n{}</footer>\n</body>\n</html>\n",
        page_links(first_page, page, Some(has_next), words)
    )
}

/// What the only page of a room without messages says.
pub(super) fn empty_note(words: &Catalogue) -> String {
    format!(
        "<p class=\"empty\">{}</p>\n",
        word(words, "archive.no_messages")
    )
}

/// The line shown when the day changes; the first day of a month carries the anchor
/// the month index links to.
pub(super) fn day_separator(ts: DateTime<Utc>, month: Option<&str>, words: &Catalogue) -> String {
    let day = ts.format("%Y-%m-%d");
    let id = month.map_or_else(String::new, |m| format!(" id=\"m-{}\"", escape_html(m)));
    format!(
        "<h2 class=\"day\"{id}><time datetime=\"{day}\">{}</time></h2>\n",
        escape_html(&words.long_date(ts.date_naive()))
    )
}

/// Where a message's links lead, as hrefs.
#[derive(Debug, Default)]
pub(super) struct MessageLinks {
    /// For a reply: its thread's parent, `None` inside when the archive lacks it.
    pub parent: Option<Option<String>>,
    /// For a thread's parent: how many replies, and the first one.
    pub thread: Option<(u64, String)>,
}

/// How a message stands on its page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placement {
    /// A system message (no author line, its own style).
    pub system: bool,
    /// It continues its author's group (no author line).
    pub grouped: bool,
    /// A link may point at it: its id is its anchor.
    pub anchored: bool,
}

/// Appends one message to `out`: its anchor if it has one, the author line unless it
/// continues a group, the thread it answers, its content (already escaped), its
/// reactions and the thread it starts.
pub(super) fn push_message(
    out: &mut String,
    message: &RenderedMessage,
    content: impl FnOnce(&mut String),
    placement: Placement,
    links: &MessageLinks,
    titles: &mut TimeTitles,
    words: &Catalogue,
) {
    let class = match (placement.system, placement.grouped) {
        (true, _) => "msg system",
        (false, true) => "msg cont",
        (false, false) => "msg",
    };
    out.push_str("<article class=\"");
    out.push_str(class);
    if placement.anchored {
        out.push_str("\" id=\"");
        push_escaped(out, &message.id);
    }
    out.push_str("\">\n<p class=\"meta\">");
    if !placement.grouped {
        out.push_str("<strong>");
        push_escaped(out, &message.username);
        out.push_str("</strong> ");
    }
    out.push_str("<time datetime=\"");
    push_iso_seconds(out, message.ts);
    out.push_str("\">");
    push_clock(out, message.ts, false);
    out.push_str("</time>");
    if let Some(edited) = &message.edited {
        push_edited(out, edited, titles, words);
    }
    out.push_str("</p>\n");
    if let Some(parent) = &links.parent {
        out.push_str("<p class=\"thread\">↳ ");
        let reply = word(words, "archive.reply_in_thread");
        match parent {
            Some(href) => {
                out.push_str("<a href=\"");
                push_escaped(out, href);
                out.push_str("\">");
                out.push_str(&reply);
                out.push_str("</a>");
            }
            None => out.push_str(&reply),
        }
        out.push_str("</p>\n");
    }
    out.push_str("<div class=\"text\">");
    content(out);
    out.push_str("</div>\n");
    push_reactions(out, &message.reactions, words);
    if let Some((replies, first)) = &links.thread {
        let label = if *replies == 1 {
            words.text("archive.replies_one", &[])
        } else {
            words.text("archive.replies", &[("count", &replies.to_string())])
        };
        out.push_str("<p class=\"replies\"><a href=\"");
        push_escaped(out, first);
        out.push_str("\">");
        push_escaped(out, &label);
        out.push_str("</a></p>\n");
    }
    out.push_str("</article>\n");
}

/// A `YYYY-MM` month written out ("March 2024"); anything else as it is.
fn month_label(month: &str, words: &Catalogue) -> String {
    let Some((year, number)) = month.split_once('-') else {
        return month.to_owned();
    };
    match number.parse::<u8>() {
        Ok(n @ 1..=12) => words.text(
            "archive.month_year",
            &[
                ("month", &words.text(&format!("archive.month.{n}"), &[])),
                ("year", year),
            ],
        ),
        _ => month.to_owned(),
    }
}

/// The room's month index: each month linked to the page and anchor of its first
/// message.
pub fn month_index_html(
    title: &str,
    first_page: &str,
    months: &[MonthStart],
    words: &Catalogue,
) -> String {
    let mut html = format!(
        "{}<header>\n<nav class=\"pages\"><a href=\"./index.html\">{}</a> <a href=\"{}\">{}</a></nav>\n<h1>{}</h1>\n</header>\n<main>\n<h2>{}</h2>\n",
        head(&words.text("archive.months_of", &[("title", title)]), words),
        word(words, "archive.all_rooms"),
        href(first_page),
        word(words, "archive.first_page"),
        escape_html(title),
        word(words, "archive.months"),
    );
    if months.is_empty() {
        html.push_str(&empty_note(words));
    } else {
        html.push_str("<ul class=\"months\">\n");
        for start in months {
            html.push_str(&format!(
                "<li><a href=\"{}#m-{}\">{}</a> <span class=\"meta\">{}</span></li>\n",
                href(&page_file(first_page, start.page)),
                escape_html(&start.month),
                escape_html(&month_label(&start.month, words)),
                escape_html(
                    &words.text("archive.month_page", &[("page", &start.page.to_string())])
                )
            ));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}
