//! Messages as rows of the `messages` table, and the statement that writes many at once.
//!
//! [`MessageRow`] is the one place that says which field of a [`Message`] goes to which
//! column (a column added to the table is added there, and nowhere else). [`UpsertMessages`] writes a fixed number of rows per statement and has a
//! static query id, so the connection prepares it once and binds it again for every
//! chunk of a load; diesel's own multi-row upsert is built and prepared anew each time
//! (a statement of thousands of parameters, parsed and planned per chunk).

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};
use diesel::QueryResult;
use udd_domain::time::to_millis;
use udd_domain::Message;

/// A column's value.
#[derive(Debug)]
pub(super) enum Cell<'a> {
    Text(&'a str),
    OptionalText(Option<&'a str>),
    /// Text made for the row (JSON).
    OwnedText(Option<String>),
    Integer(i64),
    OptionalInteger(Option<i64>),
}

/// The columns a row fills.
const COLUMN_COUNT: usize = 15;

/// One message as a row of `messages`: every column, in the table's order, with its
/// value.
#[derive(Debug)]
pub(super) struct MessageRow<'a> {
    cells: [(&'static str, Cell<'a>); COLUMN_COUNT],
}

impl<'a> From<&'a Message> for MessageRow<'a> {
    fn from(m: &'a Message) -> Self {
        use Cell::{Integer, OptionalInteger, OptionalText, OwnedText, Text};
        Self {
            cells: [
                ("id", Text(&m.id)),
                ("room_id", Text(m.room_id.as_str())),
                ("ts", Integer(to_millis(m.ts))),
                ("user_id", OptionalText(m.user_id.as_deref())),
                ("username", OptionalText(m.username.as_deref())),
                ("msg", Text(&m.msg)),
                ("message_type", OptionalText(m.message_type.as_deref())),
                ("thread_id", OptionalText(m.thread_id.as_deref())),
                ("file_id", OptionalText(m.file_id.as_deref())),
                (
                    "attachments",
                    OwnedText(m.attachments.as_ref().map(ToString::to_string)),
                ),
                ("updated_at", Integer(to_millis(m.updated_at))),
                ("edited_at", OptionalInteger(m.edited_at.map(to_millis))),
                ("edited_by", OptionalText(m.edited_by.as_deref())),
                (
                    "reactions",
                    OwnedText((!m.reactions.is_empty()).then(|| super::to_json(&m.reactions))),
                ),
                // The parent's time: not the message's to say (see `replies`).
                ("thread_ts", OptionalInteger(None)),
            ],
        }
    }
}

impl<'a> MessageRow<'a> {
    /// The row with its parent's time (`thread_ts`) set to `ts`.
    pub(super) fn with_parent_time(mut self, ts: Option<i64>) -> Self {
        for (column, value) in &mut self.cells {
            if *column == "thread_ts" {
                *value = Cell::OptionalInteger(ts);
            }
        }
        self
    }

    /// The columns, in the table's order.
    pub(super) fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.cells.iter().map(|(column, _)| *column)
    }

    /// The values, in the order of [`columns`](Self::columns).
    pub(super) fn values(&self) -> impl Iterator<Item = &Cell<'a>> {
        self.cells.iter().map(|(_, value)| value)
    }

    /// Binds the row's values as `(?, ?, …)`.
    fn bind<'b, DB>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Text> + HasSqlType<BigInt>,
        str: ToSql<Text, DB>,
        String: ToSql<Text, DB>,
        i64: ToSql<BigInt, DB>,
    {
        out.push_sql("(");
        for (i, value) in self.values().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            match value {
                Cell::Text(text) => out.push_bind_param::<Text, _>(*text)?,
                Cell::OptionalText(text) => out.push_bind_param::<Nullable<Text>, _>(text)?,
                Cell::OwnedText(text) => out.push_bind_param::<Nullable<Text>, _>(text)?,
                Cell::Integer(n) => out.push_bind_param::<BigInt, _>(n)?,
                Cell::OptionalInteger(n) => out.push_bind_param::<Nullable<BigInt>, _>(n)?,
            }
        }
        out.push_sql(")");
        Ok(())
    }
}

/// Which unique key a written row replaces the stored one by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    /// The message id: every load but a bulk one.
    Id,
    /// The primary key: while a bulk load has put the index on the id off.
    Primary,
}

/// `INSERT INTO messages … VALUES (…), … ON CONFLICT (<key>) DO UPDATE SET <every
/// other column> = excluded.<column>`, for exactly `N` rows.
pub(super) struct UpsertMessages<'a, const N: usize, const BY_ID: bool> {
    rows: &'a [MessageRow<'a>; N],
}

/// The query id of [`UpsertMessages`]: one prepared statement per size and key.
pub(super) struct UpsertMessagesId<const N: usize, const BY_ID: bool>;

impl<'a, const N: usize, const BY_ID: bool> UpsertMessages<'a, N, BY_ID> {
    pub(super) fn new(rows: &'a [MessageRow<'a>; N]) -> Self {
        Self { rows }
    }
}

impl<const N: usize, const BY_ID: bool> QueryId for UpsertMessages<'_, N, BY_ID> {
    type QueryId = UpsertMessagesId<N, BY_ID>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB, const N: usize, const BY_ID: bool> QueryFragment<DB> for UpsertMessages<'_, N, BY_ID>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let Some(first) = self.rows.first() else {
            return Err(diesel::result::Error::QueryBuilderError("no rows".into()));
        };
        let columns: Vec<&str> = first.columns().collect();
        out.push_sql("INSERT INTO messages (");
        out.push_sql(&columns.join(", "));
        out.push_sql(") VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            row.bind(&mut out)?;
        }
        let key: &[&str] = if BY_ID {
            &["id"]
        } else {
            &["room_id", "ts", "id"]
        };
        out.push_sql(" ON CONFLICT (");
        out.push_sql(&key.join(", "));
        out.push_sql(") DO UPDATE SET ");
        let set: Vec<String> = columns
            .iter()
            .filter(|column| !key.contains(column))
            .map(|column| format!("{column} = excluded.{column}"))
            .collect();
        out.push_sql(&set.join(", "));
        Ok(())
    }
}

/// Rows per statement of a bulk write; the rest of a batch goes one row at a time
/// (each size is a statement of its own, prepared once).
pub(super) const ROWS_PER_UPSERT: usize = 100;

impl<Conn, const N: usize, const BY_ID: bool> diesel::RunQueryDsl<Conn>
    for UpsertMessages<'_, N, BY_ID>
{
}

/// Writes `rows` with statements of [`ROWS_PER_UPSERT`] rows, and one-row statements
/// for what is left, replacing stored rows by `key`.
pub(super) fn upsert<C>(conn: &mut C, rows: &[MessageRow<'_>], key: Key) -> QueryResult<()>
where
    C: diesel::Connection,
    C::Backend: HasSqlType<Text> + HasSqlType<BigInt>,
    str: ToSql<Text, C::Backend>,
    String: ToSql<Text, C::Backend>,
    i64: ToSql<BigInt, C::Backend>,
{
    use diesel::RunQueryDsl;
    let mut chunks = rows.chunks_exact(ROWS_PER_UPSERT);
    for chunk in chunks.by_ref() {
        let chunk: &[MessageRow<'_>; ROWS_PER_UPSERT] = chunk.try_into().map_err(|_| {
            diesel::result::Error::QueryBuilderError("a chunk of the wrong size".into())
        })?;
        match key {
            Key::Id => UpsertMessages::<ROWS_PER_UPSERT, true>::new(chunk).execute(conn)?,
            Key::Primary => UpsertMessages::<ROWS_PER_UPSERT, false>::new(chunk).execute(conn)?,
        };
    }
    for row in chunks.remainder() {
        let one = std::array::from_ref(row);
        match key {
            Key::Id => UpsertMessages::<1, true>::new(one).execute(conn)?,
            Key::Primary => UpsertMessages::<1, false>::new(one).execute(conn)?,
        };
    }
    Ok(())
}
