//! The chat workspace: users with emails and tokens, rooms, subscriptions, messages,
//! uploads and avatars, written in batches by import and demo.

use diesel::prelude::*;
use diesel::upsert::excluded;
use udd_domain::time::to_millis;
use udd_domain::{Avatar, Message, Room, Subscription, Upload};
use udd_ports::{StoreError, WorkspaceUser, WorkspaceWriter};

use super::schema::{
    avatars, login_tokens, messages, rooms, subscriptions, uploads, user_emails, users,
};
use super::{to_json, Database};

/// Rows per INSERT statement: SQLite allows 32,766 bound values per statement and the
/// widest table has 11 columns.
const ROWS_PER_STATEMENT: usize = 500;

/// The workspace tables in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteWorkspace {
    db: Database,
}

impl SqliteWorkspace {
    /// The workspace stored in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn db(&self) -> &Database {
        &self.db
    }

    /// Runs `write` in one immediate transaction.
    fn write(
        &self,
        what: &str,
        write: impl FnOnce(&mut SqliteConnection) -> QueryResult<()>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        conn.immediate_transaction(write).map_err(|e| {
            StoreError::Unexpected(anyhow::Error::new(e).context(format!("writing {what}")))
        })
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WorkspaceWriter for SqliteWorkspace {
    fn upsert_users(&self, batch: &[WorkspaceUser]) -> Result<(), StoreError> {
        self.write("users", |conn| {
            for item in batch {
                let user = &item.user;
                let row = (
                    users::id.eq(&user.id),
                    users::username.eq(&user.username),
                    users::name.eq(&user.name),
                    users::status_text.eq(&user.status_text),
                    users::roles.eq(to_json(&user.roles)),
                    users::services.eq(to_json(&user.services)),
                    users::password_bcrypt.eq(&item.password_bcrypt),
                    users::active.eq(user.active),
                    users::created_at.eq(to_millis(user.created_at)),
                    users::updated_at.eq(to_millis(item.updated_at)),
                );
                diesel::insert_into(users::table)
                    .values(row.clone())
                    .on_conflict(users::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
                diesel::delete(user_emails::table.filter(user_emails::user_id.eq(&user.id)))
                    .execute(conn)?;
                for (position, email) in (0..).zip(&user.emails) {
                    diesel::insert_into(user_emails::table)
                        .values((
                            user_emails::user_id.eq(&user.id),
                            user_emails::position.eq(position),
                            user_emails::address.eq(&email.address),
                            user_emails::address_lower.eq(email.address.to_lowercase()),
                            user_emails::verified.eq(email.verified),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)?;
                }
                // The dump's set replaces the imported tokens: one it no longer lists
                // was revoked in Rocket.Chat and must stop working here too.
                diesel::delete(
                    login_tokens::table
                        .filter(login_tokens::user_id.eq(&user.id))
                        .filter(login_tokens::imported.eq(true)),
                )
                .execute(conn)?;
                for (hashed, when) in &item.login_tokens {
                    diesel::insert_into(login_tokens::table)
                        .values((
                            login_tokens::hashed_token.eq(hashed),
                            login_tokens::user_id.eq(&user.id),
                            login_tokens::created_at.eq(to_millis(*when)),
                            login_tokens::imported.eq(true),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)?;
                }
            }
            Ok(())
        })
    }

    fn upsert_rooms(&self, batch: &[Room]) -> Result<(), StoreError> {
        self.write("rooms", |conn| {
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        (
                            rooms::id.eq(&r.id),
                            rooms::room_type.eq(r.room_type.code()),
                            rooms::name.eq(&r.name),
                            rooms::fname.eq(&r.fname),
                            rooms::member_ids
                                .eq((!r.member_ids.is_empty()).then(|| to_json(&r.member_ids))),
                            rooms::team_main.eq(r.team_main),
                            rooms::created_at.eq(to_millis(r.created_at)),
                            rooms::updated_at.eq(to_millis(r.updated_at)),
                        )
                    })
                    .collect();
                diesel::insert_into(rooms::table)
                    .values(rows)
                    .on_conflict(rooms::id)
                    .do_update()
                    .set((
                        rooms::room_type.eq(excluded(rooms::room_type)),
                        rooms::name.eq(excluded(rooms::name)),
                        rooms::fname.eq(excluded(rooms::fname)),
                        rooms::member_ids.eq(excluded(rooms::member_ids)),
                        rooms::team_main.eq(excluded(rooms::team_main)),
                        rooms::created_at.eq(excluded(rooms::created_at)),
                        rooms::updated_at.eq(excluded(rooms::updated_at)),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn upsert_subscriptions(&self, batch: &[Subscription]) -> Result<(), StoreError> {
        self.write("subscriptions", |conn| {
            for s in batch {
                // Unique by id and by (user, room): a re-created subscription replaces the old.
                diesel::delete(
                    subscriptions::table
                        .filter(subscriptions::user_id.eq(&s.user_id))
                        .filter(subscriptions::room_id.eq(&s.room_id))
                        .filter(subscriptions::id.ne(&s.id)),
                )
                .execute(conn)?;
                let row = (
                    subscriptions::id.eq(&s.id),
                    subscriptions::user_id.eq(&s.user_id),
                    subscriptions::room_id.eq(&s.room_id),
                    subscriptions::room_type.eq(s.room_type.code()),
                    subscriptions::name.eq(&s.name),
                    subscriptions::created_at.eq(to_millis(s.created_at)),
                    subscriptions::updated_at.eq(to_millis(s.updated_at)),
                );
                diesel::insert_into(subscriptions::table)
                    .values(row)
                    .on_conflict(subscriptions::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn upsert_messages(&self, batch: &[Message]) -> Result<(), StoreError> {
        self.write("messages", |conn| {
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|m| {
                        (
                            messages::id.eq(&m.id),
                            messages::room_id.eq(&m.room_id),
                            messages::ts.eq(to_millis(m.ts)),
                            messages::user_id.eq(&m.user_id),
                            messages::username.eq(&m.username),
                            messages::msg.eq(&m.msg),
                            messages::message_type.eq(&m.message_type),
                            messages::thread_id.eq(&m.thread_id),
                            messages::file_id.eq(&m.file_id),
                            messages::attachments
                                .eq(m.attachments.as_ref().map(ToString::to_string)),
                            messages::updated_at.eq(to_millis(m.updated_at)),
                        )
                    })
                    .collect();
                diesel::insert_into(messages::table)
                    .values(rows)
                    .on_conflict(messages::id)
                    .do_update()
                    .set((
                        messages::room_id.eq(excluded(messages::room_id)),
                        messages::ts.eq(excluded(messages::ts)),
                        messages::user_id.eq(excluded(messages::user_id)),
                        messages::username.eq(excluded(messages::username)),
                        messages::msg.eq(excluded(messages::msg)),
                        messages::message_type.eq(excluded(messages::message_type)),
                        messages::thread_id.eq(excluded(messages::thread_id)),
                        messages::file_id.eq(excluded(messages::file_id)),
                        messages::attachments.eq(excluded(messages::attachments)),
                        messages::updated_at.eq(excluded(messages::updated_at)),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn upsert_uploads(&self, batch: &[Upload]) -> Result<(), StoreError> {
        self.write("uploads", |conn| {
            for u in batch {
                let row = (
                    uploads::id.eq(&u.id),
                    uploads::room_id.eq(&u.room_id),
                    uploads::user_id.eq(&u.user_id),
                    uploads::name.eq(&u.name),
                    uploads::content_type.eq(&u.content_type),
                    uploads::size.eq(count(u.size)),
                    uploads::blob_path.eq(&u.blob),
                    uploads::uploaded_at.eq(to_millis(u.uploaded_at)),
                    uploads::updated_at.eq(to_millis(u.updated_at)),
                );
                diesel::insert_into(uploads::table)
                    .values(row)
                    .on_conflict(uploads::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn upsert_avatars(&self, batch: &[Avatar]) -> Result<(), StoreError> {
        self.write("avatars", |conn| {
            for a in batch {
                let row = (
                    avatars::id.eq(&a.id),
                    avatars::username.eq(&a.username),
                    avatars::user_id.eq(&a.user_id),
                    avatars::content_type.eq(&a.content_type),
                    avatars::size.eq(count(a.size)),
                    avatars::blob_path.eq(&a.blob),
                    avatars::uploaded_at.eq(to_millis(a.uploaded_at)),
                    avatars::updated_at.eq(to_millis(a.updated_at)),
                );
                diesel::insert_into(avatars::table)
                    .values(row)
                    .on_conflict(avatars::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        let any: Option<String> = users::table
            .select(users::id)
            .first(&mut conn)
            .optional()
            .map_err(|e| super::store_error(e, "checking for users"))?;
        Ok(any.is_none())
    }
}
