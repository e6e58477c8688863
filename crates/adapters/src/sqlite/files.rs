//! User data files: the finished zips.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::FileId;
use udd_ports::{StoreError, UserDataFile, UserDataFiles};

use super::schema::user_data_files;
use super::{store_error, Database, DbConnection};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_data_files)]
struct FileRow {
    id: String,
    user_id: String,
    name: String,
    size: i64,
    sha256: String,
    archive_key: String,
    created_at: i64,
    expires_at: Option<i64>,
    removed_at: Option<i64>,
}

impl FileRow {
    fn into_domain(self) -> UserDataFile {
        UserDataFile {
            id: self.id.into(),
            user_id: self.user_id.into(),
            name: self.name,
            size: u64::try_from(self.size).unwrap_or(0),
            sha256: self.sha256,
            key: self.archive_key,
            created_at: from_millis(self.created_at),
            expires_at: self.expires_at.map(from_millis),
            removed_at: self.removed_at.map(from_millis),
        }
    }
}

/// User data files in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteUserDataFiles {
    db: Database,
}

impl SqliteUserDataFiles {
    /// Files recorded in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Inserts a user data file record; shared by the completion of an export.
pub(super) fn insert_file(conn: &mut DbConnection, file: &UserDataFile) -> QueryResult<usize> {
    let row = FileRow {
        id: file.id.to_string(),
        user_id: file.user_id.to_string(),
        name: file.name.clone(),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        sha256: file.sha256.clone(),
        archive_key: file.key.clone(),
        created_at: to_millis(file.created_at),
        expires_at: file.expires_at.map(to_millis),
        removed_at: file.removed_at.map(to_millis),
    };
    diesel::insert_into(user_data_files::table)
        .values(&row)
        .execute(conn)
}

/// The file with this id, if recorded.
pub(super) fn load_file(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserDataFile>> {
    // `load`, not `first`: one row without `LIMIT ?` (see `sqlite/mod.rs`). The key is unique.
    Ok(user_data_files::table
        .find(id)
        .select(FileRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(FileRow::into_domain))
}

/// Every file record of a user, oldest first.
pub(super) fn files_of_user(
    conn: &mut DbConnection,
    user_id: &str,
) -> QueryResult<Vec<UserDataFile>> {
    Ok(user_data_files::table
        .filter(user_data_files::user_id.eq(user_id))
        .order((user_data_files::created_at, user_data_files::id))
        .select(FileRow::as_select())
        .load(conn)?
        .into_iter()
        .map(FileRow::into_domain)
        .collect())
}

#[cfg(test)]
impl SqliteUserDataFiles {
    /// Test-only: records a file outside an export.
    fn insert(&self, file: &UserDataFile) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        insert_file(&mut conn, file).map_err(|e| store_error(e, "recording a user data file"))?;
        Ok(())
    }
}

impl UserDataFiles for SqliteUserDataFiles {
    fn get(&self, id: &FileId) -> Result<UserDataFile, StoreError> {
        let mut conn = self.db.conn()?;
        load_file(&mut conn, id)
            .map_err(|e| store_error(e, "loading a user data file"))?
            .ok_or(StoreError::NotFound)
    }

    fn expired(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UserDataFile>, StoreError> {
        let mut conn = self.db.conn()?;
        let rows = user_data_files::table
            .filter(user_data_files::removed_at.is_null())
            .filter(user_data_files::expires_at.le(to_millis(now)))
            .order((user_data_files::expires_at, user_data_files::id))
            .limit(i64::from(limit))
            .select(FileRow::as_select())
            .load(&mut conn)
            .map_err(|e| store_error(e, "finding expired user data files"))?;
        Ok(rows.into_iter().map(FileRow::into_domain).collect())
    }

    fn mark_removed(&self, id: &FileId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let changed = diesel::update(user_data_files::table.find(id.as_str()))
            .set(user_data_files::removed_at.eq(to_millis(at)))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "marking a user data file removed"))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use chrono::DateTime;

    #[test]
    fn a_recorded_file_reads_back_and_its_id_is_unique() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let files = SqliteUserDataFiles::new(db);
        let file = UserDataFile {
            id: "F1".into(),
            user_id: "u1".into(),
            name: "2026-11-27-Alice-data.zip".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            key: "exports/F1.zip".into(),
            created_at: DateTime::UNIX_EPOCH,
            expires_at: Some(DateTime::UNIX_EPOCH + chrono::Duration::days(7)),
            removed_at: None,
        };
        files.insert(&file)?;
        assert_eq!(files.get(&"F1".into())?, file);
        assert!(matches!(
            files.insert(&file),
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(matches!(files.get(&"F2".into()), Err(StoreError::NotFound)));
        Ok(())
    }

    #[test]
    fn expired_files_are_listed_until_marked_removed() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let files = SqliteUserDataFiles::new(db);
        let day = |n: i64| DateTime::UNIX_EPOCH + chrono::Duration::days(n);
        for (id, expires) in [("OLD", Some(day(2))), ("NEW", Some(day(9))), ("KEEP", None)] {
            files.insert(&UserDataFile {
                id: id.into(),
                user_id: "u1".into(),
                name: format!("{id}.zip"),
                size: 1,
                sha256: "00".into(),
                key: format!("exports/{id}.zip"),
                created_at: day(0),
                expires_at: expires,
                removed_at: None,
            })?;
        }
        let ids = |list: Vec<UserDataFile>| list.into_iter().map(|f| f.id).collect::<Vec<_>>();
        assert_eq!(ids(files.expired(day(1), 10)?), Vec::<String>::new());
        assert_eq!(ids(files.expired(day(2), 10)?), ["OLD"]);
        assert_eq!(ids(files.expired(day(30), 10)?), ["OLD", "NEW"]);
        assert_eq!(ids(files.expired(day(30), 1)?), ["OLD"]);

        files.mark_removed(&"OLD".into(), day(3))?;
        assert_eq!(ids(files.expired(day(30), 10)?), ["NEW"]);
        let removed = files.get(&"OLD".into())?;
        assert_eq!(removed.removed_at, Some(day(3)));
        assert!(!removed.is_available(day(0)));
        assert!(matches!(
            files.mark_removed(&"NOPE".into(), day(3)),
            Err(StoreError::NotFound)
        ));
        Ok(())
    }
}
