//! Logging in and out, and recognising a logged-in user by their token.
//!
//! A login is protected as Rocket.Chat protects it, and a little more: failures are
//! counted per user and per client address and block further attempts for a while
//! ([`LoginProtection`]); an unknown login name costs the same bcrypt verification as a
//! known one (against a decoy hash), so neither the answer nor its timing tells which
//! names exist; tokens expire ([`TokenLifetime`]); an inactive user can neither log in
//! nor use a session.
//!
//! Two more layers sit on top: a second factor after the password ([`two_factor`]), and,
//! when udd runs beside a Rocket.Chat workspace, sessions owned by Rocket.Chat
//! ([`remote`]): tokens are checked with the workspace and udd's own password login is
//! off.

mod cache;
pub mod remote;
pub mod two_factor;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;
use udd_domain::{LoginProtection, LoginSubject, TokenLifetime, User, UserId};
use udd_ports::{
    Clock, LoginFailures, LoginTokens, PasswordHasher, StoreError, TokenIssuer, UserCredentials,
    Users,
};

pub use cache::SessionCacheConfig;
use cache::{Remembered, SessionCache};
pub use remote::RemoteSessionCheck;
pub use two_factor::{Challenge, SecondFactorCheck, SecondFactorError, TwoFactorConfig};

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
    /// Too many failed logins for this user (or login name) lately.
    #[error("Login has been temporarily blocked For User")]
    BlockedForUser,
    /// Too many failed logins from this client address lately.
    #[error("Login has been temporarily blocked For IP")]
    BlockedForIp,
    /// The password matched; the second factor is missing, wrong or spent.
    #[error(transparent)]
    SecondFactor(SecondFactorError),
    /// Sessions are Rocket.Chat's: udd does not check passwords.
    #[error("Password login is disabled: sign in to Rocket.Chat and use its session")]
    PasswordLoginDisabled,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<SecondFactorError> for LoginError {
    fn from(err: SecondFactorError) -> Self {
        match err {
            SecondFactorError::Unexpected(e) => Self::Unexpected(e),
            other => Self::SecondFactor(other),
        }
    }
}

/// Why a request could not be tied to a user.
#[derive(Debug, Error)]
pub enum AuthError {
    /// Missing, unknown, expired or mismatched user id and token, or an inactive user.
    #[error("You must be logged in to do this.")]
    NotLoggedIn,
    /// The token cannot be checked now: Rocket.Chat, which owns it, cannot be reached.
    /// Not a refusal: the client must not drop its session over it.
    #[error("Rocket.Chat cannot check sessions now")]
    Unavailable(#[source] anyhow::Error),
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn unexpected(err: StoreError) -> anyhow::Error {
    anyhow::Error::new(err)
}

/// What the decoy hash hashes; nobody logs in against it, whatever it is.
const DECOY_PASSWORD: &str = "udd decoy password for unknown logins";

/// Failure counts untouched this long are forgotten (at least; longer when a block
/// lasts longer), so the table does not grow with every name an attacker tries.
const FORGET_FAILURES_AFTER: Duration = Duration::days(1);

/// How often, at most, the forgetting runs (on the back of a failed login).
const FORGET_EVERY: Duration = Duration::minutes(10);

use_case! {
    /// Login, logout and token checks, Rocket.Chat style.
    pub struct Authenticator {
        users: Arc<dyn Users>,
        tokens: Arc<dyn LoginTokens>,
        passwords: Arc<dyn PasswordHasher>,
        issuer: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        failures: Option<Arc<dyn LoginFailures>> = None,
        protection: LoginProtection = LoginProtection::off(),
        token_lifetime: TokenLifetime = TokenLifetime::default(),
        /// A hash of the hasher's own cost, verified when there is no real one to verify.
        decoy: Arc<OnceLock<String>> = Arc::default(),
        /// When old failure counts were last forgotten (epoch milliseconds).
        last_forgotten: Arc<AtomicI64> = Arc::default(),
        /// The second factor asked after the password, if any.
        second_factor: Option<SecondFactorCheck> = None,
        /// When set, sessions are Rocket.Chat's and passwords are not checked here.
        remote: Option<RemoteSessionCheck> = None,
        /// Recent checks of udd's own tokens (off until [`Authenticator::with_session_cache`]).
        sessions: SessionCache = SessionCache::new(SessionCacheConfig::off()),
    }
    /// Builds the use case from its ports, with tokens lasting Rocket.Chat's default 90
    /// days and no blocking of failed logins until [`Authenticator::with_protection`].
    pub fn new;
}

impl Authenticator {
    /// Remembers the checks of udd's own tokens as `config` says, so a client that asks
    /// again and again costs no database read each time. A logout here is forgotten at
    /// once; one in another process, or a user made inactive, takes effect when the
    /// remembered answer expires.
    pub fn with_session_cache(mut self, config: SessionCacheConfig) -> Self {
        self.sessions = SessionCache::new(config);
        self
    }

    /// The answer to [`Authenticator::authenticate`] when it is known without asking
    /// the database or Rocket.Chat (a check made moments ago), so that a caller can skip
    /// a trip to a blocking thread.
    pub fn remembered(&self, user_id: &UserId, token: &str) -> Option<Result<User, AuthError>> {
        let remembered = match &self.remote {
            Some(remote) => remote.remembered(user_id, token),
            None => self.sessions.get(user_id, token, self.clock.now()),
        };
        remembered.map(|answer| match answer {
            Remembered::Valid(user) => Ok(*user),
            Remembered::Refused => Err(AuthError::NotLoggedIn),
        })
    }

    /// Asks the second factor `check` requires after a matching password.
    pub fn with_second_factor(mut self, check: SecondFactorCheck) -> Self {
        self.second_factor = Some(check);
        self
    }

    /// Leaves sessions to Rocket.Chat: tokens are checked with `check`, and password
    /// logins here are refused ([`LoginError::PasswordLoginDisabled`]).
    pub fn with_remote_sessions(mut self, check: RemoteSessionCheck) -> Self {
        self.remote = Some(check);
        self
    }

    /// Whether sessions are Rocket.Chat's.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Counts failed logins in `failures` and blocks as `protection` says.
    pub fn with_protection(
        mut self,
        failures: Arc<dyn LoginFailures>,
        protection: LoginProtection,
    ) -> Self {
        self.failures = Some(failures);
        self.protection = protection;
        self
    }

    /// Tokens (imported or issued here) stop working `lifetime` after they were issued.
    pub fn with_token_lifetime(mut self, lifetime: TokenLifetime) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Checks `login` (username or email) and `password` from the client at `client_ip`,
    /// and opens a session.
    ///
    /// The address is checked first, then the user (or the unknown name); a blocked
    /// attempt costs no bcrypt and is not counted. Otherwise exactly one bcrypt
    /// verification runs, whether the user exists or not.
    pub fn login(
        &self,
        login: &str,
        password: &Password,
        client_ip: &str,
    ) -> Result<Session, LoginError> {
        self.login_with_code(login, password, None, client_ip)
    }

    /// [`Authenticator::login`] with the second factor's `code` (the login body's
    /// `code`), for users who have one. A wrong code counts as a failed login, for
    /// blocking; a missing one (the ordinary first step) does not.
    pub fn login_with_code(
        &self,
        login: &str,
        password: &Password,
        code: Option<&str>,
        client_ip: &str,
    ) -> Result<Session, LoginError> {
        if self.remote.is_some() {
            return Err(LoginError::PasswordLoginDisabled);
        }
        let now = self.clock.now();
        let ip = self
            .protection
            .ip_rule(client_ip)
            .map(|rule| (rule, LoginSubject::Ip(client_ip.to_owned())));
        if let Some((rule, subject)) = &ip {
            if rule.blocks(self.failures_of(subject)?.as_ref(), now) {
                return Err(LoginError::BlockedForIp);
            }
        }
        let credentials = match self.users.credentials_by_login(login) {
            Ok(credentials) => Some(credentials),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(unexpected(other).into()),
        };
        let user = credentials.as_ref().map_or_else(
            || LoginSubject::unknown_login(login),
            |c| LoginSubject::User(c.user.id.to_string()),
        );
        let user = self.protection.by_user.as_ref().map(|rule| (rule, user));
        if let Some((rule, subject)) = &user {
            if rule.blocks(self.failures_of(subject)?.as_ref(), now) {
                return Err(LoginError::BlockedForUser);
            }
        }
        let matches = self.verify(credentials.as_ref(), password);
        let counted: Vec<LoginSubject> = [user.map(|(_, s)| s), ip.map(|(_, s)| s)]
            .into_iter()
            .flatten()
            .collect();
        let Some(credentials) = credentials.filter(|c| matches && c.user.active) else {
            self.count_failure(&counted, now)?;
            return Err(LoginError::InvalidCredentials);
        };
        if let Some(second_factor) = &self.second_factor {
            match second_factor.check(&credentials.user, code) {
                Ok(()) => {}
                Err(err @ (SecondFactorError::Invalid(_) | SecondFactorError::MaxAttempts(_))) => {
                    self.count_failure(&counted, now)?;
                    return Err(err.into());
                }
                Err(err) => return Err(err.into()),
            }
        }
        if let Some(failures) = &self.failures {
            failures.clear(&counted).map_err(unexpected)?;
        }
        let auth_token = self.issuer.issue();
        self.tokens
            .insert(&credentials.user.id, &self.issuer.hash(&auth_token), now)
            .map_err(unexpected)?;
        Ok(Session {
            user: credentials.user,
            auth_token,
        })
    }

    /// Whether `password` matches the stored hash. Without one (unknown user, account
    /// without a password) the decoy is verified instead, so the time taken is the same,
    /// and the answer is no.
    fn verify(&self, credentials: Option<&UserCredentials>, password: &Password) -> bool {
        let stored = credentials
            .and_then(|c| c.password_bcrypt.as_deref())
            .filter(|hash| !hash.is_empty());
        let hash = stored.unwrap_or_else(|| self.decoy_hash());
        let matches = match password {
            Password::Plain(plain) => self.passwords.verify(plain, hash),
            Password::Sha256Digest(digest) => self.passwords.verify_digest(digest, hash),
        };
        matches && stored.is_some()
    }

    /// The decoy: made once, by the same hasher (and so at the same cost) as real hashes.
    fn decoy_hash(&self) -> &str {
        self.decoy.get_or_init(|| {
            self.passwords.hash(DECOY_PASSWORD).unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not make the decoy password hash");
                String::new()
            })
        })
    }

    fn failures_of(
        &self,
        subject: &LoginSubject,
    ) -> Result<Option<udd_domain::FailedLogins>, LoginError> {
        match &self.failures {
            Some(failures) => failures.of(subject).map_err(|e| unexpected(e).into()),
            None => Ok(None),
        }
    }

    /// Counts a failure against `subjects`, and now and then forgets counts left alone
    /// for long.
    fn count_failure(
        &self,
        subjects: &[LoginSubject],
        now: DateTime<Utc>,
    ) -> Result<(), LoginError> {
        let Some(failures) = &self.failures else {
            return Ok(());
        };
        if subjects.is_empty() {
            return Ok(());
        }
        failures.record(subjects, now).map_err(unexpected)?;
        let last = self.last_forgotten.load(Ordering::Relaxed);
        let now_ms = now.timestamp_millis();
        if now_ms - last >= FORGET_EVERY.num_milliseconds()
            && self
                .last_forgotten
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let longest_block = [self.protection.by_user, self.protection.by_ip]
                .into_iter()
                .flatten()
                .map(|rule| rule.time_to_unblock)
                .max()
                .unwrap_or_default();
            let keep = FORGET_FAILURES_AFTER.max(longest_block * 2);
            if let Err(e) = failures.forget_before(now - keep) {
                tracing::warn!(error = %e, "could not forget old failed logins");
            }
        }
        Ok(())
    }

    /// The user that `user_id` and `token` (the `X-User-Id` / `X-Auth-Token` pair)
    /// identify, provided the token has not expired and the user is active.
    pub fn authenticate(&self, user_id: &UserId, token: &str) -> Result<User, AuthError> {
        if let Some(remote) = &self.remote {
            return remote.authenticate(user_id, token);
        }
        if user_id.is_empty() || token.is_empty() {
            return Err(AuthError::NotLoggedIn);
        }
        let now = self.clock.now();
        match self.sessions.get(user_id, token, now) {
            Some(Remembered::Valid(user)) => return Ok(*user),
            Some(Remembered::Refused) => return Err(AuthError::NotLoggedIn),
            None => {}
        }
        let issued_since = self.token_lifetime.issued_since(now);
        match self
            .tokens
            .user_for(user_id, &self.issuer.hash(token), issued_since)
        {
            Ok(user) if user.active => {
                self.sessions.accept(user_id, token, user.clone(), now);
                Ok(user)
            }
            Ok(_) | Err(StoreError::NotFound) => {
                self.sessions.refuse(user_id, token, now);
                Err(AuthError::NotLoggedIn)
            }
            Err(other) => Err(unexpected(other).into()),
        }
    }

    /// Ends the session of `token`; the token stops working at once.
    ///
    /// With Rocket.Chat's sessions the token is Rocket.Chat's, and its web client may
    /// still be using it: udd only forgets what it cached about it (the next request
    /// with it asks Rocket.Chat again). Logging out of Rocket.Chat ends it everywhere.
    pub fn logout(&self, user_id: &UserId, token: &str) -> Result<(), AuthError> {
        self.authenticate(user_id, token)?;
        if let Some(remote) = &self.remote {
            remote.forget(user_id, token);
            return Ok(());
        }
        self.sessions.forget(user_id, token);
        self.tokens
            .delete(user_id, &self.issuer.hash(token))
            .map_err(|e| unexpected(e).into())
    }
}

#[cfg(test)]
mod tests;
