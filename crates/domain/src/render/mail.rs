//! The mails an export's owner receives: the download is ready, or the export failed.
//! Plain text and HTML carry the same facts; everything user-supplied is escaped in the
//! HTML part.

use chrono::{DateTime, Utc};

use super::escape_html;
use crate::i18n::Catalogue;

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
    /// The workspace's name (`server.site_name`), in the subject and the text.
    pub site_name: &'a str,
    /// The owner's Rocket.Chat `language`; English when unset or unknown.
    pub language: Option<&'a str>,
}

/// What the "your export failed" mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMail<'a> {
    /// How to greet the owner.
    pub name: &'a str,
    /// Full (JSON) or personal (HTML) export.
    pub full_export: bool,
    /// The workspace's name.
    pub site_name: &'a str,
    /// The owner's Rocket.Chat `language`.
    pub language: Option<&'a str>,
}

fn kind(words: &Catalogue, full_export: bool) -> String {
    words.text(
        if full_export {
            "kind.full"
        } else {
            "kind.personal"
        },
        &[],
    )
}

fn contents(words: &Catalogue, full_export: bool) -> String {
    words.text(
        if full_export {
            "contents.full"
        } else {
            "contents.personal"
        },
        &[],
    )
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

/// "Your data export is ready": what it holds, the link, the size and the expiry date,
/// in the owner's language.
pub fn ready_mail(mail: &ReadyMail<'_>) -> MailContent {
    let words = Catalogue::for_language(mail.language);
    let kind = kind(&words, mail.full_export);
    let site = header_text(mail.site_name);
    let size = words.size(mail.size);
    let expires = expiry(mail.expires_at);
    let t = |key: &str, args: &[(&str, &str)]| words.text(key, args);
    let text = format!(
        "{greeting}\n\n{intro}\n{contents}\n\n{link_label}\n{link}\n\n{file}\n{expiry}\n\n{not_you}\n",
        greeting = t("greeting", &[("name", mail.name)]),
        intro = t("ready.intro", &[("kind", &kind), ("site", &site)]),
        contents = contents(&words, mail.full_export),
        link_label = t("ready.link", &[]),
        link = mail.link,
        file = t("ready.file", &[("file", mail.file_name), ("size", &size)]),
        expiry = t("ready.expiry", &[("expires", &expires)]),
        not_you = t("not_you", &[]),
    );
    let h = |key: &str, args: &[(&str, &str)]| {
        let escaped: Vec<(&str, String)> = args.iter().map(|(k, v)| (*k, escape_html(v))).collect();
        let refs: Vec<(&str, &str)> = escaped.iter().map(|(k, v)| (*k, v.as_str())).collect();
        escape_html_template(&words, key, &refs)
    };
    let html = html_page(&format!(
        "<p>{greeting}</p>\n<p>{intro}<br>\n{contents}</p>\n\
         <p><a href=\"{link}\">{download}</a> ({size})</p>\n\
         <p>{no_login} {expiry}</p>\n<p>{not_you}</p>",
        greeting = h("greeting", &[("name", mail.name)]),
        intro = h("ready.intro", &[("kind", &kind), ("site", &site)]),
        contents = escape_html(&contents(&words, mail.full_export)),
        link = escape_html(mail.link),
        download = h("ready.link_html", &[("file", mail.file_name)]),
        size = escape_html(&size),
        no_login = h("ready.no_login", &[]),
        expiry = h("ready.expiry", &[("expires", &expires)]),
        not_you = h("not_you", &[]),
    ));
    MailContent {
        subject: header_text(&t("ready.subject", &[("site", &site), ("kind", &kind)])),
        text,
        html,
    }
}

/// A catalogue string for HTML: the template's own text escaped, the (already
/// escaped) values put in as they are.
fn escape_html_template(words: &Catalogue, key: &str, escaped_args: &[(&str, &str)]) -> String {
    // Placeholders survive escaping (braces and names are not special in HTML), so the
    // template is escaped first and filled after.
    let template = words.text(key, &[]);
    crate::i18n::fill(&escape_html(&template), escaped_args)
}

/// "Your data export failed": the owner may ask again at once.
pub fn failed_mail(mail: &FailedMail<'_>) -> MailContent {
    let words = Catalogue::for_language(mail.language);
    let kind = kind(&words, mail.full_export);
    let site = header_text(mail.site_name);
    let t = |key: &str, args: &[(&str, &str)]| words.text(key, args);
    let text = format!(
        "{greeting}\n\n{body}\n{again}\n\n{not_you}\n",
        greeting = t("greeting", &[("name", mail.name)]),
        body = t("failed.body", &[("kind", &kind), ("site", &site)]),
        again = t("failed.again", &[]),
        not_you = t("not_you", &[]),
    );
    let (name, kind_html, site_html) = (
        escape_html(mail.name),
        escape_html(&kind),
        escape_html(&site),
    );
    let html = html_page(&format!(
        "<p>{greeting}</p>\n<p>{body}</p>\n<p>{again}</p>\n<p>{not_you}</p>",
        greeting = escape_html_template(&words, "greeting", &[("name", &name)]),
        body = escape_html_template(
            &words,
            "failed.body",
            &[("kind", &kind_html), ("site", &site_html)]
        ),
        again = escape_html_template(&words, "failed.again", &[]),
        not_you = escape_html_template(&words, "not_you", &[]),
    ));
    MailContent {
        subject: header_text(&t("failed.subject", &[("site", &site), ("kind", &kind)])),
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
            site_name: "Acme Chat",
            language: None,
        }
    }

    fn failed(name: &'static str, language: Option<&'static str>) -> FailedMail<'static> {
        FailedMail {
            name,
            full_export: true,
            site_name: "Acme <Chat>",
            language,
        }
    }

    #[test]
    fn the_ready_mail_gives_link_size_and_expiry_in_both_parts() {
        let mail = ready_mail(&ready());
        assert_eq!(
            mail.subject,
            "[Acme Chat] Your personal data export is ready"
        );
        for part in [&mail.text, &mail.html] {
            assert!(
                part.contains("Your personal data export from Acme Chat is ready."),
                "{part}"
            );
            assert!(
                part.contains("as web pages you can open in any browser"),
                "{part}"
            );
            assert!(
                part.contains("Did not ask for this? Tell your administrator."),
                "{part}"
            );
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
        let bob = failed_mail(&failed("<i>Bob</i>", None));
        assert_eq!(bob.subject, "[Acme <Chat>] Your full data export failed");
        assert!(bob.html.contains("&lt;i&gt;Bob"));
        assert!(
            bob.html.contains("from Acme &lt;Chat&gt; could not"),
            "{}",
            bob.html
        );
        assert!(bob
            .text
            .contains("Did not ask for this? Tell your administrator."));
    }

    #[test]
    fn a_full_export_says_what_it_holds() {
        let mail = ready_mail(&ReadyMail {
            full_export: true,
            ..ready()
        });
        assert_eq!(mail.subject, "[Acme Chat] Your full data export is ready");
        assert!(mail
            .text
            .contains("machine-readable JSON files, one per room"));
        assert!(!mail.text.contains("web pages"));
    }

    #[test]
    fn the_mails_speak_german_to_a_german_speaker() {
        let mail = ready_mail(&ReadyMail {
            language: Some("de-DE"),
            ..ready()
        });
        assert_eq!(
            mail.subject,
            "[Acme Chat] Ihr persönlicher Datenexport ist fertig"
        );
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("Hallo"), "{part}");
            assert!(
                part.contains("Ihr persönlicher Datenexport aus Acme Chat ist fertig."),
                "{part}"
            );
            assert!(part.contains("als Webseiten"), "{part}");
            assert!(part.contains("3,3 MB"), "{part}");
            assert!(part.contains("2026-12-04 10:30 UTC"), "{part}");
            assert!(
                part.contains(
                    "Sie haben das nicht angefordert? Sagen Sie es Ihrer Administration."
                ),
                "{part}"
            );
        }
        assert!(mail.html.contains("2026-11-27-Alice.zip herunterladen"));
        assert!(mail.html.contains("Hallo &lt;b&gt;Alice&lt;/b&gt;,"));
        let german = failed_mail(&failed("Jörg", Some("de")));
        assert_eq!(
            german.subject,
            "[Acme <Chat>] Ihr vollständiger Datenexport ist fehlgeschlagen"
        );
        assert!(german.text.starts_with("Hallo Jörg,\n"));
        assert!(german.text.contains("erneut anfordern"));
        // An unknown language reads English.
        let english = failed_mail(&failed("Jörg", Some("tlh")));
        assert!(english.text.starts_with("Hello Jörg,\n"));
    }

    #[test]
    fn a_name_with_placeholders_or_markup_is_never_expanded() {
        let mail = ready_mail(&ReadyMail {
            name: "{site} <script>",
            ..ready()
        });
        assert!(mail.text.starts_with("Hello {site} <script>,"));
        assert!(mail.html.contains("Hello {site} &lt;script&gt;,"));
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
    fn sizes_read_naturally_in_each_language() {
        let (english, german) = (Catalogue::english(), Catalogue::for_language(Some("de")));
        assert_eq!(english.size(0), "0 bytes");
        assert_eq!(english.size(1023), "1023 bytes");
        assert_eq!(english.size(1536), "1.5 KB");
        assert_eq!(english.size(5 * 1024 * 1024 * 1024), "5.0 GB");
        assert_eq!(english.size(u64::MAX), "16777216.0 TB");
        assert_eq!(german.size(1023), "1023 Bytes");
        assert_eq!(german.size(1536), "1,5 KB");
        assert_eq!(german.size(3_460_000), "3,3 MB");
    }
}
