//! Users and their email addresses.

use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::UserId;
use udd_domain::{Email, User};
use udd_ports::{NewUser, StoreError, UserCredentials, Users};

use super::schema::{user_emails, users};
use super::{json_list, store_error, to_json, Database, DbConnection};
use crate::dialect::Dialect;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(super) struct UserRow {
    id: String,
    username: String,
    name: Option<String>,
    status_text: Option<String>,
    roles: String,
    services: String,
    password_bcrypt: Option<String>,
    active: bool,
    created_at: i64,
    updated_at: i64,
    language: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_emails)]
struct EmailRow {
    user_id: String,
    position: i32,
    address: String,
    address_lower: String,
    verified: bool,
}

impl UserRow {
    fn into_credentials(self, emails: Vec<Email>) -> UserCredentials {
        UserCredentials {
            password_bcrypt: self.password_bcrypt,
            user: User {
                id: self.id.into(),
                username: self.username,
                name: self.name,
                emails,
                roles: json_list(&self.roles),
                status_text: self.status_text,
                services: json_list(&self.services),
                active: self.active,
                language: self.language,
                created_at: from_millis(self.created_at),
            },
        }
    }
}

/// Users in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteUsers {
    db: Database,
}

impl SqliteUsers {
    /// Users stored in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn db(&self) -> &Database {
        &self.db
    }
}

/// Loads a user row and its emails into credentials.
pub(super) fn load_credentials(
    conn: &mut DbConnection,
    row: UserRow,
) -> Result<UserCredentials, StoreError> {
    let emails = user_emails::table
        .filter(user_emails::user_id.eq(&row.id))
        .order(user_emails::position.asc())
        .select(EmailRow::as_select())
        .load(conn)
        .map_err(|e| store_error(e, "loading a user's emails"))?
        .into_iter()
        .map(|e| Email {
            address: e.address,
            verified: e.verified,
        })
        .collect();
    Ok(row.into_credentials(emails))
}

impl Users for SqliteUsers {
    fn create(&self, user: &NewUser) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let row = UserRow {
            id: user.id.to_string(),
            username: user.username.clone(),
            name: user.name.clone(),
            status_text: None,
            roles: to_json(&user.roles),
            services: to_json(&["password"]),
            password_bcrypt: Some(user.password_bcrypt.clone()),
            active: true,
            created_at: to_millis(user.created_at),
            updated_at: to_millis(user.created_at),
            language: None,
        };
        let emails: Vec<EmailRow> = user
            .emails
            .iter()
            .zip(0..)
            .map(|(email, position)| EmailRow {
                user_id: user.id.to_string(),
                position,
                address: email.address.clone(),
                address_lower: email.address.to_lowercase(),
                verified: email.verified,
            })
            .collect();
        // Checked inside the write transaction, so nobody can take the name or an
        // address between the check and the insert: the answer says which one is taken
        // without reading the database's error text.
        let refused = conn
            .write_transaction(
                Some(super::USERS_LOCK),
                |conn| -> QueryResult<Option<StoreError>> {
                    let name_taken: i64 = users::table
                        .filter(users::username.eq(&user.username))
                        .count()
                        .get_result(conn)?;
                    if name_taken > 0 {
                        return Ok(Some(StoreError::DuplicateUsername(user.username.clone())));
                    }
                    for email in &emails {
                        let address_taken: i64 = user_emails::table
                            .filter(user_emails::address_lower.eq(&email.address_lower))
                            .count()
                            .get_result(conn)?;
                        if address_taken > 0 {
                            return Ok(Some(StoreError::DuplicateEmail(email.address.clone())));
                        }
                    }
                    diesel::insert_into(users::table)
                        .values(&row)
                        .execute(conn)?;
                    diesel::insert_into(user_emails::table)
                        .values(&emails)
                        .execute(conn)?;
                    Ok(None)
                },
            )
            .map_err(|e| store_error(e, "creating a user"))?;
        refused.map_or(Ok(()), Err)
    }

    fn get(&self, id: &UserId) -> Result<User, StoreError> {
        let mut conn = self.db.conn()?;
        let row = users::table
            .find(id.as_str())
            .select(UserRow::as_select())
            .first(&mut conn)
            .map_err(|e| store_error(e, "loading a user"))?;
        Ok(load_credentials(&mut conn, row)?.user)
    }

    fn credentials_by_login(&self, login: &str) -> Result<UserCredentials, StoreError> {
        let mut conn = self.db.conn()?;
        let by_username = users::table
            .filter(users::username.eq(login))
            .select(UserRow::as_select())
            .first(&mut conn)
            .optional()
            .map_err(|e| store_error(e, "looking a user up by username"))?;
        let row = match by_username {
            Some(row) => row,
            None => users::table
                .inner_join(user_emails::table)
                .filter(user_emails::address_lower.eq(login.to_lowercase()))
                .select(UserRow::as_select())
                .first(&mut conn)
                .map_err(|e| store_error(e, "looking a user up by email"))?,
        };
        load_credentials(&mut conn, row)
    }
}

/// Replaces a user's addresses with `emails`, in their order (an address another user
/// already has is left out, as the unique index wants).
pub(super) fn replace_emails(
    conn: &mut DbConnection,
    user: &UserId,
    emails: &[Email],
) -> QueryResult<()> {
    diesel::delete(user_emails::table.filter(user_emails::user_id.eq(user.as_str())))
        .execute(conn)?;
    for (position, email) in (0..).zip(emails) {
        diesel::insert_into(user_emails::table)
            .values((
                user_emails::user_id.eq(user.as_str()),
                user_emails::position.eq(position),
                user_emails::address.eq(&email.address),
                user_emails::address_lower.eq(email.address.to_lowercase()),
                user_emails::verified.eq(email.verified),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use chrono::DateTime;

    pub(crate) fn new_user(id: &str, username: &str, email: &str) -> NewUser {
        NewUser {
            id: id.into(),
            username: username.into(),
            name: Some(format!("{username} name")),
            emails: vec![Email {
                address: email.into(),
                verified: false,
            }],
            roles: vec!["user".into()],
            password_bcrypt: "$2b$10$hash".into(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_created_user_is_found_by_id_username_and_email() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let users = SqliteUsers::new(db);
        users.create(&new_user("u1", "alice", "Alice@Example.org"))?;

        let user = users.get(&"u1".into())?;
        assert_eq!(user.username, "alice");
        assert_eq!(user.emails[0].address, "Alice@Example.org");
        assert_eq!(user.roles, vec!["user"]);
        assert_eq!(user.services, vec!["password"]);

        let by_name = users.credentials_by_login("alice")?;
        assert_eq!(by_name.password_bcrypt.as_deref(), Some("$2b$10$hash"));
        assert_eq!(
            users.credentials_by_login("alice@example.ORG")?.user.id,
            "u1"
        );
        assert!(matches!(
            users.credentials_by_login("bob"),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            users.get(&"nope".into()),
            Err(StoreError::NotFound)
        ));
        Ok(())
    }

    #[test]
    fn a_taken_username_or_email_is_refused_saying_which() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let users = SqliteUsers::new(db);
        users.create(&new_user("u1", "alice", "a@x.org"))?;
        match users.create(&new_user("u2", "alice", "other@x.org")) {
            Err(StoreError::DuplicateUsername(name)) => assert_eq!(name, "alice"),
            other => panic!("expected a duplicate username, got {other:?}"),
        }
        match users.create(&new_user("u3", "bob", "A@X.org")) {
            Err(StoreError::DuplicateEmail(address)) => assert_eq!(address, "A@X.org"),
            other => panic!("expected a duplicate e-mail, got {other:?}"),
        }
        // The failed inserts left nothing behind.
        assert!(matches!(users.get(&"u3".into()), Err(StoreError::NotFound)));
        Ok(())
    }
}
