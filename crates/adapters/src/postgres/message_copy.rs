//! A bulk load of messages on PostgreSQL: each batch goes in by `COPY messages FROM
//! STDIN` (text format), the rows written as [`MessageRow`] gives them. `COPY` cannot
//! replace a row: a batch holding a message already written under the same primary key
//! (a dump listing one twice) is rolled back to its savepoint and written by the
//! upserting statement instead.

use std::io::Write;

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use super::message_rows::{upsert, Cell, Key, MessageRow};
use super::schema::messages;

/// Writes `rows` into `messages` while its index on the id is put off (inside the
/// load's write transaction).
pub(super) fn bulk_write(conn: &mut PgConnection, rows: &[MessageRow<'_>]) -> QueryResult<()> {
    let copied = conn.transaction(|conn| {
        diesel::copy_from(messages::table)
            .from_raw_data(messages::table, |out: &mut dyn Write| {
                rows.iter()
                    .try_for_each(|row| write_line(out, row))
                    .map_err(|e| Error::SerializationError(Box::new(e)))
            })
            .with_format(CopyFormat::Text)
            .execute(conn)
    });
    match copied {
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            upsert(conn, rows, Key::Primary)
        }
        Err(other) => Err(other),
    }
}

/// One row in `COPY`'s text format: tab-separated, `\N` for null, with backslash,
/// tab and line breaks escaped.
fn write_line(out: &mut dyn Write, row: &MessageRow<'_>) -> std::io::Result<()> {
    for (i, value) in row.values().enumerate() {
        if i > 0 {
            out.write_all(b"\t")?;
        }
        match value {
            Cell::Text(text) | Cell::OptionalText(Some(text)) => escaped(out, text)?,
            Cell::OwnedText(Some(text)) => escaped(out, text)?,
            Cell::OptionalText(None) | Cell::OwnedText(None) | Cell::OptionalInteger(None) => {
                out.write_all(b"\\N")?
            }
            Cell::Integer(n) | Cell::OptionalInteger(Some(n)) => write!(out, "{n}")?,
        }
    }
    out.write_all(b"\n")
}

fn escaped(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        out.write_all(escape)?;
        start = i + 1;
    }
    out.write_all(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_domain::time::from_millis;
    use udd_domain::Message;

    #[test]
    fn a_row_is_one_line_with_its_breaks_tabs_and_backslashes_escaped() {
        let message = Message {
            id: "m1".into(),
            room_id: "R".into(),
            ts: from_millis(5),
            user_id: None,
            username: Some("a\tb".into()),
            msg: "line one\nline two\r\\n is not a break".into(),
            message_type: None,
            thread_id: Some("p0".into()),
            file_id: None,
            attachments: Some(serde_json::json!([{"title": "x\ny"}])),
            updated_at: from_millis(6),
            edited_at: Some(from_millis(7)),
            edited_by: None,
            reactions: vec![udd_domain::Reaction {
                emoji: ":+1:".into(),
                usernames: vec!["b\\".into()],
            }],
        };
        let mut out = Vec::new();
        let row = MessageRow::from(&message).with_parent_time(Some(3));
        write_line(&mut out, &row).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "m1\tR\t5\t\\N\ta\\tb\tline one\\nline two\\r\\\\n is not a break\t\\N\tp0\t\\N\t\
             [{\"title\":\"x\\\\ny\"}]\t6\t7\t\\N\t\
             [{\"emoji\":\":+1:\",\"usernames\":[\"b\\\\\\\\\"]}]\t3\n"
        );
    }
}
