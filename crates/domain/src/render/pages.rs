//! The other files of an export: room page frame, user files, `channels.json`, and the
//! personal export's table of contents.

use serde_json::json;

use chrono::{DateTime, Utc};

use super::escape::escape_html;
use super::mail::human_size;
use super::message::percent_encode;
use super::names::without_invisible;
use super::room::{month_index_file, page_count};
use crate::user::User;

/// No script, nothing remote: only images and the stylesheet from the export itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src 'self' data: file:; style-src 'self' file:; base-uri 'none'; form-action 'none'";

/// `style.css`, the one stylesheet every page of a personal export links: light, and
/// dark when the reader's system prefers it.
pub const STYLESHEET: &str = include_str!("style.css");

pub(crate) fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"./style.css\">\n</head>\n<body>\n",
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

fn profile_rows(user: &User) -> String {
    let row = |label: &str, value: &str| {
        format!("<tr><th>{label}</th><td>{}</td></tr>\n", escape_html(value))
    };
    let mut rows = row("Username", &user.username);
    rows += &row("Name", user.name.as_deref().unwrap_or(""));
    rows += &row("Status", user.status_text.as_deref().unwrap_or(""));
    let emails: Vec<&str> = user.emails.iter().map(|e| e.address.as_str()).collect();
    rows += &row("Emails", &emails.join(", "));
    rows += &row("Roles", &user.roles.join(", "));
    rows += &row("Services", &user.services.join(", "));
    rows
}

/// `user.html` of a personal export.
pub fn user_html(user: &User, has_avatar: bool) -> String {
    let avatar = if has_avatar {
        "<p><img class=\"avatar\" src=\"./avatar\" alt=\"avatar\"/></p>\n"
    } else {
        ""
    };
    format!(
        "{}<h1>{}</h1>\n{avatar}<table>\n{}</table>\n</body>\n</html>\n",
        head(&user.username),
        escape_html(user.display_name()),
        profile_rows(user)
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

fn day(ts: Option<DateTime<Utc>>) -> String {
    ts.map_or_else(String::new, |ts| ts.format("%Y-%m-%d").to_string())
}

/// `index.html` of a personal export: profile, rooms with counts, dates and links,
/// the owner's uploads, and what was unavailable.
pub fn index_html(
    user: &User,
    has_avatar: bool,
    rooms: &[IndexRoom],
    files: &[IndexFile],
    unavailable: &[String],
) -> String {
    let mut html = head(&format!("Your data — {}", user.username));
    html += &format!("<h1>Your data, {}</h1>\n", escape_html(user.display_name()));
    if has_avatar {
        html += "<p><img class=\"avatar\" src=\"./avatar\" alt=\"avatar\"/></p>\n";
    }
    html += &format!(
        "<h2>Profile</h2>\n<table>\n{}</table>\n<p><a href=\"./user.html\">Profile page</a></p>\n",
        profile_rows(user)
    );
    html += "<h2>Rooms</h2>\n<table>\n<tr><th>Room</th><th>Type</th><th>Messages</th><th>First</th><th>Last</th><th>Pages</th></tr>\n";
    for room in rooms {
        let pages = page_count(room.messages);
        html += &format!(
            "<tr><td><a href=\"./{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{pages} (<a href=\"./{}\">months</a>)</td></tr>\n",
            escape_html(&percent_encode(&room.file)),
            escape_html(&room.name),
            escape_html(&room.room_type),
            room.messages,
            day(room.first),
            day(room.last),
            escape_html(&percent_encode(&month_index_file(&room.file))),
        );
    }
    html += "</table>\n";
    if !files.is_empty() {
        html += "<h2>Files you uploaded</h2>\n<table>\n<tr><th>File</th><th>Type</th><th>Size</th></tr>\n";
        for file in files {
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
                None => {
                    format!("<span class=\"missing\">{name} (not available in this archive)</span>")
                }
            };
            html += &format!(
                "<tr><td>{cell}</td><td>{}</td><td>{}</td></tr>\n",
                escape_html(file.content_type.as_deref().unwrap_or("")),
                human_size(file.size)
            );
        }
        html += "</table>\n";
    }
    if !unavailable.is_empty() {
        html += "<h2>Not available</h2>\n<ul>\n";
        for item in unavailable {
            html += &format!("<li>{}</li>\n", escape_html(item));
        }
        html += "</ul>\n";
    }
    html += "</body>\n</html>\n";
    html
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
        let header = head("<b>room</b>");
        assert!(header.contains(CONTENT_SECURITY_POLICY));
        assert!(header.contains("<title>&lt;b&gt;room&lt;/b&gt;</title>"));
        assert!(!header.contains("<b>room"));
    }

    #[test]
    fn user_files_show_the_profile_escaped_and_without_secrets() {
        let html = user_html(&user(), true);
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
            &["upload F2 (x.pdf)".to_owned()],
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
        assert!(html.contains("<li>upload F2 (x.pdf)</li>"));
    }

    #[test]
    fn channels_lines_are_json() {
        assert_eq!(
            channels_json_line("R1", "general", "c"),
            "{\"roomId\":\"R1\",\"roomName\":\"general\",\"type\":\"c\"}\n"
        );
    }
}
