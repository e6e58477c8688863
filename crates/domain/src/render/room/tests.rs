use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::*;

fn english() -> Catalogue {
    Catalogue::english()
}

fn at(seconds: i64) -> DateTime<Utc> {
    // 2024-03-01T00:00:00Z
    DateTime::from_timestamp(1_709_251_200 + seconds, 0).unwrap_or_default()
}

fn msg(id: &str, author: &str, ts: DateTime<Utc>) -> RenderedMessage<'static> {
    RenderedMessage {
        id: id.to_owned().into(),
        thread_id: None,
        msg: format!("text of {id}").into(),
        username: author.to_owned(),
        ts,
        attachments: None,
        message_type: None,
        edited: None,
        reactions: Vec::new(),
    }
}

/// Places `messages`, none of which links anywhere.
fn push_all(pages: &mut RoomPages<'_>, messages: &[RenderedMessage]) {
    for m in messages {
        pages.push(m, None, &LinkTargets::default());
    }
}

fn key(m: &RenderedMessage) -> MessageCursor {
    MessageCursor {
        ts: m.ts,
        id: m.id.to_string(),
    }
}

/// What the export finds in the store for the batch `all[start..end]`, the way it
/// looks: a message already placed through the page starts, one of the batch or a
/// later one through its position.
fn targets_for(
    pages: &RoomPages<'_>,
    all: &[RenderedMessage],
    (position, replies): (&HashMap<&str, usize>, &HashMap<&str, Vec<usize>>),
    start: usize,
    end: usize,
) -> LinkTargets {
    let page = |at: usize| {
        if at < start {
            pages.page_holding(&key(&all[at]))
        } else {
            page_of(at as u64)
        }
    };
    let mut targets = LinkTargets::default();
    for m in &all[start..end] {
        // As `LinkedMessages::may_be_linked` decides: replies and parents.
        if m.thread_id.is_some() || replies.contains_key(&*m.id) {
            targets.insert_anchor(m.id.clone());
        }
        if let Some(&at) = m.thread_id.as_deref().and_then(|p| position.get(p)) {
            targets.insert_page(all[at].id.clone(), page(at));
        }
        if let Some(thread) = replies.get(&*m.id) {
            targets.insert_thread(
                m.id.clone(),
                ThreadStart {
                    replies: thread.len() as u64,
                    first_reply: all[thread[0]].id.to_string(),
                    page: page(thread[0]),
                },
            );
        }
    }
    targets
}

/// Renders `messages` in batches of `batch` messages, the state going through its
/// stored form between batches as a restart would, and returns each page file's bytes:
/// as the pages file's byte ranges say, checked against each batch's own account of
/// where its pages begin.
fn render_in_batches(messages: &[RenderedMessage], batch: usize) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut pack = String::new();
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
    let mut replies: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut places: HashMap<&str, usize> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        places.insert(&*m.id, i);
        if let Some(parent) = &m.thread_id {
            replies.entry(&**parent).or_default().push(i);
        }
    }
    let words = english();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let mut state = PageState::from_text(&stored).unwrap_or_default();
        let length = pack.len() as u64;
        let mut pages = RoomPages::new("R1.html", position, last_ts, length, &mut state, &words);
        let start = position as usize;
        let targets = targets_for(
            &pages,
            messages,
            (&places, &replies),
            start,
            start + chunk.len(),
        );
        for m in chunk {
            pages.push(m, None, &targets);
        }
        if n + 1 == count {
            pages.finish();
        }
        let append = pages.into_append();
        for (i, (page, bytes)) in page_bytes(&append).enumerate() {
            let file = page_file("R1.html", page);
            // Only the first page may continue; every later one starts afresh.
            if i > 0 {
                assert!(!files.contains_key(&file), "{file} restarted");
            } else if position > 0 {
                assert_eq!(page, current_page(position));
            }
            files.entry(file).or_default().push_str(bytes);
        }
        pack.push_str(&append.bytes);
        position += chunk.len() as u64;
        last_ts = chunk.last().map(|m| m.ts).or(last_ts);
        stored = state.to_text();
    }
    let state = PageState::from_text(&stored).unwrap_or_default();
    let length = pack.len() as u64;
    let ranged: BTreeMap<String, String> = (1..=page_count(position))
        .map(|page| {
            let range = state.page_range(page, length);
            let at = |byte: u64| usize::try_from(byte).unwrap_or(usize::MAX);
            (
                page_file("R1.html", page),
                pack[at(range.start)..at(range.end)].to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ranged, files,
        "the pages file's ranges differ from the batches' pages"
    );
    files
}

/// What a batch wrote to one page.
struct PageWrite {
    bytes: String,
}

/// Each page's share of what a batch appends, in order.
fn page_bytes(append: &PagesAppend) -> impl Iterator<Item = (u32, &str)> {
    append
        .page_ranges()
        .map(|(page, range)| (page, &append.bytes[range]))
}

fn into_writes(pages: RoomPages) -> Vec<PageWrite> {
    let append = pages.into_append();
    page_bytes(&append)
        .map(|(_, bytes)| PageWrite {
            bytes: bytes.to_owned(),
        })
        .collect()
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
                m.thread_id = Some(format!("m{}", i - 3).into());
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
    let words = english();
    let mut pages = RoomPages::new("R1.html", 0, None, 0, &mut state, &words);
    push_all(&mut pages, &messages);
    pages.finish();
    let writes = into_writes(pages);
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
    let index = month_index_html("gen<eral>", "R1.html", &state.months, &words);
    assert!(
        index.contains("<a href=\"./R1.html#m-2024-03\">March 2024</a>"),
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
    assert!(page.contains("<article class=\"msg system\">"), "{page}");
    // No link points at any of them: no anchors.
    assert!(!page.contains("<article class=\"msg\" id="), "{page}");
    assert_eq!(author_lines("User_1"), 2);
}

#[test]
fn only_a_message_a_link_may_point_at_has_an_anchor() {
    let words = english();
    let mut state = PageState::default();
    let mut pages = RoomPages::new("R1.html", 0, None, 0, &mut state, &words);
    let mut targets = LinkTargets::default();
    targets.insert_anchor("linked");
    pages.push(&msg("plain", "alice", at(0)), None, &targets);
    pages.push(&msg("linked", "bob", at(10)), None, &targets);
    pages.finish();
    let page = &into_writes(pages)[0].bytes;
    assert!(
        page.contains("<article class=\"msg\" id=\"linked\">"),
        "{page}"
    );
    assert!(!page.contains("id=\"plain\""), "{page}");
    assert_eq!(page.matches("<article class=\"msg\">").count(), 1, "{page}");
}

#[test]
fn replies_link_to_their_thread_and_parents_to_their_first_reply() {
    let mut here = msg("r1", "alice", at(10));
    here.thread_id = Some("p\"1".into());
    let mut elsewhere = msg("r2", "alice", at(20));
    elsewhere.thread_id = Some("gone".into());
    let mut again = msg("r3", "bob", at(30));
    again.thread_id = Some("p\"1".into());
    let messages = [msg("p\"1", "User_1", at(0)), here, elsewhere, again];
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
    assert!(
        page.contains("<p class=\"replies\"><a href=\"#r1\">2 replies</a></p>"),
        "{page}"
    );
}

#[test]
fn threads_are_linked_across_pages_both_ways_whatever_the_batches() {
    // A parent on page 1 whose replies are on page 3, and a thread inside page 2: with
    // batches of every size, parents and replies fall before, inside and after them.
    let mut messages: Vec<_> = (0..6500)
        .map(|i| msg(&format!("m{i}"), "alice", at(i * 60)))
        .collect();
    messages[4100].thread_id = Some("m10".into());
    messages[4200].thread_id = Some("m10".into());
    messages[2500].thread_id = Some("m2400".into());
    for batch in [1, 700, 2000, 7000] {
        let files = render_in_batches(&messages, batch);
        let first = &files["R1.html"];
        assert!(
            first.contains("<p class=\"replies\"><a href=\"./R1-3.html#m4100\">2 replies</a></p>"),
            "batch {batch}"
        );
        let third = &files["R1-3.html"];
        assert_eq!(
            third
                .matches(
                    "<p class=\"thread\">↳ <a href=\"./R1.html#m10\">Reply in a thread</a></p>"
                )
                .count(),
            2,
            "batch {batch}"
        );
        let second = &files["R1-2.html"];
        assert!(
            second.contains("<p class=\"replies\"><a href=\"#m2500\">1 reply</a></p>"),
            "batch {batch}"
        );
        assert!(second.contains("<a href=\"#m2400\">Reply in a thread</a>"));
    }
}

#[test]
fn page_starts_place_every_message_already_written() {
    let messages: Vec<_> = (0..4001)
        .map(|i| msg(&format!("m{i:04}"), "alice", at(i / 3)))
        .collect();
    let mut state = PageState::default();
    let words = english();
    let mut pages = RoomPages::new("R1.html", 0, None, 0, &mut state, &words);
    push_all(&mut pages, &messages);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(pages.page_holding(&key(m)), page_of(i as u64), "{}", m.id);
    }
    assert_eq!(pages.position(), 4001);
    assert_eq!(
        state.page_starts.len(),
        2,
        "one entry per page after the first"
    );
}

#[test]
fn pages_speak_the_readers_language() {
    let mut m = msg("a", "alice", at(0));
    m.thread_id = Some("gone".into());
    let mut state = PageState {
        title: "general".into(),
        ..PageState::default()
    };
    let german = Catalogue::for_language(Some("de"));
    let mut pages = RoomPages::new("R1.html", 2000, None, 0, &mut state, &german);
    pages.push(&m, None, &LinkTargets::default());
    pages.finish();
    let page: String = into_writes(pages).into_iter().map(|w| w.bytes).collect();
    for words in [
        "<html lang=\"de\">",
        "<title>general — Seite 2</title>",
        ">Alle Räume</a>",
        ">Monate</a>",
        "rel=\"prev\">← Vorherige Seite</a>",
        "<span class=\"page\">Seite 2</span>",
        ">Freitag, 1. März 2024</time></h2>",
        "<time datetime=\"2024-03-01T00:00:00Z\">00:00</time>",
        "<p class=\"tz\">Alle Zeiten in UTC.</p>",
        "↳ Antwort in einem Thread",
    ] {
        assert!(page.contains(words), "{words} in {page}");
    }
    for english in ["All rooms", "Previous", "Reply in", "Friday", "Page "] {
        assert!(!page.contains(english), "{english} in {page}");
    }
    let index = month_index_html(
        "general",
        "R1.html",
        &[MonthStart {
            month: "2024-03".into(),
            page: 2,
        }],
        &german,
    );
    assert!(
        index.contains(">März 2024</a> <span class=\"meta\">Seite 2</span>"),
        "{index}"
    );
    assert!(index.contains("<h2>Monate</h2>") && index.contains(">Erste Seite</a>"));
}

#[test]
fn edits_and_reactions_show_on_the_page() {
    let mut m = msg("a", "alice", at(0));
    m.edited = Some(crate::render::Edited {
        at: at(90),
        by: None,
    });
    m.reactions = vec![crate::render::ShownReaction {
        emoji: ":tada:".into(),
        count: 2,
        names: vec!["alice".into(), "User_1".into()],
    }];
    let page = &render_in_batches(&[m], 1)["R1.html"];
    assert!(
        page.contains("00:00</time> <time class=\"edited\" datetime=\"2024-03-01T00:01:30Z\""),
        "{page}"
    );
    assert!(page.contains(
        "</div>\n<ul class=\"reactions\"><li title=\"alice, User_1\">:tada: <span class=\"count\">2</span></li></ul>\n</article>"
    ), "{page}");
}

#[test]
fn hostile_text_names_and_titles_stay_text() {
    let mut m = msg("<x>", "<img src=x onerror=alert(1)>", at(0));
    m.msg = "<script>alert(1)</script>\n<a href=\"javascript:alert(1)\">x</a>".into();
    let mut state = PageState {
        title: "</title><script>alert(1)</script>".into(),
        ..PageState::default()
    };
    let words = english();
    let mut pages = RoomPages::new("R1.html", 0, None, 0, &mut state, &words);
    let mut targets = LinkTargets::default();
    targets.insert_anchor("<x>");
    pages.push(&m, None, &targets);
    pages.finish();
    let page = &into_writes(pages)[0].bytes;
    assert!(
        page.contains("<article class=\"msg\" id=\"&lt;x&gt;\">"),
        "{page}"
    );
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
fn a_page_range_runs_from_its_offset_to_the_next_or_to_the_length() {
    let state = PageState {
        page_offsets: vec![100, 250],
        ..PageState::default()
    };
    assert_eq!(state.page_range(1, 300), 0..100);
    assert_eq!(state.page_range(2, 300), 100..250);
    assert_eq!(state.page_range(3, 300), 250..300);
    // Pages not begun yet, and lengths cut below an offset, give empty ranges inside.
    assert_eq!(state.page_range(4, 300), 300..300);
    assert_eq!(state.page_range(2, 120), 100..120);
    assert_eq!(state.page_range(3, 120), 120..120);
    assert_eq!(PageState::default().page_range(1, 42), 0..42);
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
        page_starts: vec![(1_709_251_200_000, "a".into())],
        page_offsets: vec![48_213],
    };
    assert_eq!(PageState::from_text(&state.to_text()).ok(), Some(state));
    assert!(PageState::from_text("{not json").is_err());
}
