//! User data files: the finished zips.

use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_ports::{StoreError, UserDataFile, UserDataFiles};

use super::schema::user_data_files;
use super::{store_error, Database};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_data_files)]
struct FileRow {
    id: String,
    user_id: String,
    name: String,
    size: i64,
    sha256: String,
    path: String,
    created_at: i64,
    expires_at: Option<i64>,
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
pub(super) fn insert_file(conn: &mut SqliteConnection, file: &UserDataFile) -> QueryResult<usize> {
    let row = FileRow {
        id: file.id.clone(),
        user_id: file.user_id.clone(),
        name: file.name.clone(),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        sha256: file.sha256.clone(),
        path: file.path.clone(),
        created_at: to_millis(file.created_at),
        expires_at: file.expires_at.map(to_millis),
    };
    diesel::insert_into(user_data_files::table)
        .values(&row)
        .execute(conn)
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
    fn get(&self, id: &str) -> Result<UserDataFile, StoreError> {
        let mut conn = self.db.conn()?;
        let row = user_data_files::table
            .find(id)
            .select(FileRow::as_select())
            .first(&mut conn)
            .map_err(|e| store_error(e, "loading a user data file"))?;
        Ok(UserDataFile {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            size: u64::try_from(row.size).unwrap_or(0),
            sha256: row.sha256,
            path: row.path,
            created_at: from_millis(row.created_at),
            expires_at: row.expires_at.map(from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::testing;
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
            path: "/zips/F1.zip".into(),
            created_at: DateTime::UNIX_EPOCH,
            expires_at: Some(DateTime::UNIX_EPOCH + chrono::Duration::days(7)),
        };
        files.insert(&file)?;
        assert_eq!(files.get("F1")?, file);
        assert!(matches!(files.insert(&file), Err(StoreError::Conflict(_))));
        assert!(matches!(files.get("F2"), Err(StoreError::NotFound)));
        Ok(())
    }
}
