//! Creating user accounts (the `udd user add` command).

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{Email, User};
use udd_ports::{Clock, IdGenerator, NewUser, PasswordHasher, StoreError, Users};

/// What `udd user add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Login name: letters, digits, `.`, `_` and `-` (Rocket.Chat's default rule).
    pub username: String,
    /// Plain password.
    pub password: String,
    /// Optional email address.
    pub email: Option<String>,
    /// Optional display name.
    pub name: Option<String>,
}

/// Why an account could not be created.
#[derive(Debug, Error)]
pub enum AddUserError {
    /// A field breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The username or email address belongs to someone else.
    #[error("{0} is already taken")]
    Taken(String),
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

use_case! {
    /// Creates password accounts.
    pub struct AddUser {
        users: Arc<dyn Users>,
        passwords: Arc<dyn PasswordHasher>,
        ids: Arc<dyn IdGenerator>,
        clock: Arc<dyn Clock>,
    }
    /// Builds the use case from its ports.
    pub fn new;
}

impl AddUser {
    /// Validates and stores the account, returning the new user.
    pub fn execute(&self, account: NewAccount) -> Result<User, AddUserError> {
        validate(&account)?;
        let new = NewUser {
            id: self.ids.new_id().into(),
            username: account.username,
            name: account.name.filter(|n| !n.trim().is_empty()),
            emails: account
                .email
                .map(|address| Email {
                    address: address.trim().to_owned(),
                    verified: false,
                })
                .into_iter()
                .collect(),
            roles: vec!["user".to_owned()],
            password_bcrypt: self.passwords.hash(&account.password)?,
            created_at: self.clock.now(),
        };
        match self.users.create(&new) {
            Ok(()) => {}
            Err(StoreError::DuplicateUsername(name)) => {
                return Err(AddUserError::Taken(format!("username {name}")))
            }
            Err(StoreError::DuplicateEmail(address)) => {
                return Err(AddUserError::Taken(format!("email {address}")))
            }
            Err(other) => return Err(anyhow::Error::new(other).into()),
        }
        Ok(User {
            id: new.id,
            username: new.username,
            name: new.name,
            emails: new.emails,
            roles: new.roles,
            status_text: None,
            services: vec!["password".to_owned()],
            active: true,
            language: None,
            created_at: new.created_at,
        })
    }
}

/// The fewest characters a password chosen at `udd user add` may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The rule for a password a person chooses for a new account: at least
/// [`MIN_PASSWORD_CHARS`] characters. [`AddUser`] itself refuses only an empty
/// password, so that code embedding it (and accounts imported with their Rocket.Chat
/// password) keeps its own policy; `udd user add` applies this one.
pub fn check_new_password(password: &str) -> Result<(), AddUserError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AddUserError::Invalid(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters long, not {chars}"
        )));
    }
    Ok(())
}

fn validate(account: &NewAccount) -> Result<(), AddUserError> {
    let username = &account.username;
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if username.is_empty() || username.len() > 64 || !username.chars().all(valid_char) {
        return Err(AddUserError::Invalid(format!(
            "invalid username `{username}`: use 1 to 64 letters, digits, `.`, `_` or `-`"
        )));
    }
    if account.password.is_empty() {
        return Err(AddUserError::Invalid(
            "the password must not be empty".to_owned(),
        ));
    }
    if let Some(email) = &account.email {
        let email = email.trim();
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace)
        });
        if !valid {
            return Err(AddUserError::Invalid(format!(
                "invalid email address `{email}`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use udd_ports::{MockClock, MockIdGenerator, MockPasswordHasher, MockUsers};

    fn use_case(users: MockUsers) -> AddUser {
        let mut passwords = MockPasswordHasher::new();
        passwords
            .expect_hash()
            .returning(|p| Ok(format!("bcrypt({p})")));
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().return_const("NEWID".to_owned());
        let mut clock = MockClock::new();
        clock.expect_now().return_const(DateTime::UNIX_EPOCH);
        AddUser::new(
            Arc::new(users),
            Arc::new(passwords),
            Arc::new(ids),
            Arc::new(clock),
        )
    }

    fn account(username: &str, email: Option<&str>) -> NewAccount {
        NewAccount {
            username: username.into(),
            password: "pw".into(),
            email: email.map(str::to_owned),
            name: Some("Alice".into()),
        }
    }

    #[test]
    fn stores_the_hashed_password_never_the_clear_one() {
        let mut users = MockUsers::new();
        users
            .expect_create()
            .withf(|u| {
                u.password_bcrypt == "bcrypt(pw)"
                    && u.username == "alice"
                    && u.emails[0].address == "a@x.org"
            })
            .times(1)
            .returning(|_| Ok(()));
        let user = use_case(users)
            .execute(account("alice", Some(" a@x.org ")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.id, "NEWID");
        assert_eq!(user.roles, vec!["user"]);
    }

    #[test]
    fn rejects_hostile_usernames_before_touching_storage() {
        for bad in ["", "a b", "../x", "al<i>ce", &"x".repeat(65)] {
            let mut users = MockUsers::new();
            users.expect_create().never();
            assert!(
                matches!(
                    use_case(users).execute(account(bad, None)),
                    Err(AddUserError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_email_and_empty_password() {
        let mut users = MockUsers::new();
        users.expect_create().never();
        let uc = use_case(users);
        assert!(matches!(
            uc.execute(account("alice", Some("nope"))),
            Err(AddUserError::Invalid(_))
        ));
        let mut no_password = account("alice", None);
        no_password.password.clear();
        assert!(matches!(
            uc.execute(no_password),
            Err(AddUserError::Invalid(_))
        ));
    }

    #[test]
    fn a_chosen_password_has_at_least_eight_characters() {
        for short in ["", "p", "1234567", "ééééééé"] {
            assert!(
                matches!(check_new_password(short), Err(AddUserError::Invalid(m)) if m.contains("at least 8")),
                "{short:?}"
            );
        }
        for long_enough in ["12345678", "éééééééé", "correct horse battery staple"] {
            assert!(check_new_password(long_enough).is_ok(), "{long_enough:?}");
        }
    }

    #[test]
    fn a_taken_username_is_reported_as_such() {
        let mut users = MockUsers::new();
        users
            .expect_create()
            .returning(|_| Err(StoreError::DuplicateUsername("alice".into())));
        let err = use_case(users).execute(account("alice", None)).unwrap_err();
        assert_eq!(err.to_string(), "username alice is already taken");
    }
}
