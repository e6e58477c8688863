//! The operation adapter against real SQLite files.

use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use udd_domain::render::{MonthStart, PageState};
use udd_domain::time::from_millis;
use udd_domain::{
    ExportOperation, ExportStatus, MessageCursor, RoomExport, RoomExportStatus, RoomType,
};
use udd_ports::{ExportBatch, ExportOperations, ExportProgress, ExportQueue, StoreError};

use super::super::schema::{export_operations, export_pages, export_rooms};
use super::super::testing;
use super::rows::{page_rows, OperationRow, RoomRow};
use super::SqliteExportOperations;

fn op(id: &str, user: &str, full: bool, at: DateTime<Utc>) -> ExportOperation {
    ExportOperation::new_pending(id.into(), user.into(), full, at)
}

fn t0() -> DateTime<Utc> {
    from_millis(1_800_000_000_000)
}

/// Inserts `candidate` the way a request does: only over the latest operation seen.
fn insert_over_latest(ops: &SqliteExportOperations, candidate: &ExportOperation) -> bool {
    let latest = ops
        .latest(&candidate.user_id, candidate.full_export)
        .unwrap();
    ops.insert_if_latest(candidate, latest.as_ref().map(|op| &op.id))
        .unwrap()
}

#[test]
fn latest_finds_the_users_newest_operation_of_a_kind() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db);
    assert_eq!(ops.latest(&"u1".into(), false)?, None);
    assert!(insert_over_latest(&ops, &op("A", "u1", false, t0())));
    assert!(insert_over_latest(
        &ops,
        &op("B", "u1", false, t0() + Duration::hours(25))
    ));
    assert!(insert_over_latest(
        &ops,
        &op("C", "u1", true, t0() + Duration::hours(26))
    ));
    assert!(insert_over_latest(
        &ops,
        &op("D", "u2", false, t0() + Duration::hours(27))
    ));
    assert_eq!(
        ops.latest(&"u1".into(), false)?.map(|op| op.id),
        Some("B".into())
    );
    assert_eq!(
        ops.latest(&"u1".into(), true)?.map(|op| op.id),
        Some("C".into())
    );
    assert_eq!(ops.get(&"A".into())?.id, "A");
    assert!(matches!(ops.get(&"Z".into()), Err(StoreError::NotFound)));
    Ok(())
}

#[test]
fn an_insert_over_a_stale_view_of_the_latest_is_refused() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db);
    assert!(ops.insert_if_latest(&op("A", "u1", false, t0()), None)?);
    // Someone else inserted A since this caller looked: its insert does not happen.
    assert!(!ops.insert_if_latest(&op("B", "u1", false, t0()), None)?);
    assert!(matches!(ops.get(&"B".into()), Err(StoreError::NotFound)));
    assert!(ops.insert_if_latest(&op("C", "u1", false, t0()), Some(&"A".into()))?);
    assert!(!ops.insert_if_latest(&op("D", "u1", false, t0()), Some(&"A".into()))?);
    // Another kind has its own latest.
    assert!(ops.insert_if_latest(&op("E", "u1", true, t0()), None)?);
    Ok(())
}

#[test]
fn an_operation_round_trips_with_its_room_list() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db);
    let mut stored = op("A", "u1", true, t0());
    stored.status = ExportStatus::Exporting;
    stored.archive_key = Some("exports/A.zip".into());
    stored.room_list = vec![
        RoomExport {
            room_id: "GENERAL".into(),
            room_name: "general".into(),
            user_id: None,
            exported_count: 8,
            status: RoomExportStatus::Completed,
            room_type: RoomType::Channel,
            target_file: "general.json".into(),
            total: 8,
            cursor: Some(MessageCursor {
                ts: from_millis(5),
                id: "m8".into(),
            }),
            file_length: 812,
            pages: Default::default(),
        },
        RoomExport {
            room_id: "u1u2".into(),
            room_name: "u1u2".into(),
            user_id: Some("u2".into()),
            exported_count: 0,
            status: RoomExportStatus::Pending,
            room_type: RoomType::Direct,
            target_file: "u1u2.json".into(),
            total: 0,
            cursor: None,
            file_length: 0,
            pages: PageState {
                title: "User_1, User_2".into(),
                first: Some(from_millis(3)),
                author: Some("User_1".into()),
                months: vec![MonthStart {
                    month: "1970-01".into(),
                    page: 1,
                }],
                page_starts: vec![(1_709_251_200_000, "m1".into())],
                page_offsets: vec![61_442],
            },
        },
    ];
    ops.insert_raw(&stored)?;
    assert_eq!(ops.get(&"A".into())?, stored);
    Ok(())
}

#[test]
fn a_finished_operation_answers_the_same_whether_loaded_or_kept() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db.clone());
    let mut stored = op("A", "u1", false, t0());
    stored.room_list = vec![RoomExport {
        room_id: "GENERAL".into(),
        room_name: "general".into(),
        user_id: None,
        exported_count: 3,
        status: RoomExportStatus::Exporting,
        room_type: RoomType::Channel,
        target_file: "general.html".into(),
        total: 8,
        cursor: None,
        file_length: 10,
        pages: Default::default(),
    }];
    ops.insert_raw(&stored)?;
    // Unfinished: every answer is read afresh, rooms included.
    assert_eq!(ops.latest(&"u1".into(), false)?, Some(stored.clone()));
    diesel::update(export_rooms::table)
        .set(export_rooms::exported_count.eq(8))
        .execute(&mut db.conn()?)?;
    stored.room_list[0].exported_count = 8;
    assert_eq!(ops.latest(&"u1".into(), false)?, Some(stored.clone()));
    // Finished: the first answer loads the rooms, the next ones reuse them, and the
    // operation's own row is still read every time.
    diesel::update(export_operations::table)
        .set(export_operations::status.eq("completed"))
        .execute(&mut db.conn()?)?;
    stored.status = ExportStatus::Completed;
    assert_eq!(ops.latest(&"u1".into(), false)?, Some(stored.clone()));
    assert_eq!(ops.latest(&"u1".into(), false)?, Some(stored.clone()));
    diesel::update(export_operations::table)
        .set(export_operations::failure_reason.eq(Some("noted")))
        .execute(&mut db.conn()?)?;
    let again = ops.latest(&"u1".into(), false)?.expect("the operation");
    assert_eq!(again.failure_reason.as_deref(), Some("noted"));
    assert_eq!(again.room_list, stored.room_list);
    Ok(())
}

#[test]
fn the_queue_position_counts_only_earlier_unfinished_operations() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db);
    let mut done = op("A", "u1", false, t0());
    done.status = ExportStatus::Completed;
    ops.insert_raw(&done)?;
    ops.insert_raw(&op("B", "u2", false, t0() + Duration::seconds(1)))?;
    let mut running = op("C", "u3", true, t0() + Duration::seconds(2));
    running.status = ExportStatus::Exporting;
    ops.insert_raw(&running)?;
    let mine = op("D", "u4", false, t0() + Duration::seconds(3));
    ops.insert_raw(&mine)?;
    ops.insert_raw(&op("E", "u5", false, t0() + Duration::seconds(4)))?;
    assert_eq!(ops.count_queued_before(&mine)?, 2);
    assert_eq!(ops.count_queued_before(&done)?, 0);
    Ok(())
}

#[test]
fn a_lease_keeps_other_workers_out_until_it_runs_out_and_fences_the_old_owner() -> anyhow::Result<()>
{
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db);
    assert!(insert_over_latest(&ops, &op("A", "u1", false, t0())));
    let minute = Duration::minutes(1);

    let first = ops.claim_next("w1", t0(), t0() + minute)?.expect("claimed");
    assert_eq!(first.attempts, 1);
    assert!(ops.claim_next("w2", t0(), t0() + minute)?.is_none(), "held");
    assert!(
        !ops.renew(&"A".into(), "w2", t0() + minute)?,
        "not w2's to renew"
    );
    assert!(ops.renew(&"A".into(), "w1", t0() + minute * 2)?);

    // w1 stops renewing; once the lease runs out w2 takes over.
    let later = t0() + minute * 3;
    let taken = ops
        .claim_next("w2", later, later + minute)?
        .expect("taken over");
    assert_eq!(taken.attempts, 2);
    assert!(matches!(
        ops.set_status(&"A".into(), "w1", ExportStatus::Exporting, None, later),
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        ops.finish_unsuccessfully(&"A".into(), "w1", ExportStatus::Failed, "late", later),
        Err(StoreError::LeaseLost)
    ));

    // A shutdown gives the operation back at once, the attempt not counted.
    ops.pause(&"A".into(), "w2")?;
    let resumed = ops
        .claim_next("w3", later, later + minute)?
        .expect("claimable");
    assert_eq!(resumed.attempts, 2, "w2's paused run did not count");

    // A failure gives it back for later.
    ops.release(&"A".into(), "w3", later + minute * 10, "disk full")?;
    assert!(ops
        .claim_next("w4", later + minute, later + minute * 2)?
        .is_none());
    let retried = ops.claim_next("w4", later + minute * 10, later + minute * 11)?;
    assert_eq!(
        retried.expect("due again").failure_reason.as_deref(),
        Some("disk full")
    );
    Ok(())
}

#[test]
fn a_batch_stores_the_pages_it_began_once_and_a_new_start_replaces_them() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db.clone());
    assert!(insert_over_latest(&ops, &op("A", "u1", false, t0())));
    let minute = Duration::minutes(1);
    let mut claimed = ops.claim_next("w1", t0(), t0() + minute)?.expect("claimed");
    claimed.cutoff = Some(t0());
    claimed.room_list = vec![RoomExport {
        room_id: "GENERAL".into(),
        room_name: "general".into(),
        user_id: None,
        exported_count: 0,
        status: RoomExportStatus::Pending,
        room_type: RoomType::Channel,
        target_file: "GENERAL.html".into(),
        total: 6000,
        cursor: None,
        file_length: 0,
        pages: PageState::default(),
    }];
    ops.start(&claimed, "w1")?;
    let mut room = claimed.room_list[0].clone();
    let pages_stored = |db: &super::super::Database| -> anyhow::Result<i64> {
        Ok(export_pages::table
            .filter(export_pages::operation_id.eq("A"))
            .count()
            .get_result(&mut db.conn()?)?)
    };
    // Three batches: the second begins pages 2 and 3, the third none.
    for (count, starts) in [(1500_u64, 0_usize), (4500, 2), (5000, 2)] {
        room.exported_count = count;
        room.pages.title = "general".into();
        room.pages.page_starts = (0..starts)
            .map(|i| (i as i64 * 10, format!("m{}", 2000 * (i + 1))))
            .collect();
        room.pages.page_offsets = (0..starts).map(|i| 1000 * (i as u64 + 1)).collect();
        let batch = ExportBatch {
            room_index: 0,
            room: room.clone(),
            pseudonyms: Vec::new(),
            files: Vec::new(),
        };
        ops.commit_batch(&"A".into(), "w1", &batch, t0())?;
        assert_eq!(pages_stored(&db)?, starts as i64);
    }
    let loaded = ops.get(&"A".into())?;
    assert_eq!(loaded.room_list[0].pages, room.pages);
    let text: String = export_rooms::table
        .select(export_rooms::page_state)
        .first(&mut db.conn()?)?;
    assert!(!text.contains("m2000"), "not in the room's row: {text}");

    // Recorded again as they are (a new run's start), the pages stay; started afresh,
    // no page of the old run is left behind.
    let mut again = loaded;
    ops.start(&again, "w1")?;
    assert_eq!(pages_stored(&db)?, 2);
    again.status = ExportStatus::Exporting;
    assert!(again.restart_room_files());
    ops.start(&again, "w1")?;
    assert_eq!(pages_stored(&db)?, 0);
    assert_eq!(
        ops.get(&"A".into())?.room_list[0].pages,
        PageState::default()
    );
    Ok(())
}

#[test]
fn concurrent_inserts_over_the_same_latest_store_exactly_one() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let ops = Arc::new(SqliteExportOperations::new(db));
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (ops, barrier) = (Arc::clone(&ops), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                ops.insert_if_latest(&op(&format!("OP{i}"), "u1", false, t0()), None)
            })
        })
        .collect();
    let mut stored = 0;
    for handle in handles {
        if handle
            .join()
            .map_err(|_| anyhow::anyhow!("thread panicked"))??
        {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    Ok(())
}

#[test]
fn uploads_come_in_keyset_pages_sorted_by_asset_bytes_then_id() -> anyhow::Result<()> {
    use super::super::schema::export_files;
    let (_dir, db) = testing::database();
    let ops = SqliteExportOperations::new(db.clone());
    ops.insert_raw(&op("A", "u1", false, t0()))?;
    ops.insert_raw(&op("B", "u1", true, t0()))?;
    // Byte order, whatever the locale: upper case before lower, accents after both;
    // one asset name twice (told apart by the upload id).
    let rows = [
        ("F5", "é.png"),
        ("F1", "b.png"),
        ("F2", "B.png"),
        ("F4", "a-1.png"),
        ("F3", "a.png"),
        ("F6", "a.png"),
        ("F7", "É.png"),
    ];
    let mut conn = db.conn()?;
    for (operation, (id, asset)) in rows
        .iter()
        .map(|row| ("A", row))
        .chain([("B", &("F0", "0.png"))])
    {
        diesel::insert_into(export_files::table)
            .values((
                export_files::operation_id.eq(operation),
                export_files::file_id.eq(*id),
                export_files::name.eq(format!("name of {id}")),
                export_files::asset.eq(*asset),
            ))
            .execute(&mut conn)?;
    }
    drop(conn);
    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = ops.files_page(&"A".into(), after.as_ref(), 2)?;
        assert!(page.len() <= 2);
        let done = page.len() < 2;
        after = page.last().cloned();
        read.extend(page);
        if done {
            break;
        }
    }
    let order: Vec<(&str, &str)> = read
        .iter()
        .map(|f| (f.file_id.as_str(), f.asset.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("F2", "B.png"),
            ("F4", "a-1.png"),
            ("F3", "a.png"),
            ("F6", "a.png"),
            ("F1", "b.png"),
            ("F7", "É.png"),
            ("F5", "é.png"),
        ]
    );
    assert_eq!(read[0].name, "name of F2");
    assert!(ops.files_page(&"C".into(), None, 10)?.is_empty());
    Ok(())
}

impl SqliteExportOperations {
    /// Test-only: stores `op` with its room list as it is.
    fn insert_raw(&self, op: &ExportOperation) -> anyhow::Result<()> {
        let mut conn = self.db.conn()?;
        diesel::insert_into(export_operations::table)
            .values(OperationRow::from_domain(op))
            .execute(&mut conn)?;
        let rooms: Vec<RoomRow> = op
            .room_list
            .iter()
            .enumerate()
            .map(|(position, room)| RoomRow::from_domain(&op.id, position, room))
            .collect();
        diesel::insert_into(export_rooms::table)
            .values(&rooms)
            .execute(&mut conn)?;
        for (position, room) in op.room_list.iter().enumerate() {
            diesel::insert_into(export_pages::table)
                .values(page_rows(&op.id, position, &room.pages, 2))
                .execute(&mut conn)?;
        }
        Ok(())
    }
}
