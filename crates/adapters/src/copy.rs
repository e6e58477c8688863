//! `udd db copy`: every record of an SQLite installation into an empty PostgreSQL
//! database, table by table in the order foreign keys need, in one PostgreSQL
//! transaction, checked by counting. Rows travel as JSON (SQLite's `json_object`, then
//! PostgreSQL's `json_populate_recordset` into the table's own row type), so one loop
//! serves every table and each column is matched by name.

use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::postgres::PgDatabase;
use crate::sqlite::Database;

/// The tables copied, parents before children. `worker_instances` is not: it describes
/// processes of the old installation.
pub const TABLES: &[&str] = &[
    "users",
    "user_emails",
    "user_second_factors",
    "login_tokens",
    "rooms",
    "subscriptions",
    "messages",
    "uploads",
    "avatars",
    "export_operations",
    "export_rooms",
    "export_pseudonyms",
    "export_files",
    "user_data_files",
    "export_notices",
    "downloads",
    "login_failures",
];

const CHUNK: i64 = 2000;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct Json {
    #[diesel(sql_type = Text)]
    rows: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

macro_rules! count {
    ($conn:expr, $table:expr) => {{
        let rows: Vec<Count> = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {}", $table))
            .load($conn)
            .with_context(|| format!("counting {}", $table))?;
        rows.first().map_or(0, |c| c.n)
    }};
}

/// Copies every table of `from` into `to`, which must be migrated and hold no records;
/// returns each table with its row count, equal on both sides.
///
/// Errors: a target that holds records; a failing read or write (nothing is kept of a
/// copy that failed: it runs in one transaction); counts that differ.
pub fn sqlite_to_postgres(from: &Database, to: &PgDatabase) -> anyhow::Result<Vec<(String, u64)>> {
    let mut source = from.conn()?;
    let mut target = to.conn()?;
    for table in TABLES {
        anyhow::ensure!(
            count!(&mut *target, table) == 0,
            "the PostgreSQL database is not empty: `{table}` holds records; copy into a new database"
        );
    }
    let mut copied = Vec::new();
    target.transaction(|target| -> anyhow::Result<()> {
        for table in TABLES {
            let columns: Vec<Column> = diesel::sql_query(format!(
                "SELECT name, pk FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .load(&mut *source)
            .with_context(|| format!("reading the columns of {table}"))?;
            let object = columns
                .iter()
                .map(|c| format!("'{0}', \"{0}\"", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let mut keys: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
            keys.sort_by_key(|c| c.pk);
            let order = keys
                .iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let mut offset = 0;
            loop {
                let chunk: Vec<Json> = diesel::sql_query(format!(
                    "SELECT COALESCE(json_group_array(json_object({object})), '[]') AS rows \
                     FROM (SELECT * FROM {table} ORDER BY {order} LIMIT {CHUNK} OFFSET {offset})"
                ))
                .load(&mut *source)
                .with_context(|| format!("reading {table}"))?;
                let rows = chunk.first().map_or("[]", |j| j.rows.as_str());
                if rows == "[]" {
                    break;
                }
                diesel::sql_query(format!(
                    "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
                ))
                .bind::<Text, _>(rows)
                .execute(&mut *target)
                .with_context(|| format!("writing {table}"))?;
                offset += CHUNK;
            }
            let (here, there) = (count!(&mut *source, table), count!(&mut *target, table));
            anyhow::ensure!(here == there, "{table}: {here} rows in SQLite, {there} copied");
            copied.push(((*table).to_owned(), u64::try_from(here).unwrap_or(0)));
        }
        // The download log's identity column continues after the copied ids.
        diesel::sql_query(
            "SELECT setval(pg_get_serial_sequence('downloads', 'id'), \
             GREATEST(COALESCE(MAX(id), 1), 1), MAX(id) IS NOT NULL) FROM downloads",
        )
        .execute(&mut *target)
        .context("moving the download log's id sequence on")?;
        Ok(())
    })?;
    Ok(copied)
}
