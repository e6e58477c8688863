//! Logging in and out, and recognising a logged-in user by their token.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::User;
use udd_ports::{Clock, LoginTokens, PasswordHasher, StoreError, TokenIssuer, Users};

/// A successful login: the user and the token to send with every request.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who logged in.
    pub user: User,
    /// The clear token for `X-Auth-Token`; only its hash is stored.
    pub auth_token: String,
}

/// A password as a login presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// In clear, as REST clients usually send it.
    Plain(String),
    /// Its SHA-256 hex digest, as Rocket.Chat's own clients send it
    /// (`{"digest": …, "algorithm": "sha-256"}`).
    Sha256Digest(String),
}

/// Why a login failed.
#[derive(Debug, Error)]
pub enum LoginError {
    /// Unknown user, wrong password, or an account that cannot log in. One variant for
    /// all of them, so the answer does not reveal which usernames exist.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a request could not be tied to a user.
#[derive(Debug, Error)]
pub enum AuthError {
    /// Missing, unknown or mismatched user id and token.
    #[error("You must be logged in to do this.")]
    NotLoggedIn,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn unexpected(err: StoreError) -> anyhow::Error {
    anyhow::Error::new(err)
}

/// Login, logout and token checks, Rocket.Chat style.
#[derive(Clone)]
pub struct Authenticator {
    users: Arc<dyn Users>,
    tokens: Arc<dyn LoginTokens>,
    passwords: Arc<dyn PasswordHasher>,
    issuer: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
}

impl Authenticator {
    /// Builds the use case from its ports.
    pub fn new(
        users: Arc<dyn Users>,
        tokens: Arc<dyn LoginTokens>,
        passwords: Arc<dyn PasswordHasher>,
        issuer: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            tokens,
            passwords,
            issuer,
            clock,
        }
    }

    /// Checks `login` (username or email) and `password`, and opens a session.
    pub fn login(&self, login: &str, password: &Password) -> Result<Session, LoginError> {
        let credentials = match self.users.credentials_by_login(login) {
            Ok(credentials) => credentials,
            Err(StoreError::NotFound) => return Err(LoginError::InvalidCredentials),
            Err(other) => return Err(unexpected(other).into()),
        };
        let hash = credentials.password_bcrypt.as_deref().unwrap_or_default();
        let matches = !hash.is_empty()
            && match password {
                Password::Plain(plain) => self.passwords.verify(plain, hash),
                Password::Sha256Digest(digest) => self.passwords.verify_digest(digest, hash),
            };
        if !credentials.user.active || !matches {
            return Err(LoginError::InvalidCredentials);
        }
        let auth_token = self.issuer.issue();
        self.tokens
            .insert(
                &credentials.user.id,
                &self.issuer.hash(&auth_token),
                self.clock.now(),
            )
            .map_err(unexpected)?;
        Ok(Session {
            user: credentials.user,
            auth_token,
        })
    }

    /// The user that `user_id` and `token` (the `X-User-Id` / `X-Auth-Token` pair)
    /// identify.
    pub fn authenticate(&self, user_id: &str, token: &str) -> Result<User, AuthError> {
        if user_id.is_empty() || token.is_empty() {
            return Err(AuthError::NotLoggedIn);
        }
        match self.tokens.user_for(user_id, &self.issuer.hash(token)) {
            Ok(user) if user.active => Ok(user),
            Ok(_) | Err(StoreError::NotFound) => Err(AuthError::NotLoggedIn),
            Err(other) => Err(unexpected(other).into()),
        }
    }

    /// Ends the session of `token`; the token stops working at once.
    pub fn logout(&self, user_id: &str, token: &str) -> Result<(), AuthError> {
        self.authenticate(user_id, token)?;
        self.tokens
            .delete(user_id, &self.issuer.hash(token))
            .map_err(|e| unexpected(e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use mockall::predicate::eq;
    use udd_ports::{
        MockClock, MockLoginTokens, MockPasswordHasher, MockTokenIssuer, MockUsers, UserCredentials,
    };

    fn alice(active: bool) -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            name: None,
            emails: vec![],
            roles: vec!["user".into()],
            status_text: None,
            services: vec!["password".into()],
            active,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    struct Mocks {
        users: MockUsers,
        tokens: MockLoginTokens,
        passwords: MockPasswordHasher,
        issuer: MockTokenIssuer,
    }

    impl Mocks {
        fn new() -> Self {
            let mut issuer = MockTokenIssuer::new();
            issuer.expect_issue().return_const("clear-token".to_owned());
            issuer.expect_hash().returning(|t| format!("hashed({t})"));
            Self {
                users: MockUsers::new(),
                tokens: MockLoginTokens::new(),
                passwords: MockPasswordHasher::new(),
                issuer,
            }
        }

        fn build(self) -> Authenticator {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(DateTime::UNIX_EPOCH);
            Authenticator::new(
                Arc::new(self.users),
                Arc::new(self.tokens),
                Arc::new(self.passwords),
                Arc::new(self.issuer),
                Arc::new(clock),
            )
        }
    }

    fn with_user(mocks: &mut Mocks, active: bool) {
        mocks
            .users
            .expect_credentials_by_login()
            .returning(move |_| {
                Ok(UserCredentials {
                    user: alice(active),
                    password_bcrypt: Some("$2b$hash".into()),
                })
            });
    }

    fn plain(password: &str) -> Password {
        Password::Plain(password.into())
    }

    #[test]
    fn a_password_digest_is_checked_as_a_digest() {
        let mut mocks = Mocks::new();
        with_user(&mut mocks, true);
        mocks.passwords.expect_verify().never();
        mocks
            .passwords
            .expect_verify_digest()
            .with(eq("ab12"), eq("$2b$hash"))
            .return_const(true);
        mocks.tokens.expect_insert().returning(|_, _, _| Ok(()));
        let session = mocks
            .build()
            .login("alice", &Password::Sha256Digest("ab12".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(session.user.id, "u1");
    }

    #[test]
    fn a_good_password_stores_the_hashed_token_and_returns_the_clear_one() {
        let mut mocks = Mocks::new();
        with_user(&mut mocks, true);
        mocks
            .passwords
            .expect_verify()
            .with(eq("secret"), eq("$2b$hash"))
            .return_const(true);
        mocks
            .tokens
            .expect_insert()
            .with(
                eq("u1"),
                eq("hashed(clear-token)"),
                eq(DateTime::UNIX_EPOCH),
            )
            .times(1)
            .returning(|_, _, _| Ok(()));
        let session = mocks
            .build()
            .login("alice", &plain("secret"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(session.auth_token, "clear-token");
        assert_eq!(session.user.id, "u1");
    }

    #[test]
    fn a_wrong_password_and_an_unknown_user_fail_alike() {
        let mut mocks = Mocks::new();
        with_user(&mut mocks, true);
        mocks.passwords.expect_verify().return_const(false);
        mocks.tokens.expect_insert().never();
        assert!(matches!(
            mocks.build().login("alice", &plain("nope")),
            Err(LoginError::InvalidCredentials)
        ));

        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_credentials_by_login()
            .returning(|_| Err(StoreError::NotFound));
        assert!(matches!(
            mocks.build().login("bob", &plain("x")),
            Err(LoginError::InvalidCredentials)
        ));
    }

    #[test]
    fn a_deactivated_user_cannot_log_in_even_with_the_right_password() {
        let mut mocks = Mocks::new();
        with_user(&mut mocks, false);
        mocks.passwords.expect_verify().return_const(true);
        mocks.tokens.expect_insert().never();
        assert!(matches!(
            mocks.build().login("alice", &plain("secret")),
            Err(LoginError::InvalidCredentials)
        ));
    }

    #[test]
    fn a_backend_failure_is_unexpected_not_a_bad_password() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_credentials_by_login()
            .returning(|_| Err(StoreError::Unexpected(anyhow::anyhow!("disk on fire"))));
        assert!(matches!(
            mocks.build().login("alice", &plain("x")),
            Err(LoginError::Unexpected(_))
        ));
    }

    #[test]
    fn authentication_looks_the_token_up_by_its_hash() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_user_for()
            .with(eq("u1"), eq("hashed(tok)"))
            .returning(|_, _| Ok(alice(true)));
        let user = mocks
            .build()
            .authenticate("u1", "tok")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.username, "alice");
    }

    #[test]
    fn empty_or_unknown_credentials_are_not_logged_in() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_user_for()
            .returning(|_, _| Err(StoreError::NotFound));
        let auth = mocks.build();
        assert!(matches!(
            auth.authenticate("", "tok"),
            Err(AuthError::NotLoggedIn)
        ));
        assert!(matches!(
            auth.authenticate("u1", ""),
            Err(AuthError::NotLoggedIn)
        ));
        assert!(matches!(
            auth.authenticate("u1", "tok"),
            Err(AuthError::NotLoggedIn)
        ));
    }

    #[test]
    fn logout_deletes_the_token_of_the_session() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_user_for()
            .returning(|_, _| Ok(alice(true)));
        mocks
            .tokens
            .expect_delete()
            .with(eq("u1"), eq("hashed(tok)"))
            .times(1)
            .returning(|_, _| Ok(()));
        mocks
            .build()
            .logout("u1", "tok")
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
