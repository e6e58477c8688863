//! The stage loop and its endings, against mocks: every port is a mockall mock whose
//! calls the tests record or refuse.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use udd_domain::render::{FileDigest, LinkedMessages, PAGES_FOLDER};
use udd_domain::{
    ExportOperation, ExportStatus, Message, MessageCursor, Room, RoomExport, RoomExportStatus,
    RoomType, Subscription, User,
};
use udd_ports::{
    MockArchiveStore, MockBatchLookups, MockBlobStore, MockClock, MockExportFiles,
    MockExportProgress, MockExportQueue, MockIdGenerator, MockUsers, MockWorkspaceReader,
    NoProgress, StoreError, ThreadReplies, WorkingRange,
};

use super::{EngineConfig, ExportEngine, ExportPorts, Outcome};

fn now() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn alice() -> User {
    User {
        id: "U1".into(),
        username: "alice".into(),
        name: Some("Alice".into()),
        emails: Vec::new(),
        roles: vec!["user".into()],
        status_text: None,
        services: Vec::new(),
        active: true,
        language: None,
        created_at: now(),
    }
}

fn message(id: &str, minutes: i64) -> Message {
    Message {
        user_id: Some("U1".into()),
        username: Some("alice".into()),
        msg: format!("message {id}"),
        updated_at: now(),
        ..Message::new(id, "GENERAL", now() - Duration::minutes(minutes))
    }
}

/// A workspace with one room of two messages.
fn reader() -> MockWorkspaceReader {
    reader_with_threads(&[], Vec::new(), &Log::default())
}

/// [`reader`], whose replies answer `parents` (for the filter of parents) and whose
/// threads are `threads`; the ids the engine asks threads for are recorded in `asked`.
fn reader_with_threads(
    parents: &'static [&'static str],
    threads: Vec<ThreadReplies>,
    asked: &Log,
) -> MockWorkspaceReader {
    let mut reader = MockWorkspaceReader::new();
    reader.expect_subscriptions_of().returning(|_| {
        Ok(vec![Subscription {
            id: "S1".into(),
            user_id: "U1".into(),
            room_id: "GENERAL".into(),
            room_type: RoomType::Channel,
            name: Some("general".into()),
            created_at: now(),
            updated_at: now(),
        }])
    });
    reader.expect_room().returning(|_| {
        Ok(Room {
            id: "GENERAL".into(),
            room_type: RoomType::Channel,
            name: Some("general".into()),
            fname: None,
            member_ids: Vec::new(),
            team_main: false,
            created_at: now(),
            updated_at: now(),
        })
    });
    reader.expect_count_messages().returning(|_, _| Ok(2));
    reader
        .expect_messages_page()
        .returning(|_, _, after, _| match after {
            None => Ok(vec![message("m1", 2), message("m2", 1)]),
            Some(_) => Ok(Vec::new()),
        });
    reader.expect_avatar_of().returning(|_| Ok(None));
    reader
        .expect_message_keys()
        .returning(|_, _, _| Ok(Vec::new()));
    let seen = Arc::clone(asked);
    reader.expect_batch_lookups().returning(move || {
        let mut lookups = MockBatchLookups::new();
        let (seen, threads) = (Arc::clone(&seen), threads.clone());
        lookups
            .expect_threads_started()
            .returning(move |_, _, parents: &[MessageCursor]| {
                let ids: Vec<String> = parents.iter().map(|p| p.id.clone()).collect();
                seen.lock().expect("lock").extend_from_slice(&ids);
                Ok(threads
                    .iter()
                    .filter(|t| ids.contains(&t.parent))
                    .cloned()
                    .collect())
            });
        // Called after every batch; each export here has at least one.
        lookups.expect_batch_done().times(1..).returning(|| Ok(()));
        Ok(Box::new(lookups))
    });
    reader
        .expect_linked_messages()
        .returning(move |_, _, linked: &mut LinkedMessages| {
            parents
                .iter()
                .for_each(|parent| linked.insert_parent(parent));
            Ok(())
        });
    reader.expect_count_between().returning(|_, _, _, _| Ok(0));
    reader
}

/// Working files that accept everything.
fn files() -> MockExportFiles {
    files_recording(&Log::default())
}

/// What working files hold, by name.
type Kept = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// [`files`], recording every appended text in `appended`; what is written can be
/// read back.
fn files_recording(appended: &Log) -> MockExportFiles {
    let mut files = files_keeping(appended, &Kept::default());
    files.expect_list().returning(|_, _, _| Ok(Vec::new()));
    files
}

/// [`files_recording`] with what the files hold in `kept`, and no listing.
fn files_keeping(appended: &Log, kept: &Kept) -> MockExportFiles {
    let mut files = MockExportFiles::new();
    files.expect_adopt().returning(|_| Ok(true));
    let seen = Arc::clone(appended);
    let kept = Arc::clone(kept);
    let keep = Arc::clone(&kept);
    files
        .expect_append()
        .returning(move |_, name, committed, bytes: &[u8]| {
            seen.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(bytes).into_owned());
            let mut kept = keep.lock().expect("lock");
            let file = kept.entry(name.to_owned()).or_default();
            file.truncate(usize::try_from(committed)?);
            file.extend_from_slice(bytes);
            Ok(committed + bytes.len() as u64)
        });
    let keep = Arc::clone(&kept);
    files.expect_write().returning(move |_, name, bytes| {
        keep.lock()
            .expect("lock")
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    });
    files.expect_open().returning(move |_, name| {
        let kept = kept.lock().expect("lock");
        let bytes = anyhow::Context::context(kept.get(name), "no such working file")?.clone();
        Ok(Box::new(std::io::Cursor::new(bytes)) as Box<dyn std::io::Read + Send>)
    });
    files.expect_remove_all().returning(|_| Ok(()));
    files
}

fn archives() -> MockArchiveStore {
    let mut archives = MockArchiveStore::new();
    archives.expect_prepare().returning(|_, _, _| Ok(()));
    archives
        .expect_store()
        .returning(|id, _, _| Ok(format!("exports/{id}.zip")));
    archives
        .expect_describe()
        .returning(|_| Ok((2048, "ab".into())));
    archives.expect_remove().returning(|_| Ok(()));
    archives
}

/// Progress that records every status it is told, and accepts every write.
fn progress(statuses: &Log) -> MockExportProgress {
    let mut progress = MockExportProgress::new();
    let seen = Arc::clone(statuses);
    progress.expect_start().returning(move |op, _| {
        seen.lock()
            .expect("lock")
            .push(format!("start:{}", op.status));
        Ok(())
    });
    progress.expect_pseudonyms().returning(|_| Ok(Vec::new()));
    progress
        .expect_files_page()
        .returning(|_, _, _| Ok(Vec::new()));
    let seen = Arc::clone(statuses);
    progress
        .expect_commit_batch()
        .returning(move |_, _, batch, _| {
            seen.lock()
                .expect("lock")
                .push(format!("batch:{}", batch.room.exported_count));
            Ok(())
        });
    let seen = Arc::clone(statuses);
    progress
        .expect_set_status()
        .returning(move |_, _, status, key, _| {
            let key = key.map(|k| format!("+{k}")).unwrap_or_default();
            seen.lock().expect("lock").push(format!("{status}{key}"));
            Ok(())
        });
    let seen = Arc::clone(statuses);
    progress.expect_complete().returning(move |_, _, file, _| {
        seen.lock()
            .expect("lock")
            .push(format!("complete:{}", file.key));
        Ok(())
    });
    progress
}

type Log = Arc<Mutex<Vec<String>>>;

/// An engine on the standard mocks but `files` and `users`, `adjust` applied to its
/// progress, and an operation that has had `attempts`; with the statuses it records
/// and how it ends operations.
fn setup(
    attempts: u32,
    files: MockExportFiles,
    users: MockUsers,
    adjust: impl FnOnce(&mut MockExportProgress),
) -> (ExportEngine, Log, Log) {
    setup_with_queue(attempts, files, users, adjust, |_, _| {})
}

/// [`setup`], with the queue adjusted too (`checkpoint()` first to replace expectations).
fn setup_with_queue(
    attempts: u32,
    files: MockExportFiles,
    users: MockUsers,
    adjust: impl FnOnce(&mut MockExportProgress),
    adjust_queue: impl FnOnce(&mut MockExportQueue, &Log),
) -> (ExportEngine, Log, Log) {
    let (statuses, endings): (Log, Log) = (Arc::default(), Arc::default());
    let mut progress = progress(&statuses);
    adjust(&mut progress);
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    let mut ids = MockIdGenerator::new();
    ids.expect_new_id().return_const("FILE1".to_owned());
    let engine = ExportEngine::new(
        ExportPorts {
            queue: Arc::new({
                let mut queue = queue(attempts, &endings);
                adjust_queue(&mut queue, &endings);
                queue
            }),
            progress: Arc::new(progress),
            users: Arc::new(users),
            reader: Arc::new(reader()),
            blobs: Arc::new(MockBlobStore::new()),
            files: Arc::new(files),
            archives: Arc::new(archives()),
            clock: Arc::new(clock),
            ids: Arc::new(ids),
        },
        EngineConfig {
            batch_size: 10,
            max_attempts: 3,
            ..EngineConfig::default()
        },
    );
    (engine, statuses, endings)
}

/// A queue that hands out `op` once (with `attempts` counted) and records what the
/// engine ends it with.
fn queue(attempts: u32, endings: &Log) -> MockExportQueue {
    let mut queue = MockExportQueue::new();
    let mut op = ExportOperation::new_pending("OP1".into(), "U1".into(), false, now());
    op.attempts = attempts;
    queue
        .expect_claim()
        .returning(move |_, _, _, _| Ok(Some(op.clone())));
    queue.expect_renew().returning(|_, _, _| Ok(true));
    let seen = Arc::clone(endings);
    queue.expect_release().returning(move |_, _, _, why| {
        seen.lock().expect("lock").push(format!("release:{why}"));
        Ok(())
    });
    let seen = Arc::clone(endings);
    queue.expect_pause().returning(move |_, _| {
        seen.lock().expect("lock").push("pause".into());
        Ok(())
    });
    let seen = Arc::clone(endings);
    queue
        .expect_finish_unsuccessfully()
        .returning(move |_, _, status, why, _| {
            seen.lock().expect("lock").push(format!("{status}:{why}"));
            Ok(())
        });
    queue
}

fn users() -> MockUsers {
    let mut users = MockUsers::new();
    users.expect_get().returning(|_| Ok(alice()));
    users
}

fn run(engine: &ExportEngine, stop: bool) -> Option<Outcome> {
    engine
        .run_operation(&"OP1".into(), "w1", &NoProgress, &AtomicBool::new(stop))
        .expect("the queue answers")
}

fn log(entries: &Log) -> Vec<String> {
    entries.lock().expect("lock").clone()
}

#[test]
fn a_personal_export_walks_every_stage_in_order_to_a_recorded_archive() {
    let (engine, statuses, endings) = setup(1, files(), users(), |_| {});
    let outcome = run(&engine, false);
    let Some(Outcome::Completed { file, .. }) = outcome else {
        panic!("expected a completed export, got {outcome:?}");
    };
    assert_eq!(file.key, "exports/OP1.zip");
    assert_eq!((file.size, file.sha256.as_str()), (2048, "ab"));
    assert_eq!(file.expires_at, Some(now() + Duration::days(7)));
    assert_eq!(
        log(&statuses),
        [
            "start:exporting",
            "batch:2",
            "downloading",
            "compressing",
            "uploading+exports/OP1.zip",
            "complete:exports/OP1.zip",
        ]
    );
    assert!(log(&endings).is_empty(), "{:?}", log(&endings));
}

#[test]
fn pages_written_whole_are_described_as_written_not_read_back() {
    let appended = Kept::default();
    let listed: Log = Arc::default();
    let mut files = files_keeping(&Log::default(), &appended);
    let seen = Arc::clone(&listed);
    files.expect_list().returning(
        move |_, leave_out: &[&str], ranges: &[(String, WorkingRange)]| {
            let mut seen = seen.lock().expect("lock");
            seen.extend(leave_out.iter().map(|name| format!("leave out {name}")));
            seen.extend(ranges.iter().map(|(name, _)| format!("read {name}")));
            Ok(Vec::new())
        },
    );
    let (engine, _, _) = setup(1, files, users(), |_| {});
    assert!(matches!(
        run(&engine, false),
        Some(Outcome::Completed { .. })
    ));

    let appended = appended.lock().expect("lock");
    let (pack, bytes) = appended
        .iter()
        .find(|(name, _)| name.starts_with(PAGES_FOLDER))
        .expect("a room's pages file");
    let page = pack.trim_start_matches(PAGES_FOLDER);
    let listed = log(&listed);
    assert!(
        listed.contains(&format!("leave out {page}"))
            && listed.contains(&"leave out pages/".into()),
        "{listed:?}"
    );
    assert!(!listed.iter().any(|l| l.starts_with("read ")), "{listed:?}");
    // The one page is the whole pages file: the manifest describes those bytes.
    let mut digest = FileDigest::default();
    digest.update(bytes);
    let described = digest.finish(page.to_owned());
    let manifest = String::from_utf8_lossy(&appended["manifest.json"]).into_owned();
    assert!(manifest.contains(&described.sha256), "{manifest}");
}

#[test]
fn threads_are_asked_for_only_where_the_parents_filter_says_and_linked_on_the_page() {
    let (appended, asked): (Log, Log) = (Arc::default(), Arc::default());
    let (mut engine, _, _) = setup(1, files_recording(&appended), users(), |_| {});
    let thread = ThreadReplies {
        parent: "m1".into(),
        replies: 1,
        first: MessageCursor {
            ts: now() - Duration::minutes(1),
            id: "m2".into(),
        },
    };
    engine.ports.reader = Arc::new(reader_with_threads(&["m1"], vec![thread], &asked));
    assert!(matches!(
        run(&engine, false),
        Some(Outcome::Completed { .. })
    ));
    assert_eq!(
        log(&asked),
        ["m1"],
        "m2 answers nothing, so it is not asked about"
    );
    let pages = log(&appended).concat();
    let replies = pages
        .split("<p class=\"replies\">")
        .nth(1)
        .expect("m1 shows its thread");
    assert!(replies.starts_with("<a href=\"#m2\">"), "{replies}");
    // Anchors follow the filters: m1 is a parent there; m2 is neither a reply in this
    // workspace's pages (the thread above is the mock's alone) nor quoted.
    assert!(
        pages.contains("<article class=\"msg\" id=\"m1\">"),
        "{pages}"
    );
    assert!(!pages.contains("id=\"m2\""), "{pages}");
}

#[test]
fn the_claim_hook_hears_of_an_operation_before_any_work_on_it() {
    let (engine, statuses, _) = setup(1, files(), users(), |_| {});
    let seen = Arc::clone(&statuses);
    let engine = engine.on_claim(Arc::new(move |op: &ExportOperation| {
        seen.lock()
            .expect("lock")
            .push(format!("claimed:{}", op.id));
    }));
    assert!(matches!(
        run(&engine, false),
        Some(Outcome::Completed { .. })
    ));
    let seen = log(&statuses);
    assert_eq!(seen.first().map(String::as_str), Some("claimed:OP1"));
    assert_eq!(seen.iter().filter(|s| s.starts_with("claimed")).count(), 1);
}

#[test]
fn a_lost_lease_stops_the_run_without_touching_the_operation_again() {
    let (engine, _, endings) = setup(1, files(), users(), |progress| {
        progress.checkpoint();
        progress
            .expect_start()
            .returning(|_, _| Err(StoreError::LeaseLost));
    });
    assert!(matches!(
        run(&engine, false),
        Some(Outcome::LeaseLost { .. })
    ));
    assert!(log(&endings).is_empty(), "{:?}", log(&endings));
}

#[test]
fn a_failed_attempt_is_released_for_a_retry_and_the_last_one_fails_for_good() {
    let failing_files = || {
        let mut files = files();
        files.checkpoint();
        files.expect_adopt().returning(|_| Ok(true));
        files.expect_remove_all().returning(|_| Ok(()));
        files
            .expect_append()
            .returning(|_, _, _, _| Err(anyhow::anyhow!("No space left on device")));
        files
    };
    let (first, _, endings) = setup(1, failing_files(), users(), |_| {});
    assert!(matches!(run(&first, false), Some(Outcome::Retrying { .. })));
    assert_eq!(log(&endings), ["release:No space left on device"]);

    let (last, _, endings) = setup(3, failing_files(), users(), |_| {});
    assert!(matches!(run(&last, false), Some(Outcome::Failed { .. })));
    assert_eq!(
        log(&endings),
        ["failed:gave up after 3 attempts: No space left on device"]
    );
}

#[test]
fn a_stop_request_gives_the_operation_back_uncounted() {
    let (engine, _, endings) = setup(1, files(), users(), |_| {});
    assert!(matches!(
        run(&engine, true),
        Some(Outcome::Interrupted { .. })
    ));
    assert_eq!(log(&endings), ["pause"]);
}

#[test]
fn a_panic_on_a_bad_record_fails_the_operation_at_once_and_the_engine_lives_on() {
    let mut users = MockUsers::new();
    users
        .expect_get()
        .returning(|_| panic!("a Display implementation returned an error unexpectedly"));
    let (engine, _, endings) = setup(1, files(), users, |_| {});
    let outcome = run(&engine, false);
    assert!(
        matches!(&outcome, Some(Outcome::Failed { reason, .. }) if reason.contains("Display implementation")),
        "{outcome:?}"
    );
    let endings = log(&endings);
    assert_eq!(endings.len(), 1);
    assert!(
        endings[0].starts_with("failed:internal error (panic:"),
        "{endings:?}"
    );
}

/// Runs `op` on `files` with a queue whose every renewal says the lease is gone;
/// checks the run ends as a lost lease and returns the statuses it recorded.
fn run_with_a_lost_lease(op: ExportOperation, files: MockExportFiles) -> Vec<String> {
    let (engine, statuses, _) = setup_with_queue(
        1,
        files,
        users(),
        |_| {},
        |queue, _| {
            queue.checkpoint();
            queue
                .expect_claim()
                .returning(move |_, _, _, _| Ok(Some(op.clone())));
            queue.expect_renew().returning(|_, _, _| Ok(false));
        },
    );
    let outcome = run(&engine, false);
    assert!(
        matches!(outcome, Some(Outcome::LeaseLost { .. })),
        "{outcome:?}"
    );
    log(&statuses)
}

#[test]
fn a_worker_that_lost_its_lease_while_paused_writes_no_file() {
    let mut files = MockExportFiles::new();
    files.expect_adopt().returning(|_| Ok(true));
    files.expect_write().returning(|_, _, _| Ok(()));
    // No `append` expectation: cutting or writing a room file would panic the test.
    let op = ExportOperation::new_pending("OP1".into(), "U1".into(), false, now());
    // The renewal that says the lease is gone is the one before the first append.
    let statuses = run_with_a_lost_lease(op, files);
    assert_eq!(statuses, ["start:exporting"], "no batch committed");
}

#[test]
fn a_worker_that_lost_its_lease_before_recording_the_archive_leaves_the_folder_alone() {
    let mut files = MockExportFiles::new();
    files.expect_adopt().returning(|_| Ok(true));
    // No `remove_all` expectation: removing the working folder would panic the test.
    let mut op = ExportOperation::new_pending("OP1".into(), "U1".into(), false, now());
    op.status = ExportStatus::Uploading;
    op.cutoff = Some(now());
    op.archive_key = Some("exports/OP1.zip".into());
    let statuses = run_with_a_lost_lease(op, files);
    assert_eq!(statuses, Vec::<String>::new(), "nothing recorded");
}

#[test]
fn a_folder_this_process_did_not_write_sends_the_rooms_back_to_their_start() {
    let mut files = files();
    files.checkpoint();
    files.expect_adopt().returning(|_| Ok(false));
    files
        .expect_append()
        .withf(|_, _, committed, _| *committed == 0)
        .returning(|_, _, committed, bytes| Ok(committed + bytes.len() as u64));
    files.expect_write().returning(|_, _, _| Ok(()));
    // Packaging reads back what it listed as unavailable: alice has no avatar.
    files.expect_open().returning(|_, _| {
        Ok(Box::new(std::io::Cursor::new(b"[\"avatar\"]\n".to_vec()))
            as Box<dyn std::io::Read + Send>)
    });
    files.expect_list().returning(|_, _, _| Ok(Vec::new()));
    files.expect_remove_all().returning(|_| Ok(()));
    let (engine, statuses, _) = setup_with_queue(
        1,
        files,
        users(),
        |_| {},
        |queue, _| {
            queue.checkpoint();
            let mut op = ExportOperation::new_pending("OP1".into(), "U1".into(), false, now());
            op.cutoff = Some(now());
            op.status = ExportStatus::Compressing;
            op.room_list = vec![RoomExport {
                room_id: "R1".into(),
                room_name: "general".into(),
                user_id: None,
                exported_count: 2,
                status: RoomExportStatus::Completed,
                room_type: RoomType::Channel,
                target_file: "R1.html".into(),
                total: 2,
                cursor: None,
                file_length: 4096,
                pages: Default::default(),
            }];
            queue
                .expect_claim()
                .returning(move |_, _, _, _| Ok(Some(op.clone())));
            queue.expect_renew().returning(|_, _, _| Ok(true));
        },
    );
    let outcome = run(&engine, false);
    assert!(
        matches!(outcome, Some(Outcome::Completed { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        log(&statuses)[..3],
        ["start:exporting", "batch:2", "downloading"],
        "recorded under the lease before the room file is written again from byte 0"
    );
}
