use serde_json::json;

use super::*;
use crate::i18n::Catalogue;
use crate::time::from_millis;

fn message(username: &str, msg: &str, kind: Option<&str>) -> Message {
    Message {
        id: "m1".into(),
        room_id: "GENERAL".into(),
        ts: from_millis(1_709_283_952_431),
        user_id: Some(format!("id-{username}").into()),
        username: Some(username.into()),
        msg: msg.into(),
        message_type: kind.map(str::to_owned),
        thread_id: None,
        file_id: None,
        attachments: None,
        updated_at: from_millis(1_709_283_952_431),
    }
}

fn render(m: &Message, pseudonyms: &mut Pseudonyms) -> RenderedMessage {
    RenderedMessage::new(m, None, pseudonyms, &Catalogue::english())
}

#[test]
fn a_json_line_has_rocket_chats_fields_in_order() {
    let mut p = Pseudonyms::new("alice", []);
    let mut line = String::new();
    render_json_line(
        &render(&message("alice", "hi \"there\"", None), &mut p),
        &mut line,
    );
    assert_eq!(line, "{\"msg\":\"hi \\\"there\\\"\",\"username\":\"alice\",\"ts\":\"2024-03-01T09:05:52.431Z\"}\n");
    let mut line = String::new();
    render_json_line(
        &render(&message("bob", "bob", Some("uj")), &mut p),
        &mut line,
    );
    assert_eq!(
        line,
        "{\"msg\":\"Has joined the channel.\",\"username\":\"User_1\",\"ts\":\"2024-03-01T09:05:52.431Z\",\"type\":\"uj\"}\n"
    );
}

#[test]
fn every_system_message_type_becomes_a_sentence_with_names_pseudonymised() {
    let cases = [
        ("uj", "bob", "Has joined the channel."),
        ("ul", "bob", "Has left the channel."),
        ("au", "carol", "User User_2 added by User_1."),
        ("ru", "alice", "User alice removed by User_1."),
        ("r", "new-name", "Room name changed to: new-name by User_1"),
        ("wm", "", "Welcome User_1!"),
        ("livechat-close", "", "Conversation finished"),
        (
            "user-converted-to-team",
            "Release Train",
            "Converted #Release Train to a team",
        ),
        (
            "room_changed_topic",
            "lunch",
            "Room topic changed to: lunch by User_1",
        ),
        ("ult", "", "Has left the team."),
        ("ujt", "", "Has joined the team."),
        ("something-new", "raw text", "raw text"),
    ];
    for (kind, subject, expected) in cases {
        let mut p = Pseudonyms::new("alice", []);
        let rendered = render(&message("bob", subject, Some(kind)), &mut p);
        assert_eq!(rendered.msg, expected, "{kind}");
        assert_eq!(rendered.message_type.as_deref(), Some(kind));
    }
}

#[test]
fn html_escapes_every_user_string_and_keeps_line_breaks() {
    let mut p = Pseudonyms::new("<b>alice</b>", []);
    let m = message(
        "<b>alice</b>",
        "<script>alert(1)</script> & \"q\"\nline two",
        None,
    );
    let html = render_html(&render(&m, &mut p), None);
    assert_eq!(
        html,
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;<br/>\nline two"
    );
}

#[test]
fn uploads_show_as_thumbnails_cards_or_unavailable() {
    let mut m = message("bob", "", None);
    m.file_id = Some("F1".into());
    let mut p = Pseudonyms::new("alice", []);
    let mut html_of = |file: &AttachedFile| {
        render_html(
            &RenderedMessage::new(&m, Some(file), &mut p, &Catalogue::english()),
            Some(file),
        )
    };
    let image = AttachedFile::new("F1", "cat.png", Some("image/png")).with_details(Some(10), true);
    assert_eq!(
        html_of(&image),
        "<br/>\n<figure class=\"image\"><a href=\"./assets/F1-cat.png\"><img src=\"./assets/F1-cat.png\" alt=\"cat.png\" loading=\"lazy\"/></a>\
         <figcaption><a href=\"./assets/F1-cat.png\">cat.png</a></figcaption></figure>"
    );
    let pdf = AttachedFile::new("F1", "a<b>.pdf", Some("application/pdf"))
        .with_details(Some(3 * 1024 * 1024), true);
    assert_eq!(
        html_of(&pdf),
        "<br/>\n<span class=\"file\"><a href=\"./assets/F1-a_b_.pdf\">a&lt;b&gt;.pdf</a> <span class=\"meta\">application/pdf · 3.0 MB</span></span>"
    );
    let gone = AttachedFile::new("F1", "cat.png", Some("image/png")).with_details(None, false);
    let html = html_of(&gone);
    assert!(!html.contains("href") && !html.contains("<img"), "{html}");
    assert!(html.contains("cat.png <span class=\"meta\">(not available in this archive)</span>"));
}

#[test]
fn only_web_and_mail_links_are_followable() {
    for good in ["https://x.org", "HTTP://x.org", "mailto:a@x.org"] {
        assert!(is_followable(good), "{good}");
    }
    for bad in [
        "javascript:alert(1)",
        " https://x.org",
        "data:text/html,x",
        "//x.org",
        "/file-upload/x",
        "vbscript:x",
    ] {
        assert!(!is_followable(bad), "{bad}");
    }
}

#[test]
fn system_messages_are_italic_in_html() {
    let mut p = Pseudonyms::new("alice", []);
    let html = render_html(&render(&message("bob", "bob", Some("ul")), &mut p), None);
    assert!(html.contains("<i>Has left the channel.</i>"), "{html}");
}

#[test]
fn an_upload_links_to_its_asset_with_attachment_metadata_as_rocket_chat_writes_it() {
    let mut m = message("bob", "", None);
    m.file_id = Some("Q5y".into());
    m.attachments = Some(json!([{
        "ts": "1970-01-01T00:00:00.000Z", "title": "dia<gram>.png", "title_link": "/file-upload/Q5y/diagram.png",
        "type": "file", "image_url": "/file-upload/Q5y/diagram.png", "image_type": "image/png", "image_size": 74,
        "internal": "dropped"
    }]));
    let file = AttachedFile::new("Q5y", "dia<gram>.png", Some("image/png"));
    let mut p = Pseudonyms::new("alice", []);
    let rendered = RenderedMessage::new(&m, Some(&file), &mut p, &Catalogue::english());
    let attachment = &rendered.attachments.as_ref().unwrap()[0];
    assert_eq!(
        attachment,
        &json!({
            "type": "file", "title": "dia<gram>.png", "title_link": "/file-upload/Q5y/diagram.png",
            "image_url": "/file-upload/Q5y/diagram.png", "image_type": "image/png", "image_size": 74,
            "url": "/file-upload/Q5y/diagram.png", "remote": false, "fileId": "Q5y", "fileName": "dia<gram>.png"
        })
    );
    let html = render_html(&rendered, Some(&file));
    assert!(
        html.contains("<a href=\"./assets/Q5y-dia_gram_.png\">dia&lt;gram&gt;.png</a>"),
        "{html}"
    );
    assert!(
        html.contains("<img src=\"./assets/Q5y-dia_gram_.png\""),
        "{html}"
    );
}

#[test]
fn remote_links_are_only_followed_for_http_and_never_for_javascript() {
    let mut m = message("bob", "look", None);
    m.attachments = Some(json!([
        {"title": "external", "title_link": "https://example.org/x.pdf", "type": "file"},
        {"title": "evil", "title_link": "javascript:alert(1)"},
        {"text": "quoted <message>", "message_link": "http://localhost:3000/channel/general?msg=abc"}
    ]));
    let mut p = Pseudonyms::new("alice", []);
    let rendered = render(&m, &mut p);
    assert_eq!(rendered.attachments.as_ref().unwrap()[0]["remote"], true);
    let html = render_html(&rendered, None);
    assert!(
        html.contains(
            "<a href=\"https://example.org/x.pdf\" rel=\"noopener noreferrer\">external</a>"
        ),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains("<span class=\"attachment\">evil</span>"),
        "{html}"
    );
    assert!(html.contains("quoted &lt;message&gt;"), "{html}");
}

#[test]
fn asset_links_are_percent_encoded() {
    assert_eq!(percent_encode("a b#?%.png"), "a%20b%23%3F%25.png");
    assert_eq!(percent_encode("résumé.txt"), "r%C3%A9sum%C3%A9.txt");
}

#[test]
fn the_author_of_a_quoted_message_is_pseudonymised_too() {
    let mut p = Pseudonyms::new("alice", []);
    let mut quoting = message("carol", "", None);
    quoting.attachments = Some(json!([
        {"text": "quoted message", "author_name": "bob"},
        {"text": "my own words", "author_name": "alice"}
    ]));
    let rendered = render(&quoting, &mut p);
    let mut line = String::new();
    render_json_line(&rendered, &mut line);
    assert!(!line.contains("bob"), "{line}");
    let attachments = rendered.attachments.expect("attachments");
    assert_eq!(rendered.username, "User_1");
    assert_eq!(attachments[0]["author_name"], "User_2");
    assert_eq!(attachments[0]["text"], "quoted message");
    assert_eq!(attachments[1]["author_name"], "alice");
}

#[test]
fn active_uploads_are_linked_for_download_only_and_never_shown_inline() {
    let mut m = message("bob", "", None);
    m.file_id = Some("F1".into());
    let mut p = Pseudonyms::new("alice", []);
    for (name, content_type) in [
        ("evil.html", Some("text/html")),
        ("logo.svg", Some("image/svg+xml")),
        ("innocent.png", Some("image/svg+xml")),
        ("feed", Some("application/atom+xml; charset=utf-8")),
        ("app.js", None),
    ] {
        let file = AttachedFile::new("F1", name, content_type);
        assert!(file.download_only && !file.is_image, "{name}");
        let html = render_html(
            &RenderedMessage::new(&m, Some(&file), &mut p, &Catalogue::english()),
            Some(&file),
        );
        let asset = format!("./assets/{}", file.asset);
        assert!(asset.ends_with(".txt"), "{asset}");
        assert!(
            html.contains(&format!("download=\"{}\"", file.asset)),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
    }
    let docx = AttachedFile::new(
        "F2",
        "letter.docx",
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    );
    assert!(!docx.download_only);
    assert!(!render_html(
        &RenderedMessage::new(&m, Some(&docx), &mut p, &Catalogue::english()),
        Some(&docx)
    )
    .contains("download="));
}

#[test]
fn system_sentences_read_in_the_owners_language_with_pseudonyms_kept() {
    let german = Catalogue::for_language(Some("de-DE"));
    let mut p = Pseudonyms::new("alice", Vec::new());
    let added = RenderedMessage::new(&message("bob", "carol", Some("au")), None, &mut p, &german);
    assert_eq!(added.msg, "Benutzer User_2 von User_1 hinzugefügt.");
    let joined = RenderedMessage::new(&message("bob", "bob", Some("uj")), None, &mut p, &german);
    assert_eq!(joined.msg, "Ist dem Kanal beigetreten.");
    // A subject that looks like a placeholder stays text.
    let renamed = RenderedMessage::new(&message("bob", "{by}", Some("r")), None, &mut p, &german);
    assert_eq!(renamed.msg, "Raumname geändert in: {by} von User_1");
}
