//! A content fingerprint of the workspace tables: equal fingerprints mean equal data.
//! Used to prove that demo generation and import are deterministic and idempotent.

use anyhow::Context;
use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::Text;
use sha2::{Digest, Sha256};

use super::Database;

/// The workspace tables and their key, in a fixed order.
const TABLES: [(&str, &str); 9] = [
    ("users", "id"),
    ("user_emails", "user_id, position"),
    ("login_tokens", "hashed_token"),
    ("rooms", "id"),
    ("subscriptions", "id"),
    ("messages", "id"),
    ("uploads", "id"),
    ("avatars", "id"),
    ("user_data_files", "id"),
];

/// Salted hashes differ on every run by design; they are left out.
const LEFT_OUT: [&str; 1] = ["password_bcrypt"];

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// One table's row count and SHA-256 over its rows in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFingerprint {
    /// The table.
    pub table: &'static str,
    /// Its rows.
    pub rows: u64,
    /// Lowercase hex SHA-256 of every row, in key order.
    pub sha256: String,
}

impl Database {
    /// Fingerprints every workspace table, streaming its rows (SQLite-specific SQL).
    pub fn fingerprint(&self) -> anyhow::Result<Vec<TableFingerprint>> {
        let mut conn = self.conn()?;
        TABLES
            .iter()
            .map(|(table, key)| {
                let columns: Vec<String> = sql_query(format!(
                    "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
                ))
                .load::<Name>(&mut conn)
                .with_context(|| format!("listing the columns of {table}"))?
                .into_iter()
                .map(|c| c.name)
                .filter(|c| !LEFT_OUT.contains(&c.as_str()))
                .collect();
                let row = columns
                    .iter()
                    .map(|c| format!("quote({c})"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                let query = sql_query(format!("SELECT {row} AS line FROM {table} ORDER BY {key}"));
                let mut hasher = Sha256::new();
                let mut rows = 0_u64;
                for line in query
                    .load_iter::<Line, DefaultLoadingMode>(&mut conn)
                    .with_context(|| format!("reading {table}"))?
                {
                    hasher.update(
                        line.with_context(|| format!("reading {table}"))?
                            .line
                            .as_bytes(),
                    );
                    hasher.update(b"\n");
                    rows += 1;
                }
                Ok(TableFingerprint {
                    table,
                    rows,
                    sha256: hex::encode(hasher.finalize()),
                })
            })
            .collect()
    }
}
