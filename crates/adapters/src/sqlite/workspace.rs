//! The chat workspace: users with emails and tokens, rooms, subscriptions, messages,
//! uploads and avatars, written in batches by import and demo.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::upsert::excluded;
use std::collections::HashMap;
use udd_domain::time::to_millis;
use udd_domain::{Avatar, Message, Room, Subscription, Upload, User};

use chrono::{DateTime, Utc};
use udd_ports::{
    Collection, Deletion, Moved, MovedKind, Removed, StoreError, StoredVersion, WorkspaceUser,
    WorkspaceWriter,
};

use super::message_rows::Key;
use super::schema::{
    avatars, login_tokens, rooms, subscriptions, uploads, user_emails, user_second_factors, users,
};
use super::{to_json, Database, DbConnection};
use crate::dialect::Dialect;

/// Rows per INSERT statement: SQLite allows 32,766 bound values per statement and the
/// widest table has 14 columns.
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

    /// Runs `write` in one writing transaction, alone among the writers of users.
    fn write<T>(
        &self,
        what: &str,
        write: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.db.conn()?;
        conn.write_transaction(Some(super::USERS_LOCK), write)
            .map_err(|e| {
                StoreError::Unexpected(anyhow::Error::new(e).context(format!("writing {what}")))
            })
    }
}

/// What a user whose username was taken by another holds until their own document
/// is loaded: unique (it carries the id) and no valid Rocket.Chat username (`~`).
fn placeholder_username(user_id: &str) -> String {
    format!("~moved~{user_id}")
}

/// Frees `user`'s username and e-mail addresses from any other user holding them,
/// returning the moves: the order a database with unique usernames and addresses
/// allows, whichever order the dump lists the users in.
pub(super) fn take_over(conn: &mut DbConnection, user: &User) -> QueryResult<Vec<Moved>> {
    let mut moves = Vec::new();
    let holder: Option<String> = users::table
        .filter(users::username.eq(&user.username))
        .filter(users::id.ne(user.id.as_str()))
        .select(users::id)
        .first(conn)
        .optional()?;
    if let Some(holder) = holder {
        diesel::update(users::table.find(&holder))
            .set(users::username.eq(placeholder_username(&holder)))
            .execute(conn)?;
        moves.push(Moved {
            kind: MovedKind::Username,
            value: user.username.clone(),
            from_user: holder,
            to_user: user.id.to_string(),
        });
    }
    for email in &user.emails {
        let lower = email.address.to_lowercase();
        let holders: Vec<String> = user_emails::table
            .filter(user_emails::address_lower.eq(&lower))
            .filter(user_emails::user_id.ne(user.id.as_str()))
            .select(user_emails::user_id)
            .load(conn)?;
        for holder in holders {
            diesel::delete(
                user_emails::table
                    .filter(user_emails::address_lower.eq(&lower))
                    .filter(user_emails::user_id.eq(&holder)),
            )
            .execute(conn)?;
            moves.push(Moved {
                kind: MovedKind::Email,
                value: email.address.clone(),
                from_user: holder,
                to_user: user.id.to_string(),
            });
        }
    }
    Ok(moves)
}

/// The dump's second factors replace the imported ones; what udd keeps around them (the
/// last TOTP step, backup codes used here, an e-mailed code) stays.
fn write_second_factors(conn: &mut DbConnection, item: &WorkspaceUser) -> QueryResult<()> {
    let factors = &item.second_factors;
    let secret = factors
        .totp
        .as_ref()
        .map(|secret| secret.expose_base32().to_owned());
    let imported = (
        user_second_factors::totp_secret.eq(secret),
        user_second_factors::totp_backup_codes.eq(to_json(&item.backup_codes)),
        user_second_factors::email2fa_enabled.eq(factors.email),
    );
    if factors.totp.is_none() && !factors.email {
        // Nothing to ask for: turn off what an earlier dump turned on, if anything.
        diesel::update(user_second_factors::table.find(item.user.id.as_str()))
            .set(imported)
            .execute(conn)?;
        return Ok(());
    }
    diesel::insert_into(user_second_factors::table)
        .values((
            user_second_factors::user_id.eq(item.user.id.as_str()),
            imported.clone(),
        ))
        .on_conflict(user_second_factors::user_id)
        .do_update()
        .set(imported)
        .execute(conn)?;
    Ok(())
}

/// Inserts or updates (by `id`) a row of `$table`, `uploads` or `avatars`: `$row` is
/// every column but `blob_path`, which is `$blob`, except that a row written without
/// bytes (a delta whose dump lacks the file) keeps the bytes it had.
macro_rules! upsert_keeping_blob {
    ($conn:expr, $table:ident, $row:expr, $blob:expr) => {{
        let row = $row;
        diesel::insert_into($table::table)
            .values((row, $table::blob_path.eq($blob)))
            .on_conflict($table::id)
            .do_update()
            .set((
                row,
                $table::blob_path.eq(diesel::dsl::sql::<Nullable<Text>>(concat!(
                    "COALESCE(excluded.blob_path, ",
                    stringify!($table),
                    ".blob_path)"
                ))),
            ))
            .execute($conn)
    }};
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WorkspaceWriter for SqliteWorkspace {
    fn upsert_users(&self, batch: &[WorkspaceUser]) -> Result<Vec<Moved>, StoreError> {
        self.write("users", |conn| {
            let mut moves = Vec::new();
            for item in batch {
                let user = &item.user;
                moves.extend(take_over(conn, user)?);
                let row = (
                    users::id.eq(user.id.as_str()),
                    users::username.eq(&user.username),
                    users::name.eq(&user.name),
                    users::status_text.eq(&user.status_text),
                    users::roles.eq(to_json(&user.roles)),
                    users::services.eq(to_json(&user.services)),
                    users::password_bcrypt.eq(&item.password_bcrypt),
                    users::active.eq(user.active),
                    users::created_at.eq(to_millis(user.created_at)),
                    users::updated_at.eq(to_millis(item.updated_at)),
                    users::language.eq(&user.language),
                );
                diesel::insert_into(users::table)
                    .values(row.clone())
                    .on_conflict(users::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
                write_second_factors(conn, item)?;
                super::users::replace_emails(conn, &user.id, &user.emails)?;
                // The dump's set replaces the imported tokens: one it no longer lists
                // was revoked in Rocket.Chat and must stop working here too.
                diesel::delete(
                    login_tokens::table
                        .filter(login_tokens::user_id.eq(user.id.as_str()))
                        .filter(login_tokens::imported.eq(true)),
                )
                .execute(conn)?;
                for (hashed, when) in &item.login_tokens {
                    diesel::insert_into(login_tokens::table)
                        .values((
                            login_tokens::hashed_token.eq(hashed),
                            login_tokens::user_id.eq(user.id.as_str()),
                            login_tokens::created_at.eq(to_millis(*when)),
                            login_tokens::imported.eq(true),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)?;
                }
            }
            Ok(moves)
        })
    }

    fn upsert_rooms(&self, batch: &[Room]) -> Result<(), StoreError> {
        self.write("rooms", |conn| {
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        (
                            rooms::id.eq(r.id.as_str()),
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
                        .filter(subscriptions::user_id.eq(s.user_id.as_str()))
                        .filter(subscriptions::room_id.eq(s.room_id.as_str()))
                        .filter(subscriptions::id.ne(s.id.as_str())),
                )
                .execute(conn)?;
                let row = (
                    subscriptions::id.eq(s.id.as_str()),
                    subscriptions::user_id.eq(s.user_id.as_str()),
                    subscriptions::room_id.eq(s.room_id.as_str()),
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
        let rows = super::replies::rows(batch);
        self.write("messages", |conn| {
            if conn.has_index(super::message_load::ID_INDEX)? {
                super::message_rows::upsert(conn, &rows, Key::Id)?;
                return super::replies::place(conn, batch);
            }
            // A bulk load (see `message_load`): by the primary key, writing at the end
            // of each room only.
            conn.with_small_cache(|conn| super::bulk_write(conn, &rows))
        })
    }

    fn start_message_load(&self) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        super::message_load::start(&mut conn)
            .map_err(|e| super::store_error(e, "starting a load of messages"))
    }

    fn finish_message_load(&self) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        super::message_load::finish(&mut conn)
            .map_err(|e| super::store_error(e, "indexing the messages loaded"))
    }

    fn upsert_uploads(&self, batch: &[Upload]) -> Result<(), StoreError> {
        self.write("uploads", |conn| {
            for u in batch {
                let row = (
                    uploads::id.eq(u.id.as_str()),
                    uploads::room_id.eq(u.room_id.as_deref()),
                    uploads::user_id.eq(u.user_id.as_deref()),
                    uploads::name.eq(&u.name),
                    uploads::content_type.eq(&u.content_type),
                    uploads::size.eq(count(u.size)),
                    uploads::uploaded_at.eq(to_millis(u.uploaded_at)),
                    uploads::updated_at.eq(to_millis(u.updated_at)),
                );
                upsert_keeping_blob!(conn, uploads, row, &u.blob)?;
            }
            Ok(())
        })
    }

    fn upsert_avatars(&self, batch: &[Avatar]) -> Result<(), StoreError> {
        self.write("avatars", |conn| {
            for a in batch {
                let row = (
                    avatars::id.eq(a.id.as_str()),
                    avatars::username.eq(&a.username),
                    avatars::user_id.eq(a.user_id.as_deref()),
                    avatars::content_type.eq(&a.content_type),
                    avatars::size.eq(count(a.size)),
                    avatars::uploaded_at.eq(to_millis(a.uploaded_at)),
                    avatars::updated_at.eq(to_millis(a.updated_at)),
                );
                upsert_keeping_blob!(conn, avatars, row, &a.blob)?;
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

    fn versions(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<HashMap<String, StoredVersion>, StoreError> {
        let mut conn = self.db.conn()?;
        super::sync::versions(&mut conn, collection, ids)
            .map_err(|e| super::store_error(e, "reading stored versions"))
    }

    fn message_versions(
        &self,
        messages: &[Message],
    ) -> Result<HashMap<String, StoredVersion>, StoreError> {
        let mut conn = self.db.conn()?;
        super::sync::message_versions(&mut conn, messages)
            .map_err(|e| super::store_error(e, "reading stored versions of messages"))
    }

    fn delete_documents(&self, deletions: &[Deletion]) -> Result<Removed, StoreError> {
        self.write("deletions", |conn| super::sync::delete(conn, deletions))
    }

    fn sync_marks(&self) -> Result<Vec<(Collection, DateTime<Utc>)>, StoreError> {
        let mut conn = self.db.conn()?;
        super::sync::marks(&mut conn).map_err(|e| super::store_error(e, "reading sync marks"))
    }

    fn advance_sync_marks(&self, marks: &[(Collection, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.write("sync marks", |conn| super::sync::advance(conn, marks))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::SqliteUsers;
    use super::*;
    use chrono::DateTime;
    use udd_domain::{Email, User};
    use udd_ports::Users;

    fn user(id: &str, username: &str, email: &str) -> WorkspaceUser {
        WorkspaceUser::new(User {
            emails: vec![Email {
                address: email.into(),
                verified: true,
            }],
            roles: vec!["user".into()],
            services: vec!["password".into()],
            ..User::new(id, username, DateTime::UNIX_EPOCH)
        })
    }

    fn moved(kind: MovedKind, value: &str, from: &str, to: &str) -> Moved {
        Moved {
            kind,
            value: value.into(),
            from_user: from.into(),
            to_user: to.into(),
        }
    }

    #[test]
    fn a_username_and_an_address_taken_over_before_the_old_holder_is_loaded_move(
    ) -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db.clone());
        let users = SqliteUsers::new(db);
        assert!(workspace
            .upsert_users(&[user("u1", "carol", "c@x.org"), user("u2", "bob", "b@x.org")])?
            .is_empty());

        // The next dump: bob took carol's name and address, and is listed first.
        let moves = workspace.upsert_users(&[user("u2", "carol", "C@x.org")])?;
        assert_eq!(
            moves,
            [
                moved(MovedKind::Username, "carol", "u1", "u2"),
                moved(MovedKind::Email, "C@x.org", "u1", "u2"),
            ]
        );
        assert_eq!(users.get(&"u1".into())?.username, "~moved~u1");
        assert!(users.get(&"u1".into())?.emails.is_empty());
        assert!(workspace
            .upsert_users(&[user("u1", "carol2", "c2@x.org")])?
            .is_empty());
        assert_eq!(users.credentials_by_login("carol")?.user.id, "u2");
        assert_eq!(users.credentials_by_login("c@x.org")?.user.id, "u2");
        assert_eq!(users.credentials_by_login("carol2")?.user.id, "u1");

        // Loading the same again moves nothing.
        assert!(workspace
            .upsert_users(&[
                user("u2", "carol", "C@x.org"),
                user("u1", "carol2", "c2@x.org")
            ])?
            .is_empty());
        Ok(())
    }

    #[test]
    fn two_users_who_swapped_usernames_load_in_one_batch() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db.clone());
        let users = SqliteUsers::new(db);
        workspace.upsert_users(&[user("u1", "ann", "a@x.org"), user("u2", "ben", "b@x.org")])?;
        let moves = workspace
            .upsert_users(&[user("u1", "ben", "b@x.org"), user("u2", "ann", "a@x.org")])?;
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(users.get(&"u1".into())?.username, "ben");
        assert_eq!(users.get(&"u1".into())?.emails[0].address, "b@x.org");
        assert_eq!(users.get(&"u2".into())?.username, "ann");
        assert_eq!(users.get(&"u2".into())?.emails[0].address, "a@x.org");
        Ok(())
    }

    #[test]
    fn a_users_language_is_stored_and_updated_by_the_next_import() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db.clone());
        let users = SqliteUsers::new(db);
        let mut german = user("u1", "jorg", "j@x.org");
        german.user.language = Some("de-DE".into());
        workspace.upsert_users(&[german.clone(), user("u2", "ann", "a@x.org")])?;
        assert_eq!(users.get(&"u1".into())?.language.as_deref(), Some("de-DE"));
        assert_eq!(users.get(&"u2".into())?.language, None);
        german.user.language = None;
        workspace.upsert_users(&[german])?;
        assert_eq!(users.get(&"u1".into())?.language, None, "unset again");
        Ok(())
    }
}
