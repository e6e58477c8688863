//! One message as an export writes it: a JSON line (full export) or an HTML paragraph
//! (personal export), in Rocket.Chat's shapes, with other users pseudonymised.

mod files;
mod marks;
mod quote;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::escape::{escape_html, escape_html_text, push_escaped_text};
use super::names::{asset_name, is_active_content};
use super::pseudonyms::Pseudonyms;
use crate::i18n::Catalogue;
use crate::time::iso_millis;
use crate::workspace::Message;
use files::file_link;
pub(crate) use marks::{push_edited, push_reactions, TimeTitles};
pub use marks::{Edited, ShownReaction, REACTORS_NAMED};
pub(crate) use quote::quote_link;
pub use quote::quoted_message_id;

/// The upload a message carries, as the export knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedFile {
    /// The upload id.
    pub id: String,
    /// The original file name (untrusted).
    pub name: String,
    /// The safe file name inside `assets/`.
    pub asset: String,
    /// Whether it is an image to show inline.
    pub is_image: bool,
    /// Whether it is linked for download only: markup or script a browser would run.
    pub download_only: bool,
    /// The MIME type, as the upload record gives it.
    pub content_type: Option<String>,
    /// The size in bytes, when the upload record is there.
    pub size: Option<u64>,
    /// Whether the archive carries the file's bytes; a missing one is shown as
    /// unavailable rather than as a link that leads nowhere.
    pub available: bool,
}

impl AttachedFile {
    /// The upload `id` named `name` with MIME type `content_type`: its asset name, and
    /// whether it is shown inline (images that cannot carry script) or only offered
    /// for download (see [`is_active_content`](super::is_active_content)).
    ///
    /// ```
    /// use udd_domain::render::AttachedFile;
    /// let png = AttachedFile::new("F1", "diagram.png", Some("image/png"));
    /// assert!(png.is_image && !png.download_only);
    /// let svg = AttachedFile::new("F2", "logo.svg", Some("image/svg+xml"));
    /// assert!(!svg.is_image && svg.download_only);
    /// assert_eq!(svg.asset, "F2-logo.svg.txt");
    /// ```
    pub fn new(id: &str, name: &str, content_type: Option<&str>) -> Self {
        let active = is_active_content(name) || content_type.is_some_and(is_active_type);
        let mut asset = asset_name(id, name);
        if active && !asset.ends_with(".txt") {
            asset.push_str(".txt");
        }
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            asset,
            is_image: !active && content_type.is_some_and(|t| t.starts_with("image/")),
            download_only: active,
            content_type: content_type.map(str::to_owned),
            size: None,
            available: true,
        }
    }

    /// The same file with its size and whether its bytes are available.
    pub fn with_details(mut self, size: Option<u64>, available: bool) -> Self {
        self.size = size;
        self.available = available;
        self
    }
}

/// A message after pseudonymisation and system-message rendering, borrowing what it
/// shows unchanged from the message it renders.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedMessage<'a> {
    /// The message id, the page anchor replies link to.
    pub id: Cow<'a, str>,
    /// The thread parent's id, for a reply in a thread.
    pub thread_id: Option<Cow<'a, str>>,
    /// The text, or the sentence a system message stands for.
    pub msg: Cow<'a, str>,
    /// The author as shown (`User_N` for others).
    pub username: String,
    /// When it was sent.
    pub ts: DateTime<Utc>,
    /// Attachment metadata in Rocket.Chat's export shape.
    pub attachments: Option<Vec<Value>>,
    /// The system message type.
    pub message_type: Option<Cow<'a, str>>,
    /// When the text was last edited and by whom (pages only; see
    /// [`RenderedMessage::for_page`]).
    pub edited: Option<Edited>,
    /// The reactions (pages only).
    pub reactions: Vec<ShownReaction>,
}

/// Attachment keys Rocket.Chat's export keeps, in its order, plus the quoted text and
/// description (the user's data too, which Rocket.Chat's export drops). `author_name`
/// (the author of a quoted message) goes through the pseudonym table like every other
/// name.
const ATTACHMENT_KEYS: [&str; 16] = [
    "type",
    "title",
    "title_link",
    "image_url",
    "audio_url",
    "video_url",
    "message_link",
    "image_type",
    "image_size",
    "video_size",
    "video_type",
    "audio_size",
    "audio_type",
    "description",
    "text",
    "author_name",
];

/// System message types shown in italics, as Rocket.Chat does.
const ITALIC_TYPES: [&str; 7] = ["uj", "ul", "au", "r", "ru", "wm", "livechat-close"];

impl<'a> RenderedMessage<'a> {
    /// Renders `message`, naming users through `pseudonyms`.
    pub fn new(
        message: &'a Message,
        file: Option<&AttachedFile>,
        pseudonyms: &mut Pseudonyms,
        words: &Catalogue,
    ) -> Self {
        let author = message
            .username
            .as_deref()
            .or(message.user_id.as_deref())
            .unwrap_or("unknown");
        let username = pseudonyms.alias(author);
        let msg = match message.message_type.as_deref() {
            Some(kind) => Cow::Owned(system_sentence(
                kind,
                &message.msg,
                &username,
                pseudonyms,
                words,
            )),
            None => Cow::Borrowed(message.msg.as_str()),
        };
        let attachments = message
            .attachments
            .as_ref()
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|attachment| attachment_data(attachment, message, file, pseudonyms))
                    .collect()
            });
        Self {
            id: Cow::Borrowed(message.id.as_str()),
            thread_id: message.thread_id.as_deref().map(Cow::Borrowed),
            msg,
            username,
            ts: message.ts,
            attachments,
            message_type: message.message_type.as_deref().map(Cow::Borrowed),
            edited: None,
            reactions: Vec::new(),
        }
    }

    /// Renders `message` for a personal export's page: as [`RenderedMessage::new`],
    /// with its edit and reactions, whose people are named through `pseudonyms` too.
    /// (A full export's JSON lines keep Rocket.Chat's shape, which has neither, so
    /// they do not hand out pseudonyms for them.)
    pub fn for_page(
        message: &'a Message,
        file: Option<&AttachedFile>,
        pseudonyms: &mut Pseudonyms,
        words: &Catalogue,
    ) -> Self {
        let mut rendered = Self::new(message, file, pseudonyms, words);
        rendered.edited = marks::edited(message, pseudonyms);
        rendered.reactions = marks::reactions(message, pseudonyms);
        rendered
    }
}

/// The system message types that are sentences, each with its catalogue key; the
/// sentence may name `{subject}` (a user, a room name or topic) and `{by}` (the author).
const SYSTEM_SENTENCES: [(&str, &str); 20] = [
    ("uj", "system.uj"),
    ("ul", "system.ul"),
    ("ult", "system.ult"),
    ("ujt", "system.ujt"),
    ("au", "system.au"),
    ("ru", "system.ru"),
    ("added-user-to-team", "system.added_user_to_team"),
    ("removed-user-from-team", "system.removed_user_from_team"),
    ("r", "system.r"),
    ("room_changed_topic", "system.room_changed_topic"),
    (
        "room_changed_description",
        "system.room_changed_description",
    ),
    (
        "room_changed_announcement",
        "system.room_changed_announcement",
    ),
    ("wm", "system.wm"),
    ("livechat-close", "system.livechat_close"),
    ("livechat-started", "system.livechat_started"),
    ("user-added-room-to-team", "system.user_added_room_to_team"),
    ("user-converted-to-team", "system.user_converted_to_team"),
    (
        "user-converted-to-channel",
        "system.user_converted_to_channel",
    ),
    (
        "user-deleted-room-from-team",
        "system.user_deleted_room_from_team",
    ),
    (
        "user-removed-room-from-team",
        "system.user_removed_room_from_team",
    ),
];

/// Types whose subject is a username, shown through the pseudonym table.
const USER_SUBJECTS: [&str; 4] = ["au", "ru", "added-user-to-team", "removed-user-from-team"];

/// The sentence a system message stands for (Rocket.Chat's texts, in the catalogue's
/// language), naming users through the pseudonym table. Unknown types keep their text.
fn system_sentence(
    kind: &str,
    subject: &str,
    by: &str,
    pseudonyms: &mut Pseudonyms,
    words: &Catalogue,
) -> String {
    let Some((_, key)) = SYSTEM_SENTENCES.iter().find(|(k, _)| *k == kind) else {
        return subject.to_owned();
    };
    let subject = if USER_SUBJECTS.contains(&kind) {
        pseudonyms.alias(subject)
    } else {
        subject.to_owned()
    };
    words.text(key, &[("subject", &subject), ("by", by)])
}

fn attachment_data(
    attachment: &Value,
    message: &Message,
    file: Option<&AttachedFile>,
    pseudonyms: &mut Pseudonyms,
) -> Value {
    let mut data = Map::new();
    for key in ATTACHMENT_KEYS {
        if let Some(value) = attachment.get(key).filter(|v| !v.is_null()) {
            let value = match (key, value.as_str()) {
                ("author_name", Some(author)) => Value::String(pseudonyms.alias(author)),
                _ => value.clone(),
            };
            data.insert(key.to_owned(), value);
        }
    }
    let url = [
        "title_link",
        "image_url",
        "audio_url",
        "video_url",
        "message_link",
    ]
    .iter()
    .find_map(|key| {
        attachment
            .get(*key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    });
    data.insert(
        "url".to_owned(),
        url.map_or(Value::Null, |u| Value::String(u.to_owned())),
    );
    data.insert("remote".to_owned(), Value::Bool(message.file_id.is_none()));
    if let Some(file_id) = &message.file_id {
        data.insert("fileId".to_owned(), Value::String(file_id.to_string()));
        let name = file
            .map(|f| f.name.clone())
            .or_else(|| attachment["title"].as_str().map(str::to_owned));
        if let Some(name) = name {
            data.insert("fileName".to_owned(), Value::String(name));
        }
    }
    Value::Object(data)
}

/// The JSON line shape, borrowing from the rendered message.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    msg: &'a str,
    username: &'a str,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<&'a Vec<Value>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    message_type: Option<&'a str>,
}

/// Appends one line of a full export's room file, newline included:
/// `{"msg","username","ts","attachments"?,"type"?}`.
pub fn render_json_line(message: &RenderedMessage, out: &mut String) {
    let line = JsonLine {
        msg: &message.msg,
        username: &message.username,
        ts: iso_millis(message.ts),
        attachments: message.attachments.as_ref(),
        message_type: message.message_type.as_deref(),
    };
    // Serialising strings and JSON values into memory cannot fail.
    if let Ok(text) = serde_json::to_string(&line) {
        out.push_str(&text);
    }
    out.push('\n');
}

fn is_italic(message: &RenderedMessage) -> bool {
    message
        .message_type
        .as_deref()
        .is_some_and(|t| ITALIC_TYPES.contains(&t))
}

/// The content of one message on a personal export's room page (its text, quotes and
/// attachments; the author line, grouping, thread and reactions are the page's), every
/// user string escaped, fixed words from `words`. `locate` gives the href of a message
/// of the same room's archive by id, for quotes that link to what they quote.
pub fn render_html(
    message: &RenderedMessage,
    file: Option<&AttachedFile>,
    words: &Catalogue,
    locate: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut html = String::with_capacity(message.msg.len() + 16);
    push_html(&mut html, message, file, words, locate);
    html
}

/// Appends [`render_html`]'s content of `message` to `out` (a page renders straight
/// into its buffer).
pub(crate) fn push_html(
    out: &mut String,
    message: &RenderedMessage,
    file: Option<&AttachedFile>,
    words: &Catalogue,
    locate: &dyn Fn(&str) -> Option<String>,
) {
    let italic = is_italic(message);
    if italic {
        out.push_str("<i>");
    }
    push_escaped_text(out, &message.msg);
    if italic {
        out.push_str("</i>");
    }
    for attachment in message.attachments.iter().flatten() {
        out.push_str(&attachment_html(attachment, file, words, locate));
    }
    if let (Some(file), None) = (file, &message.attachments) {
        out.push_str(&file_link(file, &file.name, words));
    }
}

/// Whether a link from message data may be followed: only web and mail addresses,
/// never `javascript:`, `data:` or relative ones.
pub(crate) fn is_followable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn attachment_html(
    attachment: &Value,
    file: Option<&AttachedFile>,
    words: &Catalogue,
    locate: &dyn Fn(&str) -> Option<String>,
) -> String {
    if let Some(link) = quote_link(attachment) {
        return quote::quote_html(attachment, link, words, locate);
    }
    let title = attachment["title"].as_str().filter(|t| !t.is_empty());
    if let Some(file) = file.filter(|_| !attachment["remote"].as_bool().unwrap_or(true)) {
        return file_link(file, title.unwrap_or(&file.name), words);
    }
    let fallback = words.text("archive.attachment", &[]);
    let text = title
        .or_else(|| attachment["text"].as_str())
        .or_else(|| attachment["description"].as_str())
        .unwrap_or(&fallback);
    match attachment["url"].as_str().filter(|u| is_followable(u)) {
        Some(url) => format!(
            "<br/>\n<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
            escape_html(url),
            escape_html(text)
        ),
        None => format!(
            "<br/>\n<span class=\"attachment\">{}</span>",
            escape_html_text(text)
        ),
    }
}

/// MIME types a browser renders as a document that can run script.
fn is_active_type(content_type: &str) -> bool {
    const ACTIVE: [&str; 7] = [
        "text/html",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "text/ecmascript",
        "application/ecmascript",
    ];
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ACTIVE.contains(&essence.as_str()) || essence.ends_with("+xml")
}

/// Percent-encodes a file name for use as a relative URL path segment.
pub(super) fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
