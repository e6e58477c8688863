//! The other files of an export: room page frame, user files, `channels.json`, and the
//! personal export's table of contents.

use serde_json::json;

use super::escape::escape_html;
use super::message::percent_encode;
use crate::user::User;

/// No script, nothing remote: only images from the export itself and inline styles.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}\
img{max-width:20rem;max-height:20rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}";

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape_html(title)
    )
}

/// The start of a room page, written before its first message.
pub fn room_page_header(room_name: &str) -> String {
    format!("{}<h1>{}</h1>\n", head(room_name), escape_html(room_name))
}

/// The end of a room page, written after its last message.
pub fn room_page_footer() -> &'static str {
    "</body>\n</html>\n"
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
        "<p><img src=\"./avatar\" alt=\"avatar\"/></p>\n"
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
    /// The room page inside the export.
    pub file: String,
    /// Messages exported.
    pub messages: u64,
}

/// `index.html` of a personal export: profile, rooms with counts and links, images
/// shown inline from `assets/`, and what was unavailable.
pub fn index_html(
    user: &User,
    has_avatar: bool,
    rooms: &[IndexRoom],
    images: &[(String, String)],
    unavailable: &[String],
) -> String {
    let mut html = head(&format!("Your data — {}", user.username));
    html += &format!("<h1>Your data, {}</h1>\n", escape_html(user.display_name()));
    if has_avatar {
        html += "<p><img src=\"./avatar\" alt=\"avatar\"/></p>\n";
    }
    html += &format!(
        "<h2>Profile</h2>\n<table>\n{}</table>\n<p><a href=\"./user.html\">Profile page</a></p>\n",
        profile_rows(user)
    );
    html += "<h2>Rooms</h2>\n<table>\n<tr><th>Room</th><th>Type</th><th>Messages</th></tr>\n";
    for room in rooms {
        html += &format!(
            "<tr><td><a href=\"./{}\">{}</a></td><td>{}</td><td>{}</td></tr>\n",
            escape_html(&percent_encode(&room.file)),
            escape_html(&room.name),
            escape_html(&room.room_type),
            room.messages
        );
    }
    html += "</table>\n";
    if !images.is_empty() {
        html += "<h2>Images</h2>\n";
        for (asset, name) in images {
            let href = escape_html(&format!("./assets/{}", percent_encode(asset)));
            html += &format!(
                "<figure><a href=\"{href}\"><img src=\"{href}\" alt=\"{0}\"/></a><figcaption>{0}</figcaption></figure>\n",
                escape_html(name)
            );
        }
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
    use chrono::DateTime;

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
        let header = room_page_header("<b>room</b>");
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
            messages: 12,
        }];
        let images = [("F1-a b.png".to_owned(), "a b.png".to_owned())];
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
        assert!(html.contains("<td>12</td>"));
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
