use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use udd_ports::{MockPasswordHasher, Moved, NoProgress};

use super::*;

/// Records everything written, in order.
#[derive(Default)]
struct Recorder {
    users: Mutex<Vec<WorkspaceUser>>,
    rooms: Mutex<Vec<Room>>,
    subscriptions: Mutex<Vec<Subscription>>,
    messages: Mutex<Vec<Message>>,
    uploads: Mutex<Vec<Upload>>,
    avatars: Mutex<Vec<Avatar>>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

fn push<T: Clone>(into: &Mutex<Vec<T>>, items: &[T]) -> Result<(), StoreError> {
    into.lock()
        .map_err(|_| StoreError::Unexpected(anyhow::anyhow!("poisoned")))?
        .extend_from_slice(items);
    Ok(())
}

impl WorkspaceWriter for Recorder {
    fn upsert_users(&self, users: &[WorkspaceUser]) -> Result<Vec<Moved>, StoreError> {
        push(&self.users, users).map(|()| Vec::new())
    }
    fn upsert_rooms(&self, rooms: &[Room]) -> Result<(), StoreError> {
        push(&self.rooms, rooms)
    }
    fn upsert_subscriptions(&self, subscriptions: &[Subscription]) -> Result<(), StoreError> {
        push(&self.subscriptions, subscriptions)
    }
    fn upsert_messages(&self, messages: &[Message]) -> Result<(), StoreError> {
        push(&self.messages, messages)
    }
    fn upsert_uploads(&self, uploads: &[Upload]) -> Result<(), StoreError> {
        push(&self.uploads, uploads)
    }
    fn upsert_avatars(&self, avatars: &[Avatar]) -> Result<(), StoreError> {
        push(&self.avatars, avatars)
    }
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.users.lock().map(|u| u.is_empty()).unwrap_or(true))
    }
    fn versions(
        &self,
        _: udd_ports::Collection,
        _: &[String],
    ) -> Result<HashMap<String, udd_ports::StoredVersion>, StoreError> {
        Ok(HashMap::new())
    }
    fn delete_documents(
        &self,
        _: &[udd_ports::Deletion],
    ) -> Result<udd_ports::Removed, StoreError> {
        Ok(udd_ports::Removed::default())
    }
    fn sync_marks(
        &self,
    ) -> Result<Vec<(udd_ports::Collection, chrono::DateTime<chrono::Utc>)>, StoreError> {
        Ok(Vec::new())
    }
    fn advance_sync_marks(
        &self,
        _: &[(udd_ports::Collection, chrono::DateTime<chrono::Utc>)],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

impl BlobStore for Recorder {
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String> {
        let mut bytes = Vec::new();
        content.read_to_end(&mut bytes)?;
        let key = format!("{kind:?}/{id}");
        self.blobs
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(key.clone(), bytes);
        Ok(key)
    }
    fn open(&self, _key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        Ok(None)
    }
    fn describe(&self, _key: &str) -> anyhow::Result<Option<(u64, String)>> {
        Ok(None)
    }
    fn sync(&self) -> anyhow::Result<()> {
        Ok(())
    }
    fn delete(&self, _key: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

fn generate(spec: DemoSpec) -> (Arc<Recorder>, DemoSummary) {
    let recorder = Arc::new(Recorder::default());
    let mut passwords = MockPasswordHasher::new();
    passwords
        .expect_hash()
        .returning(|_| Ok("$2b$10$fixed".into()));
    let demo = SeedDemo::new(recorder.clone(), recorder.clone(), Arc::new(passwords));
    let summary = demo
        .execute(spec, &NoProgress)
        .unwrap_or_else(|e| panic!("{e}"));
    (recorder, summary)
}

fn spec(seed: u64) -> DemoSpec {
    DemoSpec {
        users: 20,
        rooms: 16,
        messages: 3_000,
        seed,
    }
}

#[test]
fn the_same_seed_gives_the_same_workspace_and_another_seed_another() {
    let (a, summary_a) = generate(spec(7));
    let (b, summary_b) = generate(spec(7));
    let (c, _) = generate(spec(8));
    assert_eq!(summary_a, summary_b);
    assert_eq!(*a.messages.lock().unwrap(), *b.messages.lock().unwrap());
    assert_eq!(*a.rooms.lock().unwrap(), *b.rooms.lock().unwrap());
    assert_eq!(*a.blobs.lock().unwrap(), *b.blobs.lock().unwrap());
    assert_ne!(*a.messages.lock().unwrap(), *c.messages.lock().unwrap());
}

#[test]
fn counts_match_the_spec_and_every_message_is_in_a_room_its_author_belongs_to() {
    let (rec, summary) = generate(spec(1));
    let messages = rec.messages.lock().unwrap();
    let subscriptions = rec.subscriptions.lock().unwrap();
    assert_eq!(messages.len(), 3_000);
    assert_eq!(summary.messages, 3_000);
    assert_eq!(rec.users.lock().unwrap().len(), 20);
    assert_eq!(rec.avatars.lock().unwrap().len(), 20);
    assert_eq!(rec.rooms.lock().unwrap().len() as u64, summary.rooms);
    for m in messages.iter() {
        let author = m.user_id.as_deref().unwrap();
        assert!(
            subscriptions
                .iter()
                .any(|s| s.room_id == m.room_id && s.user_id == author),
            "message {} by a non-member",
            m.id
        );
    }
    assert!(
        messages.windows(2).all(|w| w[0].ts <= w[1].ts),
        "generated in time order"
    );
}

#[test]
fn the_workspace_has_every_kind_of_content_an_export_must_handle() {
    let (rec, summary) = generate(spec(3));
    let messages = rec.messages.lock().unwrap();
    let rooms = rec.rooms.lock().unwrap();
    for t in ["uj", "ul", "au", "ru", "r"] {
        assert!(
            messages
                .iter()
                .any(|m| m.message_type.as_deref() == Some(t)),
            "no `{t}` message"
        );
    }
    assert!(
        messages.iter().any(|m| m.thread_id.is_some()),
        "no thread reply"
    );
    assert!(
        messages.iter().any(|m| m.msg.contains('\n')),
        "no multi-line text"
    );
    assert!(
        messages.iter().any(|m| m.msg.contains("日本語")),
        "no Unicode"
    );
    assert!(
        messages.iter().any(|m| m.msg.contains("<script>")),
        "no HTML-looking text"
    );
    let edited: Vec<_> = messages.iter().filter(|m| m.edited_at.is_some()).collect();
    assert!(!edited.is_empty(), "no edited message");
    assert!(edited
        .iter()
        .all(|m| m.edited_by == m.username && m.edited_at > Some(m.ts)));
    assert!(
        messages
            .iter()
            .any(|m| m.reactions.iter().any(|r| r.usernames.len() > 1)),
        "no reaction by several people"
    );
    let quoted: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.attachments.as_ref()?[0]["message_link"].as_str())
        .filter_map(|link| link.split_once("?msg=").map(|(_, id)| id))
        .collect();
    assert!(!quoted.is_empty(), "no quote");
    assert!(
        quoted.iter().all(|id| messages.iter().any(|m| m.id == *id)),
        "a quote of a message that is not there"
    );
    assert!(summary.uploads > 0);
    let uploads = rec.uploads.lock().unwrap();
    assert!(uploads.iter().all(|u| messages
        .iter()
        .any(|m| m.file_id.as_deref() == Some(u.id.as_str()))));
    let blobs = rec.blobs.lock().unwrap();
    let png = uploads
        .iter()
        .find(|u| u.content_type.as_deref() == Some("image/png"))
        .unwrap();
    assert!(blobs[png.blob.as_deref().unwrap()].starts_with(b"\x89PNG"));
    for kind in [RoomType::Channel, RoomType::Private, RoomType::Direct] {
        assert!(
            rooms.iter().any(|r| r.room_type == kind),
            "no {kind:?} room"
        );
    }
    assert!(rooms.iter().any(|r| r.team_main));
    let alice = &rec.users.lock().unwrap()[0].user;
    assert_eq!(alice.username, "alice");
    let subscriptions = rec.subscriptions.lock().unwrap();
    let outside = rooms
        .iter()
        .filter(|r| {
            !subscriptions
                .iter()
                .any(|s| s.room_id == r.id && s.user_id == alice.id)
        })
        .count();
    assert!(outside > 0, "some room alice is not in");
    let direct = rooms
        .iter()
        .find(|r| r.room_type == RoomType::Direct)
        .unwrap();
    assert_eq!(direct.member_ids.len(), 2);
}

#[test]
fn impossible_specs_are_refused_with_the_flag_named() {
    let recorder = Arc::new(Recorder::default());
    let demo = SeedDemo::new(
        recorder.clone(),
        recorder,
        Arc::new(MockPasswordHasher::new()),
    );
    for (bad, flag) in [
        (
            DemoSpec {
                users: 1,
                ..DemoSpec::default()
            },
            "--users",
        ),
        (
            DemoSpec {
                rooms: 0,
                ..DemoSpec::default()
            },
            "--rooms",
        ),
        (
            DemoSpec {
                messages: MAX_MESSAGES + 1,
                ..DemoSpec::default()
            },
            "--messages",
        ),
    ] {
        let err = demo.execute(bad, &NoProgress).unwrap_err();
        assert!(err.to_string().contains(flag), "{err}");
    }
}

#[test]
fn the_smallest_workspace_is_generated_too() {
    for seed in 0..20 {
        let (recorded, summary) = generate(DemoSpec {
            users: 2,
            rooms: 4,
            messages: 50,
            seed,
        });
        assert_eq!(summary.users, 2);
        assert_eq!(recorded.messages.lock().expect("lock").len(), 50);
    }
}
