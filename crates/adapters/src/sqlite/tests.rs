//! The SQLite adapter's own checks: its migrations, its pragmas and files, the plans of
//! the queries an export leans on, and the message row's columns.

use super::*;

/// diesel knows a migration by the version its folder name starts with: two folders
/// with one version would leave the second unapplied on every database.
#[test]
fn every_migration_has_its_own_version() {
    for backend in ["migrations", "migrations_postgres"] {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(backend);
        let mut versions: Vec<String> = std::fs::read_dir(&folder)
            .expect("the migrations folder")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .map(|name| name.split('_').next().unwrap_or_default().to_owned())
            .collect();
        let count = versions.len();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), count, "{backend}: a version is used twice");
    }
}

/// SQLite's plan for `query` (its parameters left unbound, which leaves the plan
/// as it is), step by step.
fn plan_of<Q>(conn: &mut DbConnection, query: &Q) -> anyhow::Result<Vec<String>>
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    use diesel::sql_types::Text;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};

    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
    let sql = sql.split(" -- binds:").next().unwrap_or_default();
    Ok(sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Step>(conn)?
        .into_iter()
        .map(|step| step.detail)
        .collect())
}

/// The one pass over a personal export's quotes reads the small covering index,
/// not every message of the rooms (the index serves the query only while the
/// query names its condition literally).
#[test]
fn quotes_are_read_from_their_index_alone() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let room = udd_domain::RoomId::from("R");
    let mut conn = db.conn()?;
    assert_eq!(
        plan_of(&mut conn, &links::quotes(&room, 1))?,
        ["SEARCH messages USING COVERING INDEX messages_quoting (room_id=? AND ts<?)"],
    );
    Ok(())
}

/// The replies to a batch's parents are one slice of the reply index, between the
/// first and the last parent's time; those still waiting for their parent are
/// sought by parent among the room's waiting ones.
#[test]
fn replies_are_read_from_the_slice_of_their_parents_times() -> anyhow::Result<()> {
    use diesel::prelude::*;
    let (_dir, db) = testing::database();
    let mut conn = db.conn()?;
    let room = udd_domain::RoomId::from("R");
    let parents = ["p1", "p2"];
    let placed =
        links::replies_to(&room, &parents, 9).filter(schema::messages::thread_ts.between(1, 5));
    assert_eq!(
        plan_of(&mut conn, &placed)?,
        ["SEARCH messages USING COVERING INDEX messages_by_thread (room_id=? AND thread_ts>? AND thread_ts<?)"],
    );
    let waiting =
        links::replies_to(&room, &parents, 9).filter(schema::messages::thread_ts.is_null());
    assert_eq!(
        plan_of(&mut conn, &waiting)?,
        ["SEARCH messages USING COVERING INDEX messages_by_thread (room_id=? AND thread_ts=? AND thread_id=? AND ts<?)"],
    );
    Ok(())
}

#[test]
fn urls_name_a_file_with_or_without_scheme() {
    assert_eq!(
        sqlite_path("data/udd.sqlite3").ok(),
        Some("data/udd.sqlite3")
    );
    assert_eq!(
        sqlite_path("sqlite://data/udd.sqlite3").ok(),
        Some("data/udd.sqlite3")
    );
    assert!(sqlite_path("postgres://localhost/udd").is_err());
    assert!(sqlite_path("").is_err());
}

#[test]
fn migrating_twice_applies_nothing_the_second_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(&dir.path().join("nested/udd.sqlite3").to_string_lossy(), 2)?;
    assert!(db.migrate()? > 0);
    assert_eq!(db.migrate()?, 0);
    Ok(())
}

#[test]
fn the_database_and_its_wal_and_shm_files_are_for_the_owner_only() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("data/udd.sqlite3");
    let db = Database::open(&file.to_string_lossy(), 2)?;
    db.migrate()?;
    let mode = |path: &Path| -> anyhow::Result<u32> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    };
    assert_eq!(mode(&dir.path().join("data"))?, 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&path)?, 0o600, "{}", path.display());
    }
    Ok(())
}

/// A database in a temporary folder brought to the release before the first migration
/// whose name holds `name`: every migration before it, run one by one.
fn database_before(name: &str) -> anyhow::Result<(tempfile::TempDir, Database)> {
    use diesel::migration::MigrationSource;
    use diesel::sqlite::Sqlite;
    let dir = tempfile::tempdir()?;
    let db = Database::open(&dir.path().join("udd.sqlite3").to_string_lossy(), 2)?;
    let mut conn = db.conn()?;
    diesel::migration::MigrationConnection::setup(&mut *conn)?;
    let migrations =
        MigrationSource::<Sqlite>::migrations(&MIGRATIONS).map_err(|e| anyhow::anyhow!("{e}"))?;
    for migration in &migrations {
        if migration.name().to_string().contains(name) {
            break;
        }
        conn.run_migration(migration)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    drop(conn);
    Ok((dir, db))
}

#[test]
fn replies_of_an_older_database_get_their_parents_time() -> anyhow::Result<()> {
    use diesel::prelude::*;
    use diesel::sql_query;
    let (_dir, db) = database_before("replies_by_parent_time")?;
    let mut conn = db.conn()?;
    sql_query(
        "INSERT INTO messages (id, room_id, ts, thread_id, updated_at) VALUES \
         ('p', 'R', 10, NULL, 0), ('r1', 'R', 20, 'p', 0), ('r2', 'R', 30, 'gone', 0)",
    )
    .execute(&mut conn)?;
    drop(conn);

    assert!(db.migrate()? >= 1);
    let placed: Vec<(String, Option<i64>)> = schema::messages::table
        .filter(schema::messages::thread_id.is_not_null())
        .select((schema::messages::id, schema::messages::thread_ts))
        .order(schema::messages::id)
        .load(&mut db.conn()?)?;
    assert_eq!(
        placed,
        [("r1".to_owned(), Some(10)), ("r2".to_owned(), None)]
    );
    Ok(())
}

#[test]
fn archive_paths_of_an_older_database_become_keys() -> anyhow::Result<()> {
    use diesel::{sql_query, RunQueryDsl};
    use udd_ports::{ExportOperations, UserDataFiles};
    let (_dir, db) = database_before("archive_keys")?;
    let mut conn = db.conn()?;
    sql_query(
        "INSERT INTO export_operations (id, user_id, full_export, status, export_path, \
         assets_path, generated_file, file_id, created_at, updated_at, attempts) VALUES \
         ('OP1', 'u1', 0, 'completed', '/srv/data/userData/OP1', \
          '/srv/data/userData/OP1/assets', '/srv/data/zipFiles/OP1.zip', 'F1', 0, 0, 1)",
    )
    .execute(&mut conn)?;
    sql_query(
        "INSERT INTO user_data_files (id, user_id, name, size, sha256, path, created_at) \
         VALUES ('F1', 'u1', 'a.zip', 1, '00', '/srv/data/zipFiles/OP1.zip', 0)",
    )
    .execute(&mut conn)?;
    drop(conn);

    assert!(db.migrate()? >= 1);
    let op = SqliteExportOperations::new(db.clone()).get(&"OP1".into())?;
    assert_eq!(op.archive_key.as_deref(), Some("exports/OP1.zip"));
    let file = SqliteUserDataFiles::new(db).get(&"F1".into())?;
    assert_eq!(file.key, "exports/OP1.zip");
    Ok(())
}

/// A message row fills every column of the table, in the table's order (which
/// PostgreSQL's `COPY` of whole rows relies on).
#[test]
fn a_message_row_names_every_column_of_the_table_in_order() -> anyhow::Result<()> {
    use diesel::sql_types::Text;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let (_dir, db) = testing::database();
    let table: Vec<String> =
        sql_query("SELECT name FROM pragma_table_info('messages') ORDER BY cid")
            .load::<Column>(&mut db.conn()?)?
            .into_iter()
            .map(|c| c.name)
            .collect();
    let message = udd_domain::Message::new("m", "r", chrono::DateTime::UNIX_EPOCH);
    let row = message_rows::MessageRow::from(&message);
    assert_eq!(row.columns().collect::<Vec<_>>(), table);
    Ok(())
}

/// Batch lookups read in a transaction, which keeps the write-ahead log from being
/// checkpointed past where it began; a batch after its renewal period ends it.
#[test]
fn batch_lookups_hold_the_log_back_no_longer_than_their_renewal() -> anyhow::Result<()> {
    use chrono::DateTime;
    use diesel::sql_types::BigInt;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    use udd_ports::{WorkspaceReader, WorkspaceWriter};
    #[derive(QueryableByName)]
    struct Checkpoint {
        #[diesel(sql_type = BigInt)]
        log: i64,
        #[diesel(sql_type = BigInt)]
        checkpointed: i64,
    }
    let all_copied = |db: &Database| -> anyhow::Result<bool> {
        let done: Checkpoint =
            sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(&mut db.conn()?)?;
        Ok(done.checkpointed == done.log)
    };
    let (_dir, db) = testing::database();
    let ws = SqliteWorkspace::new(db.clone());
    let message = |id: &str| udd_domain::Message::new(id, "R", DateTime::UNIX_EPOCH);
    ws.upsert_messages(&[message("p")])?;
    let mut lookups = ws.batch_lookups()?;
    let parents = [udd_domain::MessageCursor {
        ts: DateTime::UNIX_EPOCH,
        id: "p".into(),
    }];
    lookups.threads_started(&"R".into(), DateTime::UNIX_EPOCH, &parents)?;
    ws.upsert_messages(&[message("later")])?;
    assert!(!all_copied(&db)?, "the lookups' view holds the log back");
    std::thread::sleep(lookups::PINNED_FOR);
    lookups.batch_done()?;
    assert!(
        all_copied(&db)?,
        "a batch after the renewal period lets it go"
    );
    Ok(())
}

#[test]
fn a_new_file_gets_large_pages_and_an_old_one_keeps_its_own() -> anyhow::Result<()> {
    use diesel::sql_types::BigInt;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = BigInt)]
        page_size: i64,
    }
    let page_size = |db: &Database| -> anyhow::Result<i64> {
        let size: Size = sql_query("PRAGMA page_size").get_result(&mut db.conn()?)?;
        Ok(size.page_size)
    };
    let (_dir, db) = testing::database();
    assert_eq!(page_size(&db)?, i64::from(PAGE_SIZE));

    // A file made with SQLite's default pages, holding a table, opened by udd.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("old.sqlite3");
    let path = path.to_str().context("a UTF-8 path")?;
    let mut old = <SqliteConnection as diesel::Connection>::establish(path)?;
    old.batch_execute("CREATE TABLE kept (id INTEGER PRIMARY KEY); INSERT INTO kept VALUES (7);")?;
    drop(old);
    let db = Database::open(path, 2)?;
    assert_eq!(page_size(&db)?, 4096);
    Ok(())
}

#[test]
fn connections_use_wal_and_enforce_foreign_keys() -> anyhow::Result<()> {
    use diesel::sql_types::{BigInt, Text};
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = BigInt)]
        foreign_keys: i64,
    }
    let (_dir, db) = testing::database();
    let mut conn = db.conn()?;
    let mode: Mode = sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
    let fk: Fk = sql_query("PRAGMA foreign_keys").get_result(&mut conn)?;
    assert_eq!(mode.journal_mode, "wal");
    assert_eq!(fk.foreign_keys, 1);
    Ok(())
}
