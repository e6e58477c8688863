//! The other files of an export: room page frame, user files, `channels.json`, and the
//! personal export's table of contents.

use serde_json::json;

use chrono::{DateTime, Utc};

use super::escape::escape_html;
use super::message::percent_encode;
use super::names::without_invisible;
use super::room::{month_index_file, page_count};
use crate::i18n::Catalogue;
use crate::user::User;

/// No script, nothing remote: only images and the stylesheet from the export itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src 'self' data: file:; style-src 'self' file:; base-uri 'none'; form-action 'none'";

/// `style.css`, the one stylesheet every page of a personal export links: light, and
/// dark when the reader's system prefers it.
pub const STYLESHEET: &str = include_str!("style.css");

/// The start of every page: the language, the CSP, the title and the stylesheet.
pub(crate) fn head(title: &str, words: &Catalogue) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"./style.css\">\n</head>\n<body>\n",
        words.code(),
        escape_html(title)
    )
}

/// `user.json` of a full export: the profile fields Rocket.Chat exports.
pub fn user_json(user: &User) -> String {
    let mut text = json!({
        "username": user.username,
        "name": user.name,
        "statusText": user.status_text,
        "emails": user.emails.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(),
        "roles": user.roles,
        "services": user.services,
    })
    .to_string();
    text.push('\n');
    text
}

/// The fixed word `key` in `words`' language, escaped.
pub(crate) fn word(words: &Catalogue, key: &str) -> String {
    escape_html(&words.text(key, &[]))
}

fn profile_rows(user: &User, words: &Catalogue) -> String {
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            word(words, label),
            escape_html(value)
        )
    };
    let mut rows = row("archive.profile.username", &user.username);
    rows += &row("archive.profile.name", user.name.as_deref().unwrap_or(""));
    rows += &row(
        "archive.profile.status",
        user.status_text.as_deref().unwrap_or(""),
    );
    let emails: Vec<&str> = user.emails.iter().map(|e| e.address.as_str()).collect();
    rows += &row("archive.profile.emails", &emails.join(", "));
    rows += &row("archive.profile.roles", &user.roles.join(", "));
    rows += &row("archive.profile.services", &user.services.join(", "));
    rows
}

fn avatar(has_avatar: bool, words: &Catalogue) -> String {
    if has_avatar {
        format!(
            "<p><img class=\"avatar\" src=\"./avatar\" alt=\"{}\"/></p>\n",
            word(words, "archive.avatar")
        )
    } else {
        String::new()
    }
}

/// `user.html` of a personal export, in the owner's words.
pub fn user_html(user: &User, has_avatar: bool, words: &Catalogue) -> String {
    format!(
        "{}<h1>{}</h1>\n{}<table>\n{}</table>\n</body>\n</html>\n",
        head(&user.username, words),
        escape_html(user.display_name()),
        avatar(has_avatar, words),
        profile_rows(user, words)
    )
}

/// One line of `channels.json`.
pub fn channels_json_line(room_id: &str, room_name: &str, room_type: &str) -> String {
    let mut line = json!({"roomId": room_id, "roomName": room_name, "type": room_type}).to_string();
    line.push('\n');
    line
}

/// A room as the table of contents lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRoom {
    /// The name shown.
    pub name: String,
    /// Rocket.Chat's type letter.
    pub room_type: String,
    /// The room's first page inside the export.
    pub file: String,
    /// Messages exported.
    pub messages: u64,
    /// When its first message was sent.
    pub first: Option<DateTime<Utc>>,
    /// When its last message was sent.
    pub last: Option<DateTime<Utc>>,
}

/// An upload of the owner's as the table of contents lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// The original name (untrusted).
    pub name: String,
    /// Its name inside `assets/`, or none when the archive does not carry it.
    pub asset: Option<String>,
    /// The MIME type.
    pub content_type: Option<String>,
    /// The size in bytes.
    pub size: u64,
    /// Whether it is shown as a thumbnail.
    pub is_image: bool,
    /// Whether it is only offered for download (content a browser would run).
    pub download_only: bool,
}

/// Something an archive could not carry, as its index and manifest list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The owner's avatar: there was none, or its bytes could not be read.
    Avatar,
    /// An upload whose bytes were not available.
    Upload {
        /// The upload id.
        id: String,
        /// Its original name (untrusted).
        name: String,
    },
}

impl Unavailable {
    /// The line that says so, in `words`' language (the manifest's in English).
    pub fn describe(&self, words: &Catalogue) -> String {
        match self {
            Self::Avatar => words.text("archive.unavailable.avatar", &[]),
            Self::Upload { id, name } => {
                words.text("archive.unavailable.upload", &[("id", id), ("name", name)])
            }
        }
    }
}

/// A room type as the index names it; a type without a name shows its letter.
fn room_type(code: &str, words: &Catalogue) -> String {
    let key = format!("archive.type.{code}");
    match words.text(&key, &[]) {
        text if text == key => code.to_owned(),
        text => text,
    }
}

fn day(ts: Option<DateTime<Utc>>) -> String {
    ts.map_or_else(String::new, |ts| ts.format("%Y-%m-%d").to_string())
}

/// A section's heading and the start of its table, with a header row of `columns`.
fn table_start(words: &Catalogue, heading: &str, columns: &[&str]) -> String {
    let cells: String = columns
        .iter()
        .map(|key| format!("<th>{}</th>", word(words, key)))
        .collect();
    format!(
        "<h2>{}</h2>\n<table>\n<tr>{cells}</tr>\n",
        word(words, heading)
    )
}

/// `index.html` of a personal export, in the owner's words: profile, rooms with counts,
/// dates and links, the owner's uploads, and what was unavailable.
pub fn index_html(
    user: &User,
    has_avatar: bool,
    rooms: &[IndexRoom],
    files: &[IndexFile],
    unavailable: &[Unavailable],
    words: &Catalogue,
) -> String {
    let mut html = String::new();
    let mut page = IndexPage::start(user, has_avatar, rooms, words, &mut html);
    for file in files {
        page.file(file, &mut html);
    }
    for item in unavailable {
        page.unavailable(item, &mut html);
    }
    page.finish(&mut html);
    html
}

/// `index.html` written a piece at a time, in exactly the bytes of [`index_html`]: the
/// owner's uploads, which may be tens of thousands, one row at a time, then what was
/// unavailable, one item at a time, so they need never be held together. Pieces are
/// appended to a caller's buffer.
#[derive(Debug)]
pub struct IndexPage<'w> {
    words: &'w Catalogue,
    /// Whether the table of uploads is open.
    files: bool,
    /// Whether the list of what was unavailable is open.
    unavailable: bool,
}

impl<'w> IndexPage<'w> {
    /// Writes the page up to the uploads: its head, the profile and the rooms.
    pub fn start(
        user: &User,
        has_avatar: bool,
        rooms: &[IndexRoom],
        words: &'w Catalogue,
        out: &mut String,
    ) -> Self {
        let html = out;
        *html += &head(
            &words.text("archive.index.title", &[("name", &user.username)]),
            words,
        );
        *html += &format!(
            "<h1>{}</h1>\n",
            escape_html(&words.text("archive.index.heading", &[("name", user.display_name())]))
        );
        *html += &avatar(has_avatar, words);
        *html += &format!(
            "<h2>{}</h2>\n<table>\n{}</table>\n<p><a href=\"./user.html\">{}</a></p>\n",
            word(words, "archive.profile"),
            profile_rows(user, words),
            word(words, "archive.profile_page")
        );
        *html += &table_start(
            words,
            "archive.rooms",
            &[
                "archive.rooms.room",
                "archive.rooms.type",
                "archive.rooms.messages",
                "archive.rooms.first",
                "archive.rooms.last",
                "archive.rooms.pages",
            ],
        );
        for room in rooms {
            let pages = page_count(room.messages);
            *html += &format!(
                "<tr><td><a href=\"./{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{pages} (<a href=\"./{}\">{}</a>)</td></tr>\n",
                escape_html(&percent_encode(&room.file)),
                escape_html(&room.name),
                escape_html(&room_type(&room.room_type, words)),
                room.messages,
                day(room.first),
                day(room.last),
                escape_html(&percent_encode(&month_index_file(&room.file))),
                word(words, "archive.rooms.months"),
            );
        }
        *html += "</table>\n";
        Self {
            words,
            files: false,
            unavailable: false,
        }
    }

    /// Writes the row of one of the owner's uploads (the table starts with the first);
    /// every upload comes before what was unavailable.
    pub fn file(&mut self, file: &IndexFile, html: &mut String) {
        let words = self.words;
        if !self.files {
            *html += &table_start(
                words,
                "archive.files",
                &[
                    "archive.files.file",
                    "archive.files.type",
                    "archive.files.size",
                ],
            );
            self.files = true;
        }
        let name = escape_html(&without_invisible(&file.name));
        let cell = match &file.asset {
            Some(asset) => {
                let href = escape_html(&format!("./assets/{}", percent_encode(asset)));
                let thumb = if file.is_image {
                    format!("<figure class=\"image\"><a href=\"{href}\"><img src=\"{href}\" alt=\"{name}\" loading=\"lazy\"/></a></figure>")
                } else {
                    String::new()
                };
                let download = if file.download_only {
                    format!(" download=\"{}\"", escape_html(asset))
                } else {
                    String::new()
                };
                format!("{thumb}<a href=\"{href}\"{download}>{name}</a>")
            }
            None => format!(
                "<span class=\"missing\">{name} {}</span>",
                word(words, "archive.unavailable")
            ),
        };
        *html += &format!(
            "<tr><td>{cell}</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(file.content_type.as_deref().unwrap_or("")),
            words.size(file.size)
        );
    }

    /// Writes one thing that was unavailable (the list starts with the first, after
    /// the uploads).
    pub fn unavailable(&mut self, item: &Unavailable, html: &mut String) {
        let words = self.words;
        if !self.unavailable {
            self.close_files(html);
            *html += &format!("<h2>{}</h2>\n<ul>\n", word(words, "archive.not_available"));
            self.unavailable = true;
        }
        *html += &format!("<li>{}</li>\n", escape_html(&item.describe(words)));
    }

    /// Ends the page.
    pub fn finish(mut self, html: &mut String) {
        self.close_files(html);
        if self.unavailable {
            *html += "</ul>\n";
        }
        *html += "</body>\n</html>\n";
    }

    fn close_files(&mut self, html: &mut String) {
        if self.files {
            *html += "</table>\n";
            self.files = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Email;

    fn user() -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            name: Some("<Alice>".into()),
            emails: vec![Email {
                address: "a@x.org".into(),
                verified: true,
            }],
            roles: vec!["user".into()],
            status_text: Some("\"hi\"".into()),
            services: vec!["password".into()],
            active: true,
            language: None,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn pages_carry_the_csp_and_escape_the_title() {
        let header = head("<b>room</b>", &Catalogue::english());
        assert!(header.contains(CONTENT_SECURITY_POLICY));
        assert!(header.contains("<title>&lt;b&gt;room&lt;/b&gt;</title>"));
        assert!(!header.contains("<b>room"));
    }

    #[test]
    fn user_files_show_the_profile_escaped_and_without_secrets() {
        let html = user_html(&user(), true, &Catalogue::english());
        assert!(
            html.contains("&lt;Alice&gt;")
                && html.contains("&quot;hi&quot;")
                && html.contains("./avatar")
        );
        let json: serde_json::Value = serde_json::from_str(&user_json(&user())).unwrap_or_default();
        assert_eq!(json["emails"], serde_json::json!(["a@x.org"]));
        assert_eq!(json["services"], serde_json::json!(["password"]));
        assert_eq!(json["statusText"], "\"hi\"");
    }

    #[test]
    fn the_index_links_rooms_and_shows_images_and_gaps() {
        let rooms = [IndexRoom {
            name: "gen<eral>".into(),
            room_type: "c".into(),
            file: "GENERAL.html".into(),
            messages: 4012,
            first: DateTime::from_timestamp(1_709_283_952, 0),
            last: DateTime::from_timestamp(1_712_000_000, 0),
        }];
        let images = [
            IndexFile {
                name: "a b.png".into(),
                asset: Some("F1-a b.png".into()),
                content_type: Some("image/png".into()),
                size: 2048,
                is_image: true,
                download_only: false,
            },
            IndexFile {
                name: "<x>.pdf".into(),
                asset: None,
                content_type: Some("application/pdf".into()),
                size: 10,
                is_image: false,
                download_only: false,
            },
        ];
        let html = index_html(
            &user(),
            false,
            &rooms,
            &images,
            &[Unavailable::Upload {
                id: "F2".into(),
                name: "<x>.pdf".into(),
            }],
            &Catalogue::english(),
        );
        assert!(
            html.contains("<a href=\"./GENERAL.html\">gen&lt;eral&gt;</a>"),
            "{html}"
        );
        assert!(html.contains("<td>4012</td>"));
        assert!(html.contains("<td>2024-03-01</td><td>2024-04-01</td><td>3 (<a href=\"./GENERAL-index.html\">months</a>)</td>"), "{html}");
        assert!(
            html.contains(
                "<span class=\"missing\">&lt;x&gt;.pdf (not available in this archive)</span>"
            ),
            "{html}"
        );
        assert!(html.contains("2.0 KB"), "{html}");
        assert!(
            html.contains("<link rel=\"stylesheet\" href=\"./style.css\">")
                && !html.contains("<style")
        );
        assert!(
            html.contains("<img src=\"./assets/F1-a%20b.png\""),
            "{html}"
        );
        assert!(
            html.contains("<li>upload F2 (&lt;x&gt;.pdf): the file was not available</li>"),
            "{html}"
        );
        assert!(html.contains("<td>Channel</td>"), "{html}");
    }

    #[test]
    fn the_index_ends_with_the_uploads_table_then_the_unavailable_list() {
        let words = Catalogue::english();
        let upload = IndexFile {
            name: "a.txt".into(),
            asset: Some("F1-a.txt".into()),
            content_type: None,
            size: 1,
            is_image: false,
            download_only: false,
        };
        let missing = [
            Unavailable::Avatar,
            Unavailable::Upload {
                id: "F2".into(),
                name: "b".into(),
            },
        ];
        let html = index_html(&user(), false, &[], &[upload], &missing, &words);
        assert!(
            html.ends_with(
                "</td><td></td><td>1 bytes</td></tr>\n</table>\n<h2>Not available</h2>\n<ul>\n\
                 <li>avatar: none was available</li>\n\
                 <li>upload F2 (b): the file was not available</li>\n</ul>\n</body>\n</html>\n"
            ),
            "{html}"
        );
        let html = index_html(&user(), false, &[], &[], &missing[1..], &words);
        assert!(html.ends_with("</li>\n</ul>\n</body>\n</html>\n"), "{html}");
        let html = index_html(&user(), false, &[], &[], &[], &words);
        assert!(!html.contains("<ul>"), "{html}");
        assert!(html.ends_with("</table>\n</body>\n</html>\n"), "{html}");
    }

    #[test]
    fn the_index_and_profile_speak_the_owners_language() {
        let german = Catalogue::for_language(Some("de"));
        let rooms = [IndexRoom {
            name: "User_1".into(),
            room_type: "d".into(),
            file: "D1.html".into(),
            messages: 3,
            first: None,
            last: None,
        }];
        let html = index_html(&user(), true, &rooms, &[], &[Unavailable::Avatar], &german);
        for words in [
            "<html lang=\"de\">",
            "<title>Deine Daten — alice</title>",
            "<h1>Deine Daten, &lt;Alice&gt;</h1>",
            "alt=\"Profilbild\"",
            "<th>Benutzername</th>",
            "<th>Raum</th><th>Art</th><th>Nachrichten</th>",
            "<td>Direktnachrichten</td>",
            ">Monate</a>",
            "<h2>Nicht verfügbar</h2>",
            "<li>Profilbild: keines verfügbar</li>",
        ] {
            assert!(html.contains(words), "{words} in {html}");
        }
        let profile = user_html(&user(), false, &german);
        assert!(
            profile.contains("<th>E-Mail-Adressen</th><td>a@x.org</td>"),
            "{profile}"
        );
        assert_eq!(
            Unavailable::Avatar.describe(&Catalogue::english()),
            "avatar: none was available"
        );
        let odd = index_html(
            &user(),
            false,
            &[IndexRoom {
                room_type: "<x>".into(),
                ..rooms[0].clone()
            }],
            &[],
            &[],
            &german,
        );
        assert!(
            odd.contains("<td>&lt;x&gt;</td>"),
            "an unknown type shows its letter"
        );
    }

    #[test]
    fn channels_lines_are_json() {
        assert_eq!(
            channels_json_line("R1", "general", "c"),
            "{\"roomId\":\"R1\",\"roomName\":\"general\",\"type\":\"c\"}\n"
        );
    }
}
