//! The mails an export's owner receives: the download is ready, or the export failed.
//! Plain text and HTML carry the same facts; everything user-supplied is escaped in the
//! HTML part.

use chrono::{DateTime, Utc};

use super::escape_html;

/// A mail's words, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// What the "your download is ready" mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyMail<'a> {
    /// How to greet the owner.
    pub name: &'a str,
    /// Full (JSON) or personal (HTML) export.
    pub full_export: bool,
    /// The signed download link.
    pub link: &'a str,
    /// The zip's file name.
    pub file_name: &'a str,
    /// The zip's size in bytes.
    pub size: u64,
    /// When the link and the file stop working.
    pub expires_at: DateTime<Utc>,
}

fn kind(full_export: bool) -> &'static str {
    if full_export {
        "full data export"
    } else {
        "personal data export"
    }
}

/// A size for people: `512 bytes`, `1.5 KB`, `12.3 MB`, `2.0 GB` (powers of 1024).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Text fit for a mail header (a display name, a subject): control characters (line
/// breaks, which would start a new header, included) and invisible format characters
/// become spaces, runs of white space fold into one, and the ends are trimmed.
///
/// ```
/// use udd_domain::render::header_text;
/// assert_eq!(header_text("Alice\r\nBcc: mallory@example.com"), "Alice Bcc: mallory@example.com");
/// assert_eq!(header_text("  Bob\t\u{202E}Builder "), "Bob Builder");
/// ```
pub fn header_text(raw: &str) -> String {
    let spaced: String = raw
        .chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() || super::names::is_invisible_format(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn expiry(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn html_page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif\">\n{body}\n</body></html>\n"
    )
}

/// "Your data export is ready", with the link, the size and the expiry date.
pub fn ready_mail(mail: &ReadyMail<'_>) -> MailContent {
    let kind = kind(mail.full_export);
    let size = human_size(mail.size);
    let expires = expiry(mail.expires_at);
    let text = format!(
        "Hello {name},\n\n\
         Your {kind} is ready.\n\n\
         Download it here (no login needed; the link is for you only):\n{link}\n\n\
         File: {file} ({size})\n\
         The link and the file expire on {expires}. After that, request a new export.\n",
        name = mail.name,
        link = mail.link,
        file = mail.file_name,
    );
    let html = html_page(&format!(
        "<p>Hello {name},</p>\n\
         <p>Your {kind} is ready.</p>\n\
         <p><a href=\"{link}\">Download {file}</a> ({size})</p>\n\
         <p>No login is needed; the link is for you only. The link and the file expire on \
         {expires}. After that, request a new export.</p>",
        name = escape_html(mail.name),
        link = escape_html(mail.link),
        file = escape_html(mail.file_name),
    ));
    MailContent {
        subject: header_text(&format!("Your {kind} is ready")),
        text,
        html,
    }
}

/// "Your data export failed": the owner may ask again at once.
pub fn failed_mail(name: &str, full_export: bool) -> MailContent {
    let kind = kind(full_export);
    let text = format!(
        "Hello {name},\n\n\
         Your {kind} could not be completed, and the partial files were removed.\n\
         You can request it again now; if it keeps failing, please contact your \
         workspace administrator.\n"
    );
    let html = html_page(&format!(
        "<p>Hello {name},</p>\n\
         <p>Your {kind} could not be completed, and the partial files were removed.</p>\n\
         <p>You can request it again now; if it keeps failing, please contact your \
         workspace administrator.</p>",
        name = escape_html(name),
    ));
    MailContent {
        subject: header_text(&format!("Your {kind} failed")),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ready() -> ReadyMail<'static> {
        ReadyMail {
            name: "<b>Alice</b>",
            full_export: false,
            link: "https://chat.example/data-export/F1?token=1.a&b",
            file_name: "2026-11-27-Alice.zip",
            size: 3 * 1024 * 1024 + 300 * 1024,
            expires_at: Utc
                .with_ymd_and_hms(2026, 12, 4, 10, 30, 0)
                .single()
                .expect("date"),
        }
    }

    #[test]
    fn the_ready_mail_gives_link_size_and_expiry_in_both_parts() {
        let mail = ready_mail(&ready());
        assert_eq!(mail.subject, "Your personal data export is ready");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("3.3 MB"), "{part}");
            assert!(part.contains("2026-12-04 10:30 UTC"), "{part}");
            assert!(part.contains("2026-11-27-Alice.zip"), "{part}");
        }
        assert!(mail.text.contains(ready().link));
        assert!(mail
            .html
            .contains("href=\"https://chat.example/data-export/F1?token=1.a&amp;b\""));
    }

    #[test]
    fn names_are_escaped_in_html_and_plain_in_text() {
        let mail = ready_mail(&ready());
        assert!(mail.html.contains("Hello &lt;b&gt;Alice&lt;/b&gt;"));
        assert!(!mail.html.contains("<b>Alice"));
        assert!(mail.text.contains("Hello <b>Alice</b>"));
        let failed = failed_mail("<i>Bob</i>", true);
        assert_eq!(failed.subject, "Your full data export failed");
        assert!(failed.html.contains("&lt;i&gt;Bob"));
    }

    #[test]
    fn header_text_never_carries_a_line_break() {
        for raw in [
            "a\nb",
            "a\rb",
            "a\r\n\r\nb",
            "a\u{2028}b",
            "a\u{0}b",
            "a\u{85}b",
        ] {
            let clean = header_text(raw);
            assert_eq!(clean, "a b", "{raw:?}");
        }
        assert_eq!(header_text("\n\n"), "");
        assert_eq!(header_text("Zoë Ünal"), "Zoë Ünal");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GB");
        assert_eq!(human_size(u64::MAX), "16777216.0 TB");
    }
}
