//! A personal export of a 20,000-message room: pages of at most 2,000 messages whose
//! previous/next links, month index, thread links (both ways, across pages), quotes and
//! every other link resolve inside the zip; edited marks and reactions shown; no script
//! from message text, reactions, quotes or names; and an export resumed after failures
//! equal to a clean one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use udd::adapters::SqliteWorkspace;
use udd::app::EngineConfig;
use udd::domain::{Message, Reaction};
use udd::ports::WorkspaceWriter;

use crate::export_faults::{run_to_completion, setup_shaped, Faults, Setup};

const MESSAGES: usize = 20_000;
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A thread whose parent is on the first page and whose replies are on later pages.
const PARENT: usize = 11;
const REPLIES: [usize; 3] = [4500, 4600, 12_345];

/// What becomes of message `i` after it is sent: edited, reacted to, quoting another.
fn marks(i: usize, message: &mut Message, authors: &[(&str, &str)]) {
    if i % 1000 == 3 {
        message.edited_at = Some(message.ts + Duration::minutes(2));
        message.edited_by = Some(if i % 2000 == 3 { "bob" } else { "alice" }.into());
        message.updated_at = message.ts + Duration::minutes(2);
    }
    if i % 500 == 101 {
        message.reactions = vec![Reaction {
            emoji: ":thumbsup:".into(),
            usernames: authors.iter().map(|(_, name)| (*name).to_owned()).collect(),
        }];
    }
    if i == 1101 {
        message.reactions.push(Reaction {
            emoji: ":<img src=x onerror=alert(3)>:".into(),
            usernames: vec!["<script>alert(4)</script>".into()],
        });
    }
    if i % 700 == 13 && i > 500 {
        message.attachments = Some(serde_json::json!([{
            "text": format!("<script>alert(5)</script> words of big{:05}", i - 500),
            "author_name": authors[((i - 500) / 3) % authors.len()].1,
            "message_link": format!("https://chat.example.org/channel/general?msg=big{:05}", i - 500),
        }]));
    }
    if i == 2113 {
        message.attachments = Some(serde_json::json!([{
            "text": "from another room", "author_name": "<b>mallory</b>",
            "message_link": "javascript:alert(6)//?msg=elsewhere",
        }]));
    }
}

fn big_room(workspace: &SqliteWorkspace) {
    // From 2026-01-01, three messages a minute apart by one author every 70 minutes:
    // about eleven months of messages.
    let start = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap();
    let authors = [
        ("NBTm56xe8Rh5cF47X", "alice"),
        ("fq6g5jFboeXuNZhZR", "bob"),
        ("uCarolCarolCarol1", "carol"),
    ];
    let messages: Vec<Message> = (0..MESSAGES)
        .map(|i| {
            let ts = start + Duration::minutes(70 * (i / 3) as i64 + (i % 3) as i64);
            let (user_id, username) = authors[(i / 3) % authors.len()];
            Message {
                user_id: Some(user_id.into()),
                username: Some(username.into()),
                msg: if i % 997 == 0 {
                    HOSTILE.to_owned()
                } else {
                    format!("message number {i}")
                },
                thread_id: if REPLIES.contains(&i) {
                    Some(format!("big{PARENT:05}"))
                } else {
                    (i % 50 == 7).then(|| format!("big{:05}", i - 7))
                },
                ..Message::new(format!("big{i:05}"), "GENERAL", ts)
            }
        })
        .enumerate()
        .map(|(i, mut message)| {
            marks(i, &mut message, &authors);
            message
        })
        .collect();
    for chunk in messages.chunks(5_000) {
        workspace.upsert_messages(chunk).unwrap();
    }
}

fn setup(faults: std::sync::Arc<Faults>) -> Setup {
    setup_shaped(
        false,
        faults,
        100,
        // Batches that do not divide 2,000, so commits fall inside pages and batches
        // cross page boundaries.
        EngineConfig {
            batch_size: 700,
            commit_bytes: 1,
            ..EngineConfig::default()
        },
        big_room,
    )
}

fn text(entries: &BTreeMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8(entries[name].clone()).unwrap()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Every `href` and `src` of every page: relative ones name an entry of the zip (and,
/// with a fragment, an element id on it), the others are web or mail addresses.
fn assert_links_resolve(entries: &BTreeMap<String, Vec<u8>>) -> usize {
    let mut checked = 0;
    for name in entries.keys().filter(|n| n.ends_with(".html")) {
        let page = text(entries, name);
        for attribute in ["href=\"", "src=\""] {
            for (at, _) in page.match_indices(attribute) {
                let rest = &page[at + attribute.len()..];
                let link = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
                checked += 1;
                if link.starts_with("https://")
                    || link.starts_with("http://")
                    || link.starts_with("mailto:")
                {
                    continue;
                }
                let (file, fragment) = match link.split_once('#') {
                    Some((file, fragment)) => (file, Some(fragment)),
                    None => (link.as_str(), None),
                };
                let target = if file.is_empty() {
                    name.clone()
                } else {
                    let file = file
                        .strip_prefix("./")
                        .unwrap_or_else(|| panic!("{link} in {name} is not relative"));
                    percent_decode(file)
                };
                assert!(
                    entries.contains_key(&target),
                    "{link} in {name}: no {target} in the zip"
                );
                if let Some(fragment) = fragment {
                    let id = format!("id=\"{}\"", percent_decode(fragment));
                    assert!(
                        text(entries, &target).contains(&id),
                        "{link} in {name}: no {id} on {target}"
                    );
                }
            }
        }
    }
    checked
}

#[test]
fn a_twenty_thousand_message_room_is_split_into_linked_pages_and_resumes_exactly() {
    let clean_faults = Faults::never();
    let clean = setup(clean_faults.clone());
    let (entries, zip, _) = run_to_completion(&clean);
    let steps = clean_faults.step.load(Ordering::SeqCst);

    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let general = manifest["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["roomId"] == "GENERAL")
        .unwrap();
    let total = general["messages"].as_u64().unwrap() as usize;
    assert!(total > MESSAGES, "{total}");
    let pages: Vec<String> = general["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pages.len(), total.div_ceil(2000));
    assert_eq!(pages[0], "GENERAL.html");
    assert_eq!(pages[1], "GENERAL-2.html");
    let mut shown = 0;
    for (n, page) in pages.iter().enumerate() {
        let html = text(&entries, page);
        let articles = html.matches("<article ").count();
        assert!(articles <= 2000, "{page} holds {articles}");
        shown += articles;
        assert_eq!(html.contains("rel=\"prev\""), n > 0, "{page}");
        assert_eq!(html.contains("rel=\"next\""), n + 1 < pages.len(), "{page}");
    }
    assert_eq!(shown, total, "every message is on exactly one page");

    // The month index lists each month once, each link landing on its first day.
    let months = text(&entries, "GENERAL-index.html");
    let linked = months.matches("<li><a href=").count();
    assert!(linked >= 10, "{linked} months in {months}");
    assert!(months.contains("href=\"./GENERAL-2.html#m-"), "{months}");
    let index = text(&entries, "index.html");
    assert!(index.contains(&format!("<td>{total}</td>")), "{index}");
    assert!(index.contains("href=\"./style.css\"") && entries.contains_key("style.css"));
    let checked = assert_links_resolve(&entries);
    assert!(checked > 100, "{checked} links");

    // Message text stays text, even inside a thread or a group.
    let all: String = pages.iter().map(|p| text(&entries, p)).collect();
    assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(all.contains("<a href=\"#big00000\">Reply in a thread</a>"));
    assert!(all.contains("<article class=\"msg cont\""));

    // The thread on page 1 links to its first reply on a later page, and each reply
    // back to it; every such link was checked to land on an element with that id.
    let offset = total - MESSAGES;
    let page_of = |i: usize| match (offset + i) / 2000 + 1 {
        1 => "GENERAL.html".to_owned(),
        n => format!("GENERAL-{n}.html"),
    };
    assert_eq!(page_of(PARENT), "GENERAL.html");
    assert_eq!(page_of(REPLIES[0]), "GENERAL-3.html");
    let first = text(&entries, "GENERAL.html");
    assert!(
        first.contains(&format!(
            "<p class=\"replies\"><a href=\"./GENERAL-3.html#big{:05}\">3 replies</a></p>",
            REPLIES[0]
        )),
        "no link to the first reply"
    );
    for reply in REPLIES {
        let page = text(&entries, &page_of(reply));
        let article = &page[page.find(&format!("id=\"big{reply:05}\"")).unwrap()..];
        let article = &article[..article.find("</article>").unwrap()];
        assert!(
            article.contains(&format!(
                "<a href=\"./GENERAL.html#big{PARENT:05}\">Reply in a thread</a>"
            )),
            "{article}"
        );
    }
    assert!(all.contains("<p class=\"replies\"><a href=\"#big00007\">1 reply</a></p>"));

    // Only a message some link may point at carries its id as an anchor: replies, thread
    // parents and quoted messages. (Ids are random in a real workspace: written on
    // every message, they would be a third of the archive.)
    let anchored: BTreeSet<usize> = all
        .match_indices("\" id=\"big")
        .map(|(at, _)| all[at + 9..at + 14].parse().unwrap())
        .collect();
    let reply = |i: usize| i % 50 == 7 || REPLIES.contains(&i);
    // Message i + 7 answers message i when i + 7 leaves 7 divided by 50.
    let parent = |i: usize| i == PARENT || (i.is_multiple_of(50) && i + 7 < MESSAGES);
    // Message 2113 quotes another room's message instead.
    let quoted = |i: usize| (i + 500) % 700 == 13 && i + 500 < MESSAGES && i + 500 != 2113;
    let linkable: BTreeSet<usize> = (0..MESSAGES)
        .filter(|&i| reply(i) || parent(i) || quoted(i))
        .collect();
    assert_eq!(anchored, linkable);
    assert!(anchored.len() < MESSAGES / 10, "{} anchors", anchored.len());

    // Edits, reactions and quotes are shown; their people are pseudonymised.
    assert_eq!(
        all.matches("<time class=\"edited\"").count(),
        MESSAGES / 1000
    );
    assert!(all.contains(
        "<time class=\"edited\" datetime=\"2026-01-01T01:12:00Z\" title=\"Edited Thursday, 1 January 2026, 01:12:00 UTC by User_"
    ), "another's edit, pseudonymised");
    assert!(
        all.contains(" UTC by alice\">(edited)</time>"),
        "an own edit"
    );
    assert_eq!(
        all.matches("<ul class=\"reactions\">").count(),
        MESSAGES / 500
    );
    assert!(all.contains(":thumbsup: <span class=\"count\">3</span>"));
    for (at, _) in all.match_indices("<li title=\"") {
        let title = &all[at + 11..];
        let title = &title[..title.find('"').unwrap()];
        assert!(
            !title.contains("bob") && !title.contains("carol"),
            "{title}"
        );
    }
    let quotes = all.matches("<blockquote class=\"quote\">").count();
    assert_eq!(quotes, (501..MESSAGES).filter(|i| i % 700 == 13).count());
    // The quote in message 4213 (page 3) of message 3713 (page 2).
    assert_eq!(
        (page_of(4213).as_str(), page_of(3713).as_str()),
        ("GENERAL-3.html", "GENERAL-2.html")
    );
    assert!(all.contains("<a href=\"./GENERAL-2.html#big03713\">Go to the message</a>"));
    assert!(all.contains("<a href=\"#big00213\">Go to the message</a>"));
    assert!(!all.contains("mallory") && !all.contains("javascript:"));
    assert!(all.contains("&lt;script&gt;alert(5)&lt;/script&gt; words of big"));
    assert!(all.contains(":&lt;img src=x onerror=alert(3)&gt;: <span class=\"count\">1</span>"));
    for hostile in ["<script", "<img src=x", "<b>mallory"] {
        assert!(!all.contains(hostile), "{hostile}");
    }

    // Failures spread over the run, each followed by a resume, give the same bytes.
    let reference = std::fs::read(&zip).unwrap();
    for fail_at in [steps / 3, steps * 2 / 3, steps - 8] {
        let faults = Faults::never();
        faults.fail_at.store(fail_at, Ordering::SeqCst);
        let faulty = setup(faults);
        let (resumed, resumed_zip, attempts) = run_to_completion(&faulty);
        assert_eq!(attempts, 1, "failure at step {fail_at} of {steps}");
        assert_eq!(
            resumed.keys().collect::<Vec<_>>(),
            entries.keys().collect::<Vec<_>>()
        );
        assert!(
            std::fs::read(&resumed_zip).unwrap() == reference,
            "zip bytes after a failure at step {fail_at} of {steps}"
        );
    }
}

/// The archive as a person opens it: unzipped, from `file://`, in headless Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_archive_opens_from_disk_and_its_links_lead_where_they_say() {
    use crate::webdriver::Driver;

    let (entries, _, _) =
        tokio::task::spawn_blocking(|| run_to_completion(&setup(Faults::never())))
            .await
            .unwrap();
    let unpacked = tempfile::tempdir().unwrap();
    for (name, bytes) in &entries {
        let path = unpacked.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let url = |name: &str| format!("file://{}", unpacked.path().join(name).display());

    let driver = Driver::start().await;
    let browser = driver.browser(true, unpacked.path()).await;
    browser.goto(&url("index.html")).await;
    let general = browser.wait_for("a[href='./GENERAL.html']", 10).await;
    browser.click(&general).await;
    assert!(browser.current_url().await.ends_with("/GENERAL.html"));

    // Next leads to the second page, and back.
    let next = browser.wait_for("a[rel='next']", 10).await;
    browser.click(&next).await;
    assert!(browser.current_url().await.ends_with("/GENERAL-2.html"));
    let previous = browser.wait_for("a[rel='prev']", 10).await;
    browser.click(&previous).await;
    assert!(browser.current_url().await.ends_with("/GENERAL.html"));

    // A thread reply lands on its parent.
    let reply = browser.wait_for("a[href='#big00000']", 10).await;
    browser.click(&reply).await;
    assert!(browser
        .current_url()
        .await
        .ends_with("/GENERAL.html#big00000"));
    assert!(browser.find("#big00000").await.is_some());

    // A thread's parent on the first page leads to its first reply on the third, and
    // the reply back to the parent.
    let first_reply = format!("big{:05}", REPLIES[0]);
    let replies = browser
        .wait_for(
            &format!("p.replies a[href='./GENERAL-3.html#{first_reply}']"),
            10,
        )
        .await;
    assert_eq!(browser.text(&replies).await, "3 replies");
    browser.click(&replies).await;
    assert!(browser
        .current_url()
        .await
        .ends_with(&format!("/GENERAL-3.html#{first_reply}")));
    assert!(browser
        .find(&format!("[id='{first_reply}']"))
        .await
        .is_some());
    let parent = format!("big{PARENT:05}");
    let back = browser
        .wait_for(
            &format!("[id='{first_reply}'] p.thread a[href='./GENERAL.html#{parent}']"),
            10,
        )
        .await;
    browser.click(&back).await;
    assert!(browser
        .current_url()
        .await
        .ends_with(&format!("/GENERAL.html#{parent}")));
    assert!(browser.find(&format!("[id='{parent}']")).await.is_some());

    // Edits, reactions and quotes are there, as elements of the page's own making.
    assert!(browser
        .find("time.edited[title^='Edited ']")
        .await
        .is_some());
    assert!(browser.find("ul.reactions li span.count").await.is_some());
    let quote = browser.wait_for("blockquote.quote a", 10).await;
    let quoted = browser.attribute(&quote, "href").await.unwrap();
    browser.click(&quote).await;
    let fragment = quoted.rsplit('#').next().unwrap();
    assert!(browser
        .current_url()
        .await
        .ends_with(&format!("#{fragment}")));
    assert!(browser.find(&format!("[id='{fragment}']")).await.is_some());

    // Hostile text stays text: no element came out of it.
    browser.goto(&url("GENERAL.html")).await;
    browser.wait_for("article", 10).await;
    assert!(browser.find("img[src='x']").await.is_none());
    assert!(browser.find("article script").await.is_none());
    let page = browser.source().await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped"
    );

    // The month index lands on a month's first day, on the right page.
    browser.goto(&url("GENERAL-index.html")).await;
    let month = browser.wait_for("li a[href*='#m-']", 10).await;
    let target = browser.attribute(&month, "href").await.unwrap();
    browser.click(&month).await;
    let landed = browser.current_url().await;
    let fragment = target.rsplit('#').next().unwrap();
    assert!(
        landed.ends_with(&format!("#{fragment}")),
        "{landed} for {target}"
    );
    assert!(browser.find(&format!("[id='{fragment}']")).await.is_some());

    browser.goto(&url("GENERAL-2.html")).await;
    browser.wait_for("article", 10).await;
    let screenshots = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots");
    browser
        .screenshot(&screenshots.join("archive-room.png"))
        .await;
    browser.goto(&url("index.html")).await;
    browser.wait_for("a[href='./GENERAL.html']", 10).await;
    browser
        .screenshot(&screenshots.join("archive-index.png"))
        .await;

    let errors: Vec<_> = browser
        .console()
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.quit().await;
}
