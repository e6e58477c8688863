use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;

fn at(seconds: i64) -> DateTime<Utc> {
    // 2024-03-01T00:00:00Z
    DateTime::from_timestamp(1_709_251_200 + seconds, 0).unwrap_or_default()
}

fn msg(id: &str, author: &str, ts: DateTime<Utc>) -> RenderedMessage {
    RenderedMessage {
        id: id.to_owned(),
        thread_id: None,
        msg: format!("text of {id}"),
        username: author.to_owned(),
        ts,
        attachments: None,
        message_type: None,
    }
}

/// Renders `messages` in batches of `batch` messages, the state going through its
/// stored form between batches as a restart would, and returns each file's bytes.
fn render_in_batches(messages: &[RenderedMessage], batch: usize) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut stored = PageState {
        title: "general".into(),
        ..PageState::default()
    }
    .to_text();
    let mut position = 0_u64;
    let mut last_ts = None;
    let chunks: Vec<&[RenderedMessage]> = if messages.is_empty() {
        vec![&[]]
    } else {
        messages.chunks(batch).collect()
    };
    let count = chunks.len();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let mut state = PageState::from_text(&stored).unwrap_or_default();
        let mut pages = RoomPages::new("R1.html", position, last_ts, &mut state);
        for m in chunk {
            pages.push(m, None);
        }
        if n + 1 == count {
            pages.finish();
        }
        let writes = pages.into_writes();
        for (i, write) in writes.iter().enumerate() {
            // Only the first write may continue a file; every later one starts one.
            if i > 0 {
                assert!(!files.contains_key(&write.file), "{} restarted", write.file);
            } else if position > 0 {
                assert_eq!(write.page, current_page(position));
            }
            files
                .entry(write.file.clone())
                .or_default()
                .push_str(&write.bytes);
        }
        position += chunk.len() as u64;
        last_ts = chunk.last().map(|m| m.ts).or(last_ts);
        stored = state.to_text();
    }
    files
}

fn articles(page: &str) -> usize {
    page.matches("<article ").count()
}

#[test]
fn page_numbers_follow_message_positions() {
    assert_eq!(page_of(0), 1);
    assert_eq!(page_of(1999), 1);
    assert_eq!(page_of(2000), 2);
    assert_eq!(page_count(0), 1);
    assert_eq!(page_count(2000), 1);
    assert_eq!(page_count(2001), 2);
    assert_eq!(page_file("R1.html", 1), "R1.html");
    assert_eq!(page_file("R1.html", 3), "R1-3.html");
    assert_eq!(month_index_file("R1.html"), "R1-index.html");
    assert_eq!(
        page_files("R1.html", 4001),
        ["R1.html", "R1-2.html", "R1-3.html"]
    );
}

#[test]
fn rooms_split_into_pages_of_at_most_two_thousand_messages_linked_both_ways() {
    let messages: Vec<_> = (0..4500)
        .map(|i| msg(&format!("m{i}"), "alice", at(i * 60)))
        .collect();
    let files = render_in_batches(&messages, 700);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["R1-2.html", "R1-3.html", "R1.html"]
    );
    assert_eq!(articles(&files["R1.html"]), 2000);
    assert_eq!(articles(&files["R1-2.html"]), 2000);
    assert_eq!(articles(&files["R1-3.html"]), 500);
    let first = &files["R1.html"];
    assert!(first.contains("href=\"./R1-2.html\" rel=\"next\""));
    assert!(!first.contains("rel=\"prev\""));
    let middle = &files["R1-2.html"];
    assert!(middle.contains("href=\"./R1.html\" rel=\"prev\""));
    assert!(middle.contains("href=\"./R1-3.html\" rel=\"next\""));
    let last = &files["R1-3.html"];
    assert!(last.contains("href=\"./R1-2.html\" rel=\"prev\""));
    assert!(!last.contains("rel=\"next\""));
    for page in files.values() {
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert_eq!(page.matches("</html>").count(), 1);
        assert!(page.contains("href=\"./R1-index.html\""));
    }
}

#[test]
fn batches_of_any_size_render_the_same_pages() {
    let messages: Vec<_> = (0..4100)
        .map(|i| {
            let author = if i % 7 < 3 { "alice" } else { "User_1" };
            let mut m = msg(&format!("m{i}"), author, at(i * 1500));
            if i % 11 == 5 {
                m.thread_id = Some(format!("m{}", i - 3));
            }
            if i % 13 == 0 {
                m.message_type = Some("uj".into());
            }
            m
        })
        .collect();
    let whole = render_in_batches(&messages, 5000);
    for batch in [1, 333, 1000, 2000, 2001] {
        assert_eq!(render_in_batches(&messages, batch), whole, "batch {batch}");
    }
}

#[test]
fn a_date_line_starts_every_day_and_every_page_and_months_are_indexed() {
    let mut messages = vec![
        msg("a", "alice", at(60)),
        msg("b", "alice", at(120)),
        msg("c", "alice", at(86_400 + 60)),
        msg("d", "alice", at(31 * 86_400 + 60)),
    ];
    let files = render_in_batches(&messages, 1);
    let page = &files["R1.html"];
    assert_eq!(page.matches("<h2 class=\"day\"").count(), 3, "{page}");
    assert!(page.contains(
        "<h2 class=\"day\" id=\"m-2024-03\"><time datetime=\"2024-03-01\">Friday, 1 March 2024</time></h2>"
    ));
    assert!(page.contains("<h2 class=\"day\"><time datetime=\"2024-03-02\">"));
    assert!(page.contains("<h2 class=\"day\" id=\"m-2024-04\"><time datetime=\"2024-04-01\">"));

    // A page that starts mid-day opens with the date again, but the month's anchor
    // stays on the page holding its first message.
    messages = (0..2001)
        .map(|i| msg(&format!("m{i}"), "alice", at(i)))
        .collect();
    let mut state = PageState::default();
    let mut pages = RoomPages::new("R1.html", 0, None, &mut state);
    for m in &messages {
        pages.push(m, None);
    }
    pages.finish();
    let writes = pages.into_writes();
    assert_eq!(writes.len(), 2);
    assert!(writes[1]
        .bytes
        .contains("<h2 class=\"day\"><time datetime=\"2024-03-01\">"));
    assert!(!writes[1].bytes.contains("id=\"m-"));
    assert_eq!(
        state.months,
        [MonthStart {
            month: "2024-03".into(),
            page: 1
        }]
    );
    let index = month_index_html("gen<eral>", "R1.html", &state.months);
    assert!(
        index.contains("<a href=\"./R1.html#m-2024-03\">2024-03</a>"),
        "{index}"
    );
    assert!(index.contains("<h1>gen&lt;eral&gt;</h1>"));
}

#[test]
fn consecutive_messages_by_one_author_share_one_author_line() {
    let mut joined = msg("j", "User_2", at(400));
    joined.message_type = Some("uj".into());
    let messages = [
        msg("a", "alice", at(0)),
        msg("b", "alice", at(60)),
        msg("c", "alice", at(60 + 300)),
        msg("d", "alice", at(60 + 300 + 301)),
        msg("e", "User_1", at(700)),
        joined,
        msg("f", "User_1", at(710)),
    ];
    let page = &render_in_batches(&messages, 2)["R1.html"];
    let author_lines = |name: &str| page.matches(&format!("<strong>{name}</strong>")).count();
    // a starts a group, b and c (within five minutes of the one before) join it, d
    // comes after more than five minutes and starts another.
    assert_eq!(author_lines("alice"), 2, "{page}");
    assert_eq!(page.matches("<article class=\"msg cont\"").count(), 2);
    // A system message is shown quietly and ends the group.
    assert!(page.contains("<article class=\"msg system\" id=\"j\">"));
    assert_eq!(author_lines("User_1"), 2);
}

#[test]
fn replies_link_to_their_thread_on_the_same_page_only() {
    let mut here = msg("r1", "alice", at(10));
    here.thread_id = Some("p\"1".into());
    let mut elsewhere = msg("r2", "alice", at(20));
    elsewhere.thread_id = Some("gone".into());
    let messages = [msg("p\"1", "User_1", at(0)), here, elsewhere];
    let page = &render_in_batches(&messages, 1)["R1.html"];
    assert!(
        page.contains("<article class=\"msg\" id=\"p&quot;1\">"),
        "{page}"
    );
    assert!(
        page.contains("<p class=\"thread\">↳ <a href=\"#p%221\">Reply in a thread</a></p>"),
        "{page}"
    );
    assert!(page.contains("<p class=\"thread\">↳ Reply in a thread</p>"));
}

#[test]
fn hostile_text_names_and_titles_stay_text() {
    let mut m = msg("<x>", "<img src=x onerror=alert(1)>", at(0));
    m.msg = "<script>alert(1)</script>\n<a href=\"javascript:alert(1)\">x</a>".into();
    let mut state = PageState {
        title: "</title><script>alert(1)</script>".into(),
        ..PageState::default()
    };
    let mut pages = RoomPages::new("R1.html", 0, None, &mut state);
    pages.push(&m, None);
    pages.finish();
    let page = &pages.into_writes()[0].bytes;
    for hostile in [
        "<script",
        "<img src=x",
        "<a href=\"javascript",
        "id=\"<x>\"",
    ] {
        assert!(!page.contains(hostile), "{hostile} in {page}");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;<br/>\n&lt;a href="));
}

#[test]
fn an_empty_room_still_has_its_one_page() {
    let files = render_in_batches(&[], 10);
    let page = &files["R1.html"];
    assert!(page.contains("No messages.") && page.ends_with("</html>\n"));
    assert_eq!(files.len(), 1);
}

#[test]
fn page_state_round_trips_through_its_stored_form() {
    assert_eq!(PageState::default().to_text(), "");
    let state = PageState {
        title: "User_1, User_2".into(),
        first: Some(at(5)),
        author: Some("alice".into()),
        months: vec![MonthStart {
            month: "2024-03".into(),
            page: 2,
        }],
        page_ids: vec!["a".into()],
    };
    assert_eq!(PageState::from_text(&state.to_text()).ok(), Some(state));
    assert!(PageState::from_text("{not json").is_err());
}
