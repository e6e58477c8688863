//! The markup of room pages: the frame with its page links, date lines, messages and
//! the month index. Every user string is escaped here or before it arrives.

use chrono::{DateTime, Utc};

use super::{month_index_file, page_file, MonthStart};
use crate::render::escape::escape_html;
use crate::render::message::{percent_encode, RenderedMessage};
use crate::render::pages::head;

fn href(file: &str) -> String {
    escape_html(&format!("./{}", percent_encode(file)))
}

fn page_links(first_page: &str, page: u32, has_next: Option<bool>) -> String {
    let mut links = vec![
        "<a href=\"./index.html\">All rooms</a>".to_owned(),
        format!(
            "<a href=\"{}\">Months</a>",
            href(&month_index_file(first_page))
        ),
    ];
    if page > 1 {
        links.push(format!(
            "<a href=\"{}\" rel=\"prev\">← Previous page</a>",
            href(&page_file(first_page, page - 1))
        ));
    }
    links.push(format!("<span class=\"page\">Page {page}</span>"));
    if has_next == Some(true) {
        links.push(format!(
            "<a href=\"{}\" rel=\"next\">Next page →</a>",
            href(&page_file(first_page, page + 1))
        ));
    }
    format!("<nav class=\"pages\">{}</nav>\n", links.join(" "))
}

/// The start of page `page` of a room.
pub(super) fn page_header(title: &str, first_page: &str, page: u32) -> String {
    let full_title = if page > 1 {
        format!("{title} — page {page}")
    } else {
        title.to_owned()
    };
    format!(
        "{}<header>\n{}<h1>{}</h1>\n</header>\n<main>\n",
        head(&full_title),
        page_links(first_page, page, None),
        escape_html(title)
    )
}

/// The end of page `page`, linking the next one when there is one.
pub(super) fn page_footer(first_page: &str, page: u32, has_next: bool) -> String {
    format!(
        "</main>\n<footer>\n{}</footer>\n</body>\n</html>\n",
        page_links(first_page, page, Some(has_next))
    )
}

/// The line shown when the day changes; the first day of a month carries the anchor
/// the month index links to.
pub(super) fn day_separator(ts: DateTime<Utc>, month: Option<&str>) -> String {
    let day = ts.format("%Y-%m-%d");
    let id = month.map_or_else(String::new, |m| format!(" id=\"m-{}\"", escape_html(m)));
    format!(
        "<h2 class=\"day\"{id}><time datetime=\"{day}\">{}</time></h2>\n",
        ts.format("%A, %-d %B %Y")
    )
}

/// One message: its anchor, the author line unless it continues a group, the thread
/// it answers, and its content (already escaped).
pub(super) fn message_html(
    message: &RenderedMessage,
    content: &str,
    system: bool,
    grouped: bool,
    parent: Option<(&str, bool)>,
) -> String {
    let class = match (system, grouped) {
        (true, _) => "msg system",
        (false, true) => "msg cont",
        (false, false) => "msg",
    };
    let time = time_element(message.ts);
    let mut html = format!(
        "<article class=\"{class}\" id=\"{}\">\n",
        escape_html(&message.id)
    );
    if grouped {
        html.push_str(&format!("<p class=\"meta\">{time}</p>\n"));
    } else {
        html.push_str(&format!(
            "<p class=\"meta\"><strong>{}</strong> {time}</p>\n",
            escape_html(&message.username)
        ));
    }
    match parent {
        Some((parent, true)) => html.push_str(&format!(
            "<p class=\"thread\">↳ <a href=\"#{}\">Reply in a thread</a></p>\n",
            escape_html(&percent_encode(parent))
        )),
        Some((_, false)) => html.push_str("<p class=\"thread\">↳ Reply in a thread</p>\n"),
        None => {}
    }
    html.push_str(&format!(
        "<div class=\"text\">{content}</div>\n</article>\n"
    ));
    html
}

/// A message's `<time>`: machine-readable, the full date as its title, the hour shown.
/// Formatted by hand: this runs for every message, and a chrono format string is
/// parsed again on each use.
fn time_element(ts: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let year = ts.year();
    if !(0..=9999).contains(&year) {
        // Years chrono writes with a sign.
        return format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            ts.format("%Y-%m-%dT%H:%M:%SZ"),
            ts.format("%a, %d %b %Y %H:%M:%S GMT"),
            ts.format("%H:%M")
        );
    }
    let (month, day) = (ts.month(), ts.day());
    let (hour, minute, second) = (ts.hour(), ts.minute(), ts.second());
    let weekday = DAYS[ts.weekday().num_days_from_monday() as usize];
    let month_name = MONTHS[ts.month0() as usize];
    let mut time = String::with_capacity(112);
    let _ = write!(
        time,
        "<time datetime=\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z\" \
         title=\"{weekday}, {day:02} {month_name} {year:04} {hour:02}:{minute:02}:{second:02} GMT\">\
         {hour:02}:{minute:02}</time>"
    );
    time
}

/// The room's month index: each month linked to the page and anchor of its first
/// message.
pub fn month_index_html(title: &str, first_page: &str, months: &[MonthStart]) -> String {
    let mut html = format!(
        "{}<header>\n<nav class=\"pages\"><a href=\"./index.html\">All rooms</a> <a href=\"{}\">First page</a></nav>\n<h1>{}</h1>\n</header>\n<main>\n<h2>Months</h2>\n",
        head(&format!("{title} — months")),
        href(first_page),
        escape_html(title)
    );
    if months.is_empty() {
        html.push_str("<p class=\"empty\">No messages.</p>\n");
    } else {
        html.push_str("<ul class=\"months\">\n");
        for start in months {
            html.push_str(&format!(
                "<li><a href=\"{}#m-{}\">{}</a> <span class=\"meta\">page {}</span></li>\n",
                href(&page_file(first_page, start.page)),
                escape_html(&start.month),
                escape_html(&start.month),
                start.page
            ));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_chrono(ts: DateTime<Utc>) -> String {
        format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            ts.format("%Y-%m-%dT%H:%M:%SZ"),
            ts.format("%a, %d %b %Y %H:%M:%S GMT"),
            ts.format("%H:%M")
        )
    }

    proptest! {
        #[test]
        fn a_message_time_reads_as_chrono_writes_it(millis in -70_000_000_000_000_i64..300_000_000_000_000) {
            let ts = DateTime::from_timestamp_millis(millis).unwrap_or_default();
            prop_assert_eq!(time_element(ts), with_chrono(ts));
        }
    }
}
