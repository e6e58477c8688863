//! What the demo workspace says: names, topics, words, the rooms planned for its users,
//! system messages, attachments, edits, reactions and quotes, and avatars, all drawn
//! from the seeded generator.

use chrono::Duration;
use serde_json::json;
use udd_domain::time::iso_millis;
use udd_domain::{Message, Reaction, RoomType, Upload, User};

use super::png;
use super::rng::Rng;
use super::DemoSpec;

pub(super) const FIRST: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil",
];
pub(super) const LAST: [&str; 8] = [
    "Example", "Builder", "Jones", "Null", "Müller", "Øster", "Nakamura", "O'Brien",
];
pub(super) const TOPICS: [&str; 12] = [
    "release-train",
    "design-review",
    "support",
    "random",
    "ops",
    "marketing",
    "hiring",
    "kitchen",
    "security",
    "frontend",
    "backend",
    "data",
];
pub(super) const WORDS: [&str; 40] = [
    "export", "data", "room", "message", "deploy", "review", "ticket", "meeting", "coffee",
    "release", "bug", "fix", "customer", "report", "draft", "plan", "budget", "launch", "test",
    "build", "tomorrow", "today", "please", "thanks", "agreed", "maybe", "later", "now", "urgent",
    "minor", "the", "a", "we", "should", "could", "will", "check", "ship", "update", "notes",
];
pub(super) const SPICE: [&str; 8] = [
    "Ünïcödé ✓ — 日本語 — emoji 🎉",
    "<b>not bold</b> & <script>alert('x')</script>",
    "*bold* and _italic_ and `code`",
    "Link with quotes: \"a\" 'b' https://example.com/?a=1&b=2",
    "Привет, мир",
    "مرحبا بالعالم",
    "line one\nline two\nline three",
    "Tab\tseparated\tvalues",
];

/// Reactions people choose, as Rocket.Chat names them.
const REACTIONS: [&str; 6] = [
    ":thumbsup:",
    ":tada:",
    ":heart:",
    ":joy:",
    ":eyes:",
    ":rocket:",
];

/// What a demo message of the room can quote: its id, author and text.
pub(super) type Quotable = (String, String, String);

/// Per room: members, the last few message ids (for thread replies) and the last text
/// message (for quotes).
pub(super) struct RoomState {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) members: Vec<usize>,
    pub(super) recent: Vec<String>,
    pub(super) last: Option<Quotable>,
    pub(super) room_type: RoomType,
    pub(super) team: bool,
}

pub(super) fn plan_rooms(spec: &DemoSpec, rng: &mut Rng, users: &[User]) -> Vec<RoomState> {
    let n = users.len();
    let mut rooms = vec![RoomState {
        id: "GENERAL".to_owned(),
        name: Some("general".to_owned()),
        members: (0..n).collect(),
        recent: Vec::new(),
        last: None,
        room_type: RoomType::Channel,
        team: false,
    }];
    let mut used_pairs = std::collections::HashSet::new();
    let last_group = (1..spec.rooms).rev().find(|i| i % 5 != 0);
    for i in 1..spec.rooms {
        if i % 5 == 0 {
            // A direct room: alice with someone for the first ones, then random pairs.
            let a = if i <= 15 { 0 } else { rng.below(n) };
            let mut b = rng.below(n);
            if b == a {
                b = (a + 1) % n;
            }
            let (x, y) = (a.min(b), a.max(b));
            if used_pairs.insert((x, y)) {
                let mut ids = [users[x].id.clone(), users[y].id.clone()];
                ids.sort();
                rooms.push(RoomState {
                    id: ids.concat(),
                    name: None,
                    members: vec![x, y],
                    recent: Vec::new(),
                    last: None,
                    room_type: RoomType::Direct,
                    team: false,
                });
                continue;
            }
        }
        let mut members: Vec<usize> = (1..n).filter(|_| rng.below(2) == 0).collect();
        if Some(i) != last_group && rng.below(10) < 8 {
            members.insert(0, 0);
        }
        // With one other user, a group can only be alice and them.
        if n < 3 && !members.contains(&0) {
            members.insert(0, 0);
        }
        while members.len() < 2 {
            let candidate = 1 + rng.below(n - 1);
            if !members.contains(&candidate) {
                members.push(candidate);
            }
        }
        let topic = TOPICS[(i as usize - 1) % TOPICS.len()];
        let name = if (i as usize) <= TOPICS.len() {
            topic.to_owned()
        } else {
            format!("{topic}-{i}")
        };
        rooms.push(RoomState {
            id: rng.id(),
            name: Some(name),
            members,
            recent: Vec::new(),
            last: None,
            room_type: if i % 3 == 0 {
                RoomType::Private
            } else {
                RoomType::Channel
            },
            team: i == 1,
        });
    }
    rooms
}

pub(super) fn system_message(
    message: &mut Message,
    rng: &mut Rng,
    room: &RoomState,
    users: &[User],
) {
    let other = &users[room.members[rng.below(room.members.len())]].username;
    let (kind, msg) = match rng.below(if room.team { 7 } else { 6 }) {
        0 => ("uj", message.username.clone().unwrap_or_default()),
        1 => ("ul", message.username.clone().unwrap_or_default()),
        2 => ("au", other.clone()),
        3 => ("ru", other.clone()),
        4 => (
            "r",
            room.name
                .clone()
                .map_or_else(|| "renamed".to_owned(), |n| format!("{n}-renamed")),
        ),
        5 => ("room_changed_topic", sentence(rng)),
        _ => (
            "user-converted-to-team",
            room.name.clone().unwrap_or_default(),
        ),
    };
    message.message_type = Some(kind.to_owned());
    message.msg = msg;
}

/// What happens to a text message after it is sent, as it does in Rocket.Chat: now and
/// then it is edited, gets reactions from the room's members, or quotes the room's last
/// message (an attachment with `message_link`, `author_name` and `text`).
pub(super) fn add_marks(message: &mut Message, rng: &mut Rng, room: &RoomState, users: &[User]) {
    if rng.below(20) == 0 {
        let at = message.ts + Duration::seconds(30 + rng.below(3600) as i64);
        message.edited_at = Some(at);
        message.edited_by = message.username.clone();
        message.updated_at = at;
    }
    if rng.below(6) == 0 {
        for _ in 0..1 + rng.below(2) {
            let emoji = REACTIONS[rng.below(REACTIONS.len())];
            if message.reactions.iter().any(|r| r.emoji == emoji) {
                continue;
            }
            let mut usernames: Vec<String> = Vec::new();
            for _ in 0..1 + rng.below(room.members.len().min(4)) {
                let name = &users[room.members[rng.below(room.members.len())]].username;
                if !usernames.contains(name) {
                    usernames.push(name.clone());
                }
            }
            message.reactions.push(Reaction {
                emoji: emoji.to_owned(),
                usernames,
            });
        }
    }
    if let Some((id, author, text)) = room.last.as_ref().filter(|_| rng.below(30) == 0) {
        let path = match (&room.room_type, &room.name) {
            (RoomType::Private, Some(name)) => format!("group/{name}"),
            (_, Some(name)) => format!("channel/{name}"),
            (_, None) => format!("direct/{}", room.id),
        };
        message.attachments = Some(json!([{
            "text": text,
            "author_name": author,
            "message_link": format!("https://chat.example.org/{path}?msg={id}"),
            "ts": iso_millis(message.ts),
        }]));
    }
}

/// Rocket.Chat's attachment metadata for an uploaded file.
pub(super) fn attachment(upload: &Upload) -> serde_json::Value {
    let link = format!("/file-upload/{}/{}", upload.id, upload.name);
    let mut item = json!({
        "ts": iso_millis(upload.uploaded_at),
        "title": upload.name,
        "title_link": link,
        "title_link_download": true,
        "type": "file",
    });
    if upload.content_type.as_deref() == Some("image/png") {
        item["image_url"] = json!(link);
        item["image_type"] = json!("image/png");
        item["image_size"] = json!(upload.size);
    }
    json!([item])
}

pub(super) fn sentence(rng: &mut Rng) -> String {
    let len = 3 + rng.below(14);
    let mut words: Vec<&str> = (0..len).map(|_| WORDS[rng.below(WORDS.len())]).collect();
    if rng.below(20) == 0 {
        words.push("\nand one more line");
    }
    let mut text = words.join(" ");
    if let Some(first) = text.get(0..1) {
        text.replace_range(0..1, &first.to_uppercase());
    }
    text.push(['.', '!', '?'][rng.below(3)]);
    text
}

pub(super) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

pub(super) fn display_name(name: &str) -> String {
    name.split('-')
        .map(capitalise)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn avatar_png(rng: &mut Rng) -> Vec<u8> {
    let (a, b) = (
        [rng.byte(), rng.byte(), rng.byte()],
        [rng.byte(), rng.byte(), rng.byte()],
    );
    png::encode(8, 8, |x, y| if (x / 2 + y / 2) % 2 == 0 { a } else { b })
}
