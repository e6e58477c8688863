use serde_json::json;

use super::*;
use crate::i18n::Catalogue;
use crate::time::from_millis;

fn message(username: &str, msg: &str, kind: Option<&str>) -> Message {
    Message {
        user_id: Some(format!("id-{username}").into()),
        username: Some(username.into()),
        msg: msg.into(),
        message_type: kind.map(str::to_owned),
        ..Message::new("m1", "GENERAL", from_millis(1_709_283_952_431))
    }
}

fn render<'a>(m: &'a Message, pseudonyms: &mut Pseudonyms) -> RenderedMessage<'a> {
    RenderedMessage::new(m, None, pseudonyms, &Catalogue::english())
}

/// The content in English, in a room whose archive holds no other message.
fn page_html(message: &RenderedMessage, file: Option<&AttachedFile>) -> String {
    render_html(message, file, &Catalogue::english(), &|_| None)
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
        let m = message("bob", subject, Some(kind));
        let rendered = render(&m, &mut p);
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
    let html = page_html(&render(&m, &mut p), None);
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
        page_html(
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
    let html = page_html(&render(&message("bob", "bob", Some("ul")), &mut p), None);
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
    let html = page_html(&rendered, Some(&file));
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
    let html = page_html(&rendered, None);
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
        let html = page_html(
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
    assert!(!page_html(
        &RenderedMessage::new(&m, Some(&docx), &mut p, &Catalogue::english()),
        Some(&docx)
    )
    .contains("download="));
}

#[test]
fn system_sentences_read_in_the_owners_language_with_pseudonyms_kept() {
    let german = Catalogue::for_language(Some("de-DE"));
    let mut p = Pseudonyms::new("alice", Vec::new());
    let mut say = |subject: &str, kind: &str| {
        let m = message("bob", subject, Some(kind));
        RenderedMessage::new(&m, None, &mut p, &german)
            .msg
            .into_owned()
    };
    assert_eq!(
        say("carol", "au"),
        "Benutzer User_2 von User_1 hinzugefügt."
    );
    assert_eq!(say("bob", "uj"), "Ist dem Kanal beigetreten.");
    // A subject that looks like a placeholder stays text.
    assert_eq!(say("{by}", "r"), "Raumname geändert in: {by} von User_1");
}

fn reaction(emoji: &str, usernames: &[&str]) -> crate::workspace::Reaction {
    crate::workspace::Reaction {
        emoji: emoji.into(),
        usernames: usernames.iter().map(|u| (*u).to_owned()).collect(),
    }
}

#[test]
fn pages_name_editors_and_reacting_people_but_json_lines_hand_out_no_pseudonyms_for_them() {
    let mut m = message("bob", "fixed typo", None);
    m.edited_at = Some(from_millis(1_709_290_000_000));
    m.edited_by = Some("carol".into());
    m.reactions = vec![
        reaction(":thumbsup:", &["dave", "alice", "bob"]),
        reaction(":tada:", &[]),
    ];

    let mut json = Pseudonyms::new("alice", []);
    let plain = RenderedMessage::new(&m, None, &mut json, &Catalogue::english());
    assert_eq!(plain.edited, None);
    assert!(plain.reactions.is_empty());
    assert_eq!(json.take_fresh().len(), 1, "only the author");

    let mut page = Pseudonyms::new("alice", []);
    let shown = RenderedMessage::for_page(&m, None, &mut page, &Catalogue::english());
    assert_eq!(
        shown.edited,
        Some(Edited {
            at: from_millis(1_709_290_000_000),
            by: Some("User_2".into())
        })
    );
    assert_eq!(
        shown.reactions,
        [ShownReaction {
            emoji: ":thumbsup:".into(),
            count: 3,
            names: vec!["User_3".into(), "alice".into(), "User_1".into()],
        }],
        "a reaction nobody holds any more is not shown"
    );
    let mut line = String::new();
    render_json_line(&shown, &mut line);
    assert!(
        !line.contains("edited") && !line.contains("thumbsup"),
        "{line}"
    );
}

#[test]
fn reactions_are_escaped_chips_naming_at_most_twenty_people() {
    let many: Vec<String> = (0..25).map(|i| format!("user{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut m = message("bob", "", None);
    m.reactions = vec![
        reaction(
            ":<img src=x onerror=alert(1)>:",
            &["<script>alert(1)</script>"],
        ),
        reaction(":clap:", &many),
    ];
    let mut p = Pseudonyms::new("alice", []);
    let shown = RenderedMessage::for_page(&m, None, &mut p, &Catalogue::english());
    let html = reactions_html(&shown.reactions, &Catalogue::english());
    assert!(html.starts_with("<ul class=\"reactions\">"), "{html}");
    assert!(
        html.contains(
            "<li title=\"User_2\">:&lt;img src=x onerror=alert(1)&gt;: <span class=\"count\">1</span></li>"
        ),
        "{html}"
    );
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "{html}"
    );
    assert!(
        html.contains("and 5 more\">:clap: <span class=\"count\">25</span></li>"),
        "{html}"
    );
    assert_eq!(shown.reactions[1].names.len(), REACTORS_NAMED);
    let german = reactions_html(&shown.reactions, &Catalogue::for_language(Some("de")));
    assert!(german.contains("und 5 weitere"), "{german}");
    assert_eq!(reactions_html(&[], &Catalogue::english()), "");
}

fn reactions_html(reactions: &[ShownReaction], words: &Catalogue) -> String {
    let mut html = String::new();
    push_reactions(&mut html, reactions, words);
    html
}

#[test]
fn the_edited_mark_is_quiet_and_says_when_and_by_whom_in_its_title() {
    let edited = Edited {
        at: from_millis(1_709_290_000_000),
        by: Some("User_\"2".into()),
    };
    let english = Catalogue::english();
    let mut titles = TimeTitles::default();
    let mut edited_html = |edited: &Edited| {
        let mut html = String::new();
        push_edited(&mut html, edited, &mut titles, &english);
        html
    };
    assert_eq!(
        edited_html(&edited),
        " <time class=\"edited\" datetime=\"2024-03-01T10:46:40Z\" title=\"Edited Friday, 1 March 2024, 10:46:40 UTC by User_&quot;2\">(edited)</time>"
    );
    // The same day at another time, then another day: each titled as its own.
    let later = Edited {
        at: from_millis(1_709_290_000_000 + 3_600_000),
        by: None,
    };
    assert!(
        edited_html(&later).contains("title=\"Edited Friday, 1 March 2024, 11:46:40 UTC\""),
        "{}",
        edited_html(&later)
    );
    let next_day = Edited {
        at: from_millis(1_709_290_000_000 + 86_400_000),
        by: None,
    };
    assert!(
        edited_html(&next_day).contains("title=\"Edited Saturday, 2 March 2024, 10:46:40 UTC\"")
    );

    let by_nobody = Edited { by: None, ..edited };
    let mut html = String::new();
    let german = Catalogue::for_language(Some("de"));
    push_edited(&mut html, &by_nobody, &mut TimeTitles::default(), &german);
    assert_eq!(
        html,
        " <time class=\"edited\" datetime=\"2024-03-01T10:46:40Z\" title=\"Bearbeitet am Freitag, 1. März 2024, 10:46:40 UTC\">(bearbeitet)</time>"
    );
}

#[test]
fn a_quote_is_a_blockquote_linked_to_the_quoted_message_when_the_archive_holds_it() {
    let mut m = message("bob", "I agree", None);
    m.attachments = Some(json!([{
        "text": "<b>quoted</b>\nsecond line", "author_name": "carol",
        "message_link": "https://chat.example.org/channel/general?msg=Q1"
    }]));
    let mut p = Pseudonyms::new("alice", []);
    let rendered = render(&m, &mut p);
    let words = Catalogue::english();
    let here = render_html(&rendered, None, &words, &|id| {
        (id == "Q1").then(|| "./R1-3.html#Q1".to_owned())
    });
    assert_eq!(
        here,
        "I agree\n<blockquote class=\"quote\"><p class=\"meta\"><strong>User_2</strong> \
         <a href=\"./R1-3.html#Q1\">Go to the message</a></p>\
         <div class=\"text\">&lt;b&gt;quoted&lt;/b&gt;<br/>\nsecond line</div></blockquote>"
    );
    // Not in this archive: the link leads back to where it was quoted from.
    let elsewhere = page_html(&rendered, None);
    assert!(
        elsewhere.contains(
            "<a href=\"https://chat.example.org/channel/general?msg=Q1\" rel=\"noopener noreferrer\">Original message</a>"
        ),
        "{elsewhere}"
    );
}

#[test]
fn hostile_quotes_stay_text_and_never_link_anywhere_but_the_web() {
    let mut m = message("bob", "", None);
    m.attachments = Some(json!([
        {"text": "<script>alert(1)</script>", "author_name": "alice\"><script>",
         "message_link": "javascript:alert(1)//?msg=Q1"},
        {"text": "x", "message_link": "https://x.org/?msg=\"><img src=x onerror=alert(1)>"}
    ]));
    let mut p = Pseudonyms::new("alice\"><script>", []);
    let rendered = render(&m, &mut p);
    let html = render_html(&rendered, None, &Catalogue::english(), &|id| {
        Some(format!("#{id}\"><b>"))
    });
    for hostile in ["<script", "<img", "javascript:", "<b>"] {
        assert!(!html.contains(hostile), "{hostile} in {html}");
    }
    assert!(
        html.contains("<strong>alice&quot;&gt;&lt;script&gt;</strong>"),
        "{html}"
    );
    assert!(html.contains("href=\"#Q1&quot;&gt;&lt;b&gt;\""), "{html}");
}
