//! Quotes: Rocket.Chat stores a quoted (or replied-to) message as an attachment with
//! `message_link` (`https://chat.example.org/channel/general?msg=<id>`), the quoted
//! author in `author_name` and the quoted text in `text`. A page shows it as a
//! blockquote, linked to the quoted message when the room's archive holds it.

use serde_json::Value;

use super::is_followable;
use crate::i18n::Catalogue;
use crate::render::escape::{escape_html, escape_html_text};
use crate::workspace::is_plain_id;

/// The id of the message a `message_link` points at (its `msg` query parameter), when it
/// is a plain id.
///
/// ```
/// use udd_domain::render::quoted_message_id;
/// assert_eq!(quoted_message_id("https://chat.example.org/channel/general?msg=Ab12"), Some("Ab12"));
/// assert_eq!(quoted_message_id("https://x/direct/r?a=1&msg=Q9#top"), Some("Q9"));
/// assert_eq!(quoted_message_id("https://x/channel/general"), None);
/// assert_eq!(quoted_message_id("https://x/?msg=../etc"), None);
/// ```
pub fn quoted_message_id(link: &str) -> Option<&str> {
    let (_, query) = link.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("msg="))
        .filter(|id| is_plain_id(id))
}

/// The message an attachment quotes, if it is a quote.
pub(crate) fn quote_link(attachment: &Value) -> Option<&str> {
    attachment["message_link"]
        .as_str()
        .filter(|link| !link.is_empty())
}

/// A quote attachment (author already pseudonymised) as a blockquote. `locate` gives
/// the href of a message of this room's archive by id; a quote of a message the archive
/// does not hold links to where it came from, when that is a web address.
pub(super) fn quote_html(
    attachment: &Value,
    link: &str,
    words: &Catalogue,
    locate: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut meta = Vec::new();
    if let Some(author) = attachment["author_name"].as_str().filter(|a| !a.is_empty()) {
        meta.push(format!("<strong>{}</strong>", escape_html(author)));
    }
    match quoted_message_id(link).and_then(locate) {
        Some(href) => meta.push(format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&href),
            escape_html(&words.text("archive.quote_link", &[]))
        )),
        None if is_followable(link) => meta.push(format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
            escape_html(link),
            escape_html(&words.text("archive.quote_source", &[]))
        )),
        None => {}
    }
    let mut html = String::from("\n<blockquote class=\"quote\">");
    if !meta.is_empty() {
        html.push_str(&format!("<p class=\"meta\">{}</p>", meta.join(" ")));
    }
    let text = attachment["text"]
        .as_str()
        .or_else(|| attachment["description"].as_str())
        .unwrap_or_default();
    html.push_str(&format!(
        "<div class=\"text\">{}</div></blockquote>",
        escape_html_text(text)
    ));
    html
}
