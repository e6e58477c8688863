//! `udd demo`: a realistic, deterministic workspace (same seed, same data) for trying
//! udd out and for benchmarks: channels, private groups, direct rooms, a team, system
//! messages, threads, uploads with real PNG and text files, avatars, multi-line and
//! Unicode text. Generated as a stream: memory stays flat whatever the message count.

mod content;
mod png;
mod rng;

use std::sync::{mpsc, Arc};

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;
use udd_domain::{Avatar, Email, Message, Room, RoomType, Subscription, Upload, User};
use udd_ports::{
    BlobKind, BlobStore, PasswordHasher, Progress, StoreError, WorkspaceUser, WorkspaceWriter,
};

use content::{
    add_marks, attachment, avatar_png, capitalise, display_name, plan_rooms, sentence,
    system_message, RoomState, FIRST, LAST, SPICE,
};
use rng::Rng;

/// The password every demo user logs in with.
pub const DEMO_PASSWORD: &str = "demo";

/// Messages written per transaction.
const BATCH: usize = 5_000;

/// Messages and their uploads to write, with the number of messages generated so far.
type Batch = (Vec<Message>, Vec<Upload>, u64);

/// The most messages a demo may have.
pub const MAX_MESSAGES: u64 = 100_000_000;

/// How big a demo workspace to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSpec {
    /// Users (at least 2); the first is `alice`, the richest export subject.
    pub users: u32,
    /// Rooms (at least 1): `general` plus channels, private groups and direct rooms.
    pub rooms: u32,
    /// Messages across all rooms.
    pub messages: u64,
    /// The seed: the same seed gives the same workspace.
    pub seed: u64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self {
            users: 12,
            rooms: 10,
            messages: 2_000,
            seed: 42,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Usernames of the first users, all with password [`DEMO_PASSWORD`].
    pub usernames: Vec<String>,
    /// Users written.
    pub users: u64,
    /// Rooms written.
    pub rooms: u64,
    /// Subscriptions written.
    pub subscriptions: u64,
    /// Messages written.
    pub messages: u64,
    /// Uploads written.
    pub uploads: u64,
}

/// Why a demo could not be generated.
#[derive(Debug, Error)]
pub enum DemoError {
    /// The spec asks for something impossible.
    #[error("{0}")]
    Invalid(String),
    /// The store or blob store failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for DemoError {
    fn from(err: StoreError) -> Self {
        Self::Unexpected(anyhow::Error::new(err))
    }
}

use_case! {
    /// Generates demo workspaces.
    pub struct SeedDemo {
        writer: Arc<dyn WorkspaceWriter>,
        blobs: Arc<dyn BlobStore>,
        passwords: Arc<dyn PasswordHasher>,
    }
    /// Builds the use case.
    pub fn new;
}

impl SeedDemo {
    /// Generates the workspace `spec` describes into the store.
    pub fn execute(
        &self,
        spec: DemoSpec,
        progress: &dyn Progress,
    ) -> Result<DemoSummary, DemoError> {
        validate(&spec)?;
        let mut rng = Rng::new(spec.seed);
        let base =
            DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or(DateTime::UNIX_EPOCH); // 2024-01-01
        let mut summary = DemoSummary::default();

        progress.start("users", Some(u64::from(spec.users)));
        let users = self.write_users(&spec, &mut rng, base)?;
        summary.users = users.len() as u64;
        summary.usernames = users.iter().take(8).map(|u| u.username.clone()).collect();
        progress.finish(&format!("{} users", users.len()));

        progress.start("rooms", Some(u64::from(spec.rooms)));
        let mut rooms = plan_rooms(&spec, &mut rng, &users);
        let (room_count, subscription_count) = self.write_rooms(&rooms, &users, base, &mut rng)?;
        summary.rooms = room_count;
        summary.subscriptions = subscription_count;
        progress.finish(&format!(
            "{room_count} rooms, {subscription_count} subscriptions"
        ));

        progress.start("messages", Some(spec.messages));
        // A new workspace takes its messages in bulk (see `start_message_load`).
        let bulk = spec.messages > 0 && self.writer.start_message_load()?;
        let written = self.write_messages(&spec, &mut rng, base, &users, &mut rooms, progress);
        // Finished even when writing failed: what was written stays indexed.
        let finished = match bulk {
            true => self.writer.finish_message_load().map(|_| ()),
            false => Ok(()),
        };
        let (messages, uploads) = written?;
        finished?;
        summary.messages = messages;
        summary.uploads = uploads;
        self.blobs.sync()?;
        progress.finish(&format!("{messages} messages, {uploads} uploads"));
        Ok(summary)
    }

    fn write_users(
        &self,
        spec: &DemoSpec,
        rng: &mut Rng,
        base: DateTime<Utc>,
    ) -> Result<Vec<User>, DemoError> {
        // One hash for every demo user: they share a password, and bcrypt is slow.
        let hash = self.passwords.hash(DEMO_PASSWORD)?;
        let mut users = Vec::with_capacity(spec.users as usize);
        let mut batch = Vec::new();
        let mut avatars = Vec::new();
        for i in 0..spec.users as usize {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[rng.below(LAST.len())];
            let username = if i < FIRST.len() {
                first.to_owned()
            } else {
                format!(
                    "{first}.{}{}",
                    last.to_lowercase().replace(['\'', 'ü', 'ø'], ""),
                    i
                )
            };
            let created_at = base - Duration::days(rng.below(300) as i64 + 30);
            let user = User {
                id: rng.id().into(),
                name: Some(format!("{} {last}", capitalise(first))),
                emails: vec![Email {
                    address: format!("{username}@example.org"),
                    verified: true,
                }],
                roles: if i == 0 {
                    vec!["user".into(), "admin".into()]
                } else {
                    vec!["user".into()]
                },
                status_text: match rng.below(4) {
                    0 => Some("On holiday 🌴".to_owned()),
                    1 => Some("Back on Monday".to_owned()),
                    _ => None,
                },
                services: vec!["password".into(), "resume".into()],
                active: true,
                language: None,
                created_at,
                username,
            };
            let image = avatar_png(rng);
            let avatar_id = rng.id();
            let key = self
                .blobs
                .put(BlobKind::Avatar, &avatar_id, &mut image.as_slice())?;
            avatars.push(Avatar {
                id: avatar_id,
                username: user.username.clone(),
                user_id: Some(user.id.clone()),
                content_type: Some("image/png".into()),
                size: image.len() as u64,
                blob: Some(key),
                uploaded_at: created_at,
                updated_at: created_at,
            });
            batch.push(WorkspaceUser {
                password_bcrypt: Some(hash.clone()),
                ..WorkspaceUser::new(user.clone())
            });
            users.push(user);
            if batch.len() >= BATCH {
                self.writer.upsert_users(&batch)?;
                self.writer.upsert_avatars(&avatars)?;
                batch.clear();
                avatars.clear();
            }
        }
        self.writer.upsert_users(&batch)?;
        self.writer.upsert_avatars(&avatars)?;
        Ok(users)
    }

    fn write_rooms(
        &self,
        rooms: &[RoomState],
        users: &[User],
        base: DateTime<Utc>,
        rng: &mut Rng,
    ) -> Result<(u64, u64), DemoError> {
        let mut room_rows = Vec::new();
        let mut subscriptions = Vec::new();
        for state in rooms {
            let direct = state.room_type == RoomType::Direct;
            let room_type = state.room_type.clone();
            let created_at = base + Duration::days(rng.below(20) as i64);
            room_rows.push(Room {
                id: state.id.clone().into(),
                room_type: room_type.clone(),
                name: state.name.clone(),
                fname: state.name.as_ref().map(|n| display_name(n)),
                member_ids: if direct {
                    state.members.iter().map(|&m| users[m].id.clone()).collect()
                } else {
                    Vec::new()
                },
                team_main: state.team,
                created_at,
                updated_at: created_at,
            });
            for &member in &state.members {
                let name = match &state.name {
                    Some(name) => name.clone(),
                    None => state
                        .members
                        .iter()
                        .find(|&&other| other != member)
                        .map_or_else(
                            || users[member].username.clone(),
                            |&other| users[other].username.clone(),
                        ),
                };
                subscriptions.push(Subscription {
                    id: rng.id(),
                    user_id: users[member].id.clone(),
                    room_id: state.id.clone().into(),
                    room_type: room_type.clone(),
                    name: Some(name),
                    created_at,
                    updated_at: created_at,
                });
            }
        }
        for chunk in room_rows.chunks(BATCH) {
            self.writer.upsert_rooms(chunk)?;
        }
        for chunk in subscriptions.chunks(BATCH) {
            self.writer.upsert_subscriptions(chunk)?;
        }
        Ok((room_rows.len() as u64, subscriptions.len() as u64))
    }

    /// Writes the messages (and their uploads) as another thread generates them, batch
    /// by batch in order, so generating and writing each keep a core busy.
    fn write_messages(
        &self,
        spec: &DemoSpec,
        rng: &mut Rng,
        base: DateTime<Utc>,
        users: &[User],
        rooms: &mut [RoomState],
        progress: &dyn Progress,
    ) -> Result<(u64, u64), DemoError> {
        let (sender, batches) = mpsc::sync_channel::<Batch>(2);
        std::thread::scope(|scope| {
            let generator =
                scope.spawn(move || self.generate_messages(spec, rng, base, users, rooms, &sender));
            let mut written = Ok(());
            for (messages, uploads, done) in batches.iter() {
                written = self
                    .writer
                    .upsert_uploads(&uploads)
                    .and_then(|()| self.writer.upsert_messages(&messages));
                if written.is_err() {
                    break;
                }
                progress.set(done);
            }
            // A generator still sending finds nobody and stops.
            drop(batches);
            let generated = generator.join().unwrap_or_else(|_| {
                Err(DemoError::Unexpected(anyhow::anyhow!(
                    "generating the demo messages failed unexpectedly"
                )))
            });
            // The store's failure first: the generator stopped because of it.
            written?;
            generated
        })
    }

    /// Generates the messages, handing them to `sender` in batches with the count so
    /// far; returns how many messages and uploads it made.
    fn generate_messages(
        &self,
        spec: &DemoSpec,
        rng: &mut Rng,
        base: DateTime<Utc>,
        users: &[User],
        rooms: &mut [RoomState],
        sender: &mpsc::SyncSender<Batch>,
    ) -> Result<(u64, u64), DemoError> {
        let send = |batch: Batch| {
            sender
                .send(batch)
                .map_err(|_| DemoError::Unexpected(anyhow::anyhow!("the demo stopped")))
        };
        let start = base + Duration::days(30);
        let step_ms = (Duration::days(330).num_milliseconds() / spec.messages.max(1) as i64).max(1);
        let mut batch: Vec<Message> = Vec::with_capacity(BATCH);
        let mut uploads: Vec<Upload> = Vec::new();
        let mut upload_count = 0_u64;
        for i in 0..spec.messages {
            let room = &mut rooms[rng.below(rooms.len())];
            let author = &users[room.members[rng.below(room.members.len())]];
            let ts = start
                + Duration::milliseconds(step_ms * i as i64 + rng.below(step_ms as usize) as i64);
            let mut message = Message {
                user_id: Some(author.id.clone()),
                username: Some(author.username.clone()),
                ..Message::new(rng.id(), room.id.clone(), ts)
            };
            match rng.below(1000) {
                0..=19 => system_message(&mut message, rng, room, users),
                20..=24 => {
                    let upload = self.upload(rng, room, author, ts)?;
                    message.attachments = Some(attachment(&upload));
                    message.file_id = Some(upload.id.clone());
                    uploads.push(upload);
                    upload_count += 1;
                }
                25..=74 if !room.recent.is_empty() => {
                    message.thread_id = Some(room.recent[rng.below(room.recent.len())].clone());
                    message.msg = sentence(rng);
                }
                75..=124 => message.msg = SPICE[rng.below(SPICE.len())].to_owned(),
                _ => message.msg = sentence(rng),
            }
            if message.message_type.is_none() && message.file_id.is_none() {
                add_marks(&mut message, rng, room, users);
                room.last = Some((
                    message.id.clone(),
                    author.username.clone(),
                    message.msg.clone(),
                ));
            }
            if message.thread_id.is_none() && message.message_type.is_none() {
                if room.recent.len() >= 8 {
                    room.recent.remove(0);
                }
                room.recent.push(message.id.clone());
            }
            batch.push(message);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                send((full, std::mem::take(&mut uploads), i + 1))?;
            }
        }
        send((batch, uploads, spec.messages))?;
        Ok((spec.messages, upload_count))
    }

    fn upload(
        &self,
        rng: &mut Rng,
        room: &RoomState,
        author: &User,
        ts: DateTime<Utc>,
    ) -> Result<Upload, DemoError> {
        let id = rng.id();
        let (name, content_type, bytes) = if rng.below(2) == 0 {
            let names = [
                "diagram.png",
                "screen shot (1).png",
                "café menu.png",
                "../../etc/passwd.png",
            ];
            (
                names[rng.below(names.len())].to_owned(),
                "image/png",
                avatar_png(rng),
            )
        } else {
            let names = [
                "notes.txt",
                "résumé.txt",
                "report final (v2).txt",
                "CON.txt",
            ];
            let text = format!("{}\n{}\n", sentence(rng), sentence(rng));
            (
                names[rng.below(names.len())].to_owned(),
                "text/plain",
                text.into_bytes(),
            )
        };
        let key = self
            .blobs
            .put(BlobKind::Upload, &id, &mut bytes.as_slice())?;
        Ok(Upload {
            id: id.into(),
            room_id: Some(room.id.clone().into()),
            user_id: Some(author.id.clone()),
            name,
            content_type: Some(content_type.to_owned()),
            size: bytes.len() as u64,
            blob: Some(key),
            uploaded_at: ts,
            updated_at: ts,
        })
    }
}

fn validate(spec: &DemoSpec) -> Result<(), DemoError> {
    if spec.users < 2 || spec.users > 1_000_000 {
        return Err(DemoError::Invalid(format!(
            "--users must be between 2 and 1000000, not {}",
            spec.users
        )));
    }
    if spec.rooms < 1 || spec.rooms > 1_000_000 {
        return Err(DemoError::Invalid(format!(
            "--rooms must be between 1 and 1000000, not {}",
            spec.rooms
        )));
    }
    if spec.messages > MAX_MESSAGES {
        return Err(DemoError::Invalid(format!(
            "--messages must be at most {MAX_MESSAGES}, not {}",
            spec.messages
        )));
    }
    Ok(())
}

/// Room 0 is `general` with everyone; every fifth room is a direct room; the last group
/// room leaves alice out, so her export has a room it must never show.
#[cfg(test)]
mod tests;
