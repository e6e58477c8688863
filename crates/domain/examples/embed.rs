//! Another service using udd's rules with no server around them: deciding whether a
//! request creates or reuses an export, walking an operation through its states, and
//! rendering a room page from messages.
//!
//! Run it with `cargo run -p udd-domain --example embed`.

use chrono::{DateTime, Duration, Utc};
use udd_domain::i18n::Catalogue;
use udd_domain::render::{LinkTargets, PageState, Pseudonyms, RenderedMessage, RoomPages};
use udd_domain::{
    ExportOperation, ExportStatus, Message, RequestDecision, RequestPolicy, UserDataFile,
};

fn main() {
    let now: DateTime<Utc> = "2026-11-28T09:00:00Z".parse().unwrap_or_default();

    println!("1. Does a request create an export or reuse the last one?");
    let policy = RequestPolicy::default();
    let mut last = ExportOperation::new_pending("OP1".into(), "alice".into(), false, now);
    for (label, asked_at, gone) in [
        ("23 hours later", now + Duration::hours(23), false),
        ("25 hours later", now + Duration::hours(25), false),
        (
            "1 hour later, the file already expired",
            now + Duration::hours(1),
            true,
        ),
    ] {
        let decision = policy.decide(Some(&last), gone, asked_at);
        println!("   asked {label}: {}", describe(&decision));
    }
    last.status = ExportStatus::Failed;
    let decision = policy.decide(Some(&last), false, now + Duration::hours(1));
    println!("   asked 1 hour after a failure: {}", describe(&decision));

    println!("\n2. An operation walks through its states");
    let mut op = ExportOperation::new_pending("OP2".into(), "alice".into(), true, now);
    print!("   {}", op.status);
    for next in [
        ExportStatus::ExportingRooms,
        ExportStatus::Exporting,
        ExportStatus::Downloading,
        ExportStatus::Compressing,
        ExportStatus::Uploading,
        ExportStatus::Completed,
    ] {
        match op.move_to(next, now) {
            Ok(()) => print!(" → {}", op.status),
            Err(refused) => print!(" ✗ {refused}"),
        }
    }
    println!();
    match op.move_to(ExportStatus::Exporting, now) {
        Ok(()) => println!("   (unexpected: a completed operation moved on)"),
        Err(refused) => println!("   and then: {refused}"),
    }

    println!("\n3. A room page, others pseudonymised, everything escaped");
    let mut pseudonyms = Pseudonyms::new("alice", []);
    let messages = [
        message("m1", "bob", "Hi <b>all</b>", now),
        message(
            "m2",
            "alice",
            "Hello bob & carol",
            now + Duration::minutes(1),
        ),
        message("m3", "carol", "👋", now + Duration::minutes(2)),
    ];
    let mut state = PageState {
        title: "general".into(),
        ..PageState::default()
    };
    let words = Catalogue::english();
    let mut pages = RoomPages::new("GENERAL.html", 0, None, 0, &mut state, &words);
    for message in &messages {
        pages.push(
            &RenderedMessage::for_page(message, None, &mut pseudonyms, &words),
            None,
            &LinkTargets::default(),
        );
    }
    pages.finish();
    let page = pages.into_append().bytes;
    let body_start = page.find("<main>").unwrap_or(0);
    let body_end = page.rfind("</main>").map_or(page.len(), |end| end + 7);
    for line in page[body_start..body_end].lines() {
        println!("   {line}");
    }

    println!("\n4. The finished file, and when it stops being downloadable");
    let file = UserDataFile {
        id: "F1".into(),
        user_id: "alice".into(),
        name: "2026-11-28-Alice-data.zip".into(),
        size: 48_213,
        sha256: "00".into(),
        key: "exports/OP2.zip".into(),
        created_at: now,
        expires_at: Some(now + Duration::days(7)),
        removed_at: None,
    };
    for days in [6, 7] {
        let at = now + Duration::days(days);
        println!(
            "   after {days} days: {}",
            if file.is_available(at) {
                "available"
            } else {
                "gone"
            }
        );
    }
}

fn describe(decision: &RequestDecision) -> &'static str {
    match decision {
        RequestDecision::Reuse => "reuse the last export (requested: false)",
        RequestDecision::Create => "create a new export (requested: true)",
    }
}

fn message(id: &str, username: &str, text: &str, ts: DateTime<Utc>) -> Message {
    Message {
        user_id: Some(format!("id-{username}").into()),
        username: Some(username.into()),
        msg: text.into(),
        ..Message::new(id, "GENERAL", ts)
    }
}
