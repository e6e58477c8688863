//! The download log read back for an audit, and its age limit.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_ports::{AuditEntry, AuditQuery, DownloadAudit, StoreError};

use super::schema::{downloads, user_data_files, users};
use super::Database;

/// The download audit in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteDownloadAudit {
    db: Database,
}

impl SqliteDownloadAudit {
    /// The log kept in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

type Row = (i64, String, String, i64, Option<String>, bool);

impl DownloadAudit for SqliteDownloadAudit {
    fn downloads(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conn = self.db.conn()?;
        let mut select = downloads::table.into_boxed();
        if let Some(user) = &query.user_id {
            select = select.filter(downloads::user_id.eq(user.as_str()));
        }
        if let Some(file) = &query.file_id {
            select = select.filter(downloads::file_id.eq(file.as_str()));
        }
        if let Some(since) = query.since {
            select = select.filter(downloads::at.ge(to_millis(since)));
        }
        if let Some(until) = query.until {
            select = select.filter(downloads::at.lt(to_millis(until)));
        }
        let rows: Vec<Row> = select
            .order((downloads::at, downloads::id))
            .select((
                downloads::at,
                downloads::user_id,
                downloads::file_id,
                downloads::bytes,
                downloads::client_address,
                downloads::by_link,
            ))
            .load(&mut conn)
            .context("reading the download log")?;
        // Names by lookup rather than a join: the log outlives users and file records.
        let mut entries = Vec::with_capacity(rows.len());
        for (at, user_id, file_id, bytes, client_address, by_link) in rows {
            let username = users::table
                .find(&user_id)
                .select(users::username)
                .first::<String>(&mut conn)
                .optional()
                .context("looking up a downloader")?;
            let file_name = user_data_files::table
                .find(&file_id)
                .select(user_data_files::name)
                .first::<String>(&mut conn)
                .optional()
                .context("looking up a downloaded file")?;
            entries.push(AuditEntry {
                at: from_millis(at),
                user_id: user_id.into(),
                username,
                file_id: file_id.into(),
                file_name,
                bytes: u64::try_from(bytes).unwrap_or(0),
                client_address,
                by_link,
            });
        }
        Ok(entries)
    }

    fn remove_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        let removed = diesel::delete(downloads::table.filter(downloads::at.lt(to_millis(before))))
            .execute(&mut conn)
            .context("deleting old download records")?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
