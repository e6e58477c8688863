//! Hashed login tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::to_millis;
use udd_domain::User;
use udd_domain::UserId;
use udd_ports::{LoginTokens, StoreError};

use super::schema::{login_tokens, users};
use super::users::{load_credentials, UserRow};
use super::{store_error, Database};

/// Login tokens in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteLoginTokens {
    db: Database,
}

impl SqliteLoginTokens {
    /// Tokens stored in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

impl LoginTokens for SqliteLoginTokens {
    fn insert(
        &self,
        user_id: &UserId,
        hashed_token: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::insert_into(login_tokens::table)
            .values((
                login_tokens::hashed_token.eq(hashed_token),
                login_tokens::user_id.eq(user_id.as_str()),
                login_tokens::created_at.eq(to_millis(at)),
                login_tokens::imported.eq(false),
            ))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "storing a login token"))?;
        Ok(())
    }

    fn user_for(
        &self,
        user_id: &UserId,
        hashed_token: &str,
        issued_since: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let mut conn = self.db.conn()?;
        // `load`, not `first`: one row without `LIMIT ?` (see `sqlite/mod.rs`). A hashed token is unique.
        let row = users::table
            .inner_join(login_tokens::table)
            .filter(login_tokens::hashed_token.eq(hashed_token))
            .filter(users::id.eq(user_id.as_str()))
            .filter(login_tokens::created_at.ge(to_millis(issued_since)))
            .select(UserRow::as_select())
            .load(&mut conn)
            .map_err(|e| store_error(e, "looking a login token up"))?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        Ok(load_credentials(&mut conn, row)?.user)
    }

    fn delete(&self, user_id: &UserId, hashed_token: &str) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::delete(
            login_tokens::table
                .filter(login_tokens::hashed_token.eq(hashed_token))
                .filter(login_tokens::user_id.eq(user_id.as_str())),
        )
        .execute(&mut conn)
        .map_err(|e| store_error(e, "deleting a login token"))?;
        Ok(())
    }

    fn delete_issued_before(&self, issued_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        let deleted = diesel::delete(
            login_tokens::table.filter(login_tokens::created_at.lt(to_millis(issued_before))),
        )
        .execute(&mut conn)
        .map_err(|e| store_error(e, "deleting expired login tokens"))?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{testing, SqliteUsers};
    use super::*;
    use chrono::DateTime;
    use udd_domain::Email;
    use udd_ports::{NewUser, Users};

    const EPOCH: DateTime<Utc> = DateTime::UNIX_EPOCH;

    fn user(id: &str, username: &str) -> NewUser {
        NewUser {
            id: id.into(),
            username: username.into(),
            name: None,
            emails: vec![Email {
                address: format!("{username}@x.org"),
                verified: true,
            }],
            roles: vec!["user".into()],
            password_bcrypt: "h".into(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_token_identifies_its_owner_only_until_deleted() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let users = SqliteUsers::new(db.clone());
        users.create(&user("u1", "alice"))?;
        users.create(&user("u2", "bob"))?;
        let tokens = SqliteLoginTokens::new(db);
        tokens.insert(&"u1".into(), "HASH", DateTime::UNIX_EPOCH)?;

        assert_eq!(
            tokens.user_for(&"u1".into(), "HASH", EPOCH)?.emails[0].address,
            "alice@x.org"
        );
        assert!(matches!(
            tokens.user_for(&"u2".into(), "HASH", EPOCH),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            tokens.user_for(&"u1".into(), "OTHER", EPOCH),
            Err(StoreError::NotFound)
        ));

        tokens.delete(&"u2".into(), "HASH")?;
        assert!(
            tokens.user_for(&"u1".into(), "HASH", EPOCH).is_ok(),
            "another user cannot delete the token"
        );
        tokens.delete(&"u1".into(), "HASH")?;
        assert!(matches!(
            tokens.user_for(&"u1".into(), "HASH", EPOCH),
            Err(StoreError::NotFound)
        ));
        Ok(())
    }

    #[test]
    fn a_token_issued_before_the_cutoff_has_expired() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        SqliteUsers::new(db.clone()).create(&user("u1", "alice"))?;
        let tokens = SqliteLoginTokens::new(db);
        let issued = EPOCH + chrono::Duration::days(10);
        tokens.insert(&"u1".into(), "HASH", issued)?;
        assert!(
            tokens.user_for(&"u1".into(), "HASH", issued).is_ok(),
            "issued at the cutoff"
        );
        assert!(matches!(
            tokens.user_for(
                &"u1".into(),
                "HASH",
                issued + chrono::Duration::milliseconds(1)
            ),
            Err(StoreError::NotFound)
        ));
        Ok(())
    }

    #[test]
    fn tokens_issued_before_a_time_are_forgotten_and_later_ones_kept() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let users = SqliteUsers::new(db.clone());
        users.create(&user("u1", "alice"))?;
        users.create(&user("u2", "bob"))?;
        let tokens = SqliteLoginTokens::new(db);
        let day = |n| EPOCH + chrono::Duration::days(n);
        tokens.insert(&"u1".into(), "OLD-1", day(1))?;
        tokens.insert(&"u2".into(), "OLD-2", day(9))?;
        tokens.insert(&"u1".into(), "AT-CUTOFF", day(10))?;
        tokens.insert(&"u2".into(), "NEW", day(20))?;

        assert_eq!(tokens.delete_issued_before(day(10))?, 2);
        assert_eq!(
            tokens.delete_issued_before(day(10))?,
            0,
            "nothing left to forget"
        );
        for (user, token, kept) in [
            ("u1", "OLD-1", false),
            ("u2", "OLD-2", false),
            ("u1", "AT-CUTOFF", true),
            ("u2", "NEW", true),
        ] {
            assert_eq!(
                tokens.user_for(&user.into(), token, EPOCH).is_ok(),
                kept,
                "{token}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_reimport_replaces_the_imported_tokens_and_keeps_those_of_logins_here() -> anyhow::Result<()>
    {
        use super::super::SqliteWorkspace;
        use udd_ports::{WorkspaceUser, WorkspaceWriter};

        let (_dir, db) = testing::database();
        let workspace = SqliteWorkspace::new(db.clone());
        let dumped = |tokens: &[&str]| WorkspaceUser {
            login_tokens: tokens.iter().map(|t| ((*t).to_owned(), EPOCH)).collect(),
            ..WorkspaceUser::new(User::new("u1", "alice", EPOCH))
        };
        workspace.upsert_users(&[dumped(&["KEPT", "REVOKED"])])?;
        let tokens = SqliteLoginTokens::new(db);
        tokens.insert(&"u1".into(), "LOGGED-IN", EPOCH)?;
        for token in ["KEPT", "REVOKED", "LOGGED-IN"] {
            assert!(
                tokens.user_for(&"u1".into(), token, EPOCH).is_ok(),
                "{token}"
            );
        }

        workspace.upsert_users(&[dumped(&["KEPT", "NEW"])])?;
        for token in ["KEPT", "NEW", "LOGGED-IN"] {
            assert!(
                tokens.user_for(&"u1".into(), token, EPOCH).is_ok(),
                "{token}"
            );
        }
        assert!(matches!(
            tokens.user_for(&"u1".into(), "REVOKED", EPOCH),
            Err(StoreError::NotFound)
        ));

        workspace.upsert_users(&[dumped(&[])])?;
        assert!(
            tokens.user_for(&"u1".into(), "KEPT", EPOCH).is_err(),
            "none listed, none kept"
        );
        assert!(tokens.user_for(&"u1".into(), "LOGGED-IN", EPOCH).is_ok());
        Ok(())
    }

    #[test]
    fn a_token_for_an_unknown_user_is_refused_by_the_foreign_key() {
        let (_dir, db) = testing::database();
        let tokens = SqliteLoginTokens::new(db);
        assert!(tokens
            .insert(&"ghost".into(), "HASH", DateTime::UNIX_EPOCH)
            .is_err());
    }
}
