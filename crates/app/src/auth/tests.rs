use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use super::*;
use chrono::DateTime;
use mockall::predicate::eq;
use udd_domain::{BlockRule, FailedLogins};
use udd_ports::{MockLoginTokens, MockPasswordHasher, MockTokenIssuer, MockUsers, UserCredentials};

pub(super) fn alice(active: bool) -> User {
    User {
        roles: vec!["user".into()],
        services: vec!["password".into()],
        active,
        ..User::new("u1", "alice", DateTime::UNIX_EPOCH)
    }
}

const IP: &str = "192.0.2.7";

/// A clock the test moves (the tests of `remote` and `two_factor` use it too).
#[derive(Default)]
pub(super) struct TestClock(pub(super) Mutex<DateTime<Utc>>);

impl TestClock {
    pub(super) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Failure counts in memory, as the SQLite adapter keeps them.
#[derive(Default)]
struct MemoryFailures(Mutex<HashMap<LoginSubject, FailedLogins>>);

impl MemoryFailures {
    fn count(&self, subject: &LoginSubject) -> u32 {
        self.of(subject)
            .ok()
            .flatten()
            .map_or(0, |failures| failures.count)
    }
}

impl LoginFailures for MemoryFailures {
    fn of(&self, subject: &LoginSubject) -> Result<Option<FailedLogins>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(subject)
            .copied())
    }

    fn record(&self, subjects: &[LoginSubject], at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for subject in subjects {
            let entry = map.entry(subject.clone()).or_insert(FailedLogins {
                count: 0,
                last_at: at,
            });
            entry.count += 1;
            entry.last_at = at;
        }
        Ok(())
    }

    fn clear(&self, subjects: &[LoginSubject]) -> Result<(), StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for subject in subjects {
            map.remove(subject);
        }
        Ok(())
    }

    fn forget_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let was = map.len();
        map.retain(|_, failures| failures.last_at >= before);
        Ok((was - map.len()) as u64)
    }
}

struct Mocks {
    users: MockUsers,
    tokens: MockLoginTokens,
    passwords: MockPasswordHasher,
    issuer: MockTokenIssuer,
    clock: Arc<TestClock>,
}

impl Mocks {
    fn new() -> Self {
        let mut issuer = MockTokenIssuer::new();
        issuer.expect_issue().return_const("clear-token".to_owned());
        issuer.expect_hash().returning(|t| format!("hashed({t})"));
        let mut passwords = MockPasswordHasher::new();
        passwords
            .expect_hash()
            .returning(|_| Ok("$2b$decoy".to_owned()));
        Self {
            users: MockUsers::new(),
            tokens: MockLoginTokens::new(),
            passwords,
            issuer,
            clock: Arc::default(),
        }
    }

    fn build(self) -> Authenticator {
        Authenticator::new(
            Arc::new(self.users),
            Arc::new(self.tokens),
            Arc::new(self.passwords),
            Arc::new(self.issuer),
            self.clock,
        )
    }
}

fn with_user(mocks: &mut Mocks, active: bool) {
    mocks
        .users
        .expect_credentials_by_login()
        .returning(move |login| match login {
            "alice" | "alice@example.org" => Ok(UserCredentials {
                user: alice(active),
                password_bcrypt: Some("$2b$hash".into()),
            }),
            _ => Err(StoreError::NotFound),
        });
}

fn plain(password: &str) -> Password {
    Password::Plain(password.into())
}

/// `name` logging in with the plain `password` from [`IP`].
fn log_in(auth: &Authenticator, name: &str, password: &str) -> Result<Session, LoginError> {
    auth.login(name, &plain(password), IP)
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
        .login("alice", &Password::Sha256Digest("ab12".into()), IP)
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
            eq(UserId::from("u1")),
            eq("hashed(clear-token)"),
            eq(DateTime::UNIX_EPOCH),
        )
        .times(1)
        .returning(|_, _, _| Ok(()));
    let session = mocks
        .build()
        .login("alice", &plain("secret"), IP)
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
    let auth = mocks.build();
    for login in ["alice", "bob"] {
        assert!(matches!(
            log_in(&auth, login, "nope"),
            Err(LoginError::InvalidCredentials)
        ));
    }
}

#[test]
fn an_unknown_user_costs_one_verification_against_a_decoy_made_once() {
    let mut mocks = Mocks::new();
    with_user(&mut mocks, true);
    mocks.passwords = MockPasswordHasher::new();
    mocks
        .passwords
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$2b$10$decoy".to_owned()));
    mocks
        .passwords
        .expect_verify()
        .with(eq("guess"), eq("$2b$10$decoy"))
        .times(3)
        .return_const(true);
    mocks.tokens.expect_insert().never();
    let auth = mocks.build();
    for _ in 0..3 {
        assert!(matches!(
            log_in(&auth, "nobody", "guess"),
            Err(LoginError::InvalidCredentials)
        ));
    }
}

#[test]
fn an_account_without_a_password_is_checked_against_the_decoy_and_refused() {
    let mut mocks = Mocks::new();
    mocks.users.expect_credentials_by_login().returning(|_| {
        Ok(UserCredentials {
            user: alice(true),
            password_bcrypt: None,
        })
    });
    mocks
        .passwords
        .expect_verify()
        .with(eq("x"), eq("$2b$decoy"))
        .times(1)
        .return_const(true);
    mocks.tokens.expect_insert().never();
    assert!(matches!(
        mocks.build().login("alice", &plain("x"), IP),
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
        mocks.build().login("alice", &plain("secret"), IP),
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
        mocks.build().login("alice", &plain("x"), IP),
        Err(LoginError::Unexpected(_))
    ));
}

/// Alice (password `right`) behind Rocket.Chat's default protection; counts how many
/// bcrypt verifications ran.
fn protected(
    protection: LoginProtection,
) -> (
    Authenticator,
    Arc<MemoryFailures>,
    Arc<TestClock>,
    Arc<AtomicUsize>,
) {
    let mut mocks = Mocks::new();
    with_user(&mut mocks, true);
    let verifications = Arc::new(AtomicUsize::new(0));
    let counter = verifications.clone();
    mocks
        .passwords
        .expect_verify()
        .returning(move |plain, hash| {
            counter.fetch_add(1, Ordering::SeqCst);
            plain == "right" && hash == "$2b$hash"
        });
    mocks.tokens.expect_insert().returning(|_, _, _| Ok(()));
    let clock = mocks.clock.clone();
    let failures = Arc::new(MemoryFailures::default());
    let auth = mocks.build().with_protection(failures.clone(), protection);
    (auth, failures, clock, verifications)
}

#[test]
fn ten_failures_block_the_user_until_five_minutes_after_the_last() {
    let (auth, failures, clock, verifications) = protected(LoginProtection::default());
    for _ in 0..10 {
        assert!(matches!(
            log_in(&auth, "alice", "wrong"),
            Err(LoginError::InvalidCredentials)
        ));
    }
    let done = verifications.load(Ordering::SeqCst);
    for password in ["wrong", "right"] {
        assert!(matches!(
            log_in(&auth, "alice", password),
            Err(LoginError::BlockedForUser)
        ));
    }
    // By email too: the block is the user's, not the name's.
    assert!(matches!(
        log_in(&auth, "alice@example.org", "right"),
        Err(LoginError::BlockedForUser)
    ));
    assert_eq!(
        verifications.load(Ordering::SeqCst),
        done,
        "a blocked attempt costs no bcrypt"
    );
    let user = LoginSubject::User("u1".into());
    assert_eq!(
        failures.count(&user),
        10,
        "blocked attempts are not counted"
    );

    clock.advance(Duration::minutes(5) - Duration::milliseconds(1));
    assert!(matches!(
        log_in(&auth, "alice", "right"),
        Err(LoginError::BlockedForUser)
    ));
    clock.advance(Duration::milliseconds(1));
    assert!(log_in(&auth, "alice", "right").is_ok());
    assert_eq!(failures.count(&user), 0, "a login clears the user's count");
    assert_eq!(
        failures.count(&LoginSubject::Ip(IP.into())),
        0,
        "and the address's"
    );
}

#[test]
fn after_a_block_lifts_one_more_failure_blocks_again_until_a_login_succeeds() {
    let (auth, _, clock, _) = protected(LoginProtection::default());
    for _ in 0..10 {
        let _ = log_in(&auth, "alice", "wrong");
    }
    clock.advance(Duration::minutes(5));
    assert!(matches!(
        log_in(&auth, "alice", "wrong"),
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        log_in(&auth, "alice", "right"),
        Err(LoginError::BlockedForUser)
    ));
}

#[test]
fn unknown_names_are_blocked_like_users_so_blocking_tells_nothing() {
    let (auth, _, _, _) = protected(LoginProtection::default());
    for _ in 0..10 {
        assert!(matches!(
            log_in(&auth, "Ghost", "x"),
            Err(LoginError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        log_in(&auth, "ghost", "x"),
        Err(LoginError::BlockedForUser)
    ));
}

#[test]
fn an_address_is_blocked_after_its_failures_whatever_the_names_unless_whitelisted() {
    let rule = BlockRule {
        attempts_until_block: 3,
        time_to_unblock: Duration::minutes(5),
    };
    let protection = LoginProtection {
        by_ip: Some(rule),
        ip_whitelist: vec!["198.51.100.1".into()],
        ..LoginProtection::default()
    };
    let (auth, _, _, _) = protected(protection);
    for name in ["a", "b", "c"] {
        let _ = log_in(&auth, name, "x");
    }
    assert!(matches!(
        log_in(&auth, "alice", "right"),
        Err(LoginError::BlockedForIp)
    ));
    assert!(auth.login("alice", &plain("right"), "192.0.2.8").is_ok());

    for name in ["a", "b", "c", "d"] {
        let _ = auth.login(name, &plain("x"), "198.51.100.1");
    }
    assert!(
        auth.login("alice", &plain("right"), "198.51.100.1").is_ok(),
        "a whitelisted address is never blocked"
    );
}

#[test]
fn without_protection_nothing_is_blocked() {
    let (auth, failures, _, _) = protected(LoginProtection::off());
    for _ in 0..60 {
        let _ = log_in(&auth, "alice", "wrong");
    }
    assert!(log_in(&auth, "alice", "right").is_ok());
    assert_eq!(failures.count(&LoginSubject::User("u1".into())), 0);
}

#[test]
fn counts_left_alone_for_a_day_are_forgotten_on_a_later_failure() {
    let (auth, failures, clock, _) = protected(LoginProtection::default());
    let _ = log_in(&auth, "ghost", "x");
    clock.advance(Duration::days(1) + Duration::minutes(11));
    let _ = auth.login("alice", &plain("wrong"), "192.0.2.9");
    assert_eq!(failures.count(&LoginSubject::unknown_login("ghost")), 0);
    assert_eq!(failures.count(&LoginSubject::User("u1".into())), 1);
}

#[test]
fn authentication_looks_the_token_up_by_its_hash_within_its_lifetime() {
    let mut mocks = Mocks::new();
    mocks.clock.advance(Duration::days(100));
    mocks
        .tokens
        .expect_user_for()
        .with(
            eq(UserId::from("u1")),
            eq("hashed(tok)"),
            eq(DateTime::UNIX_EPOCH + Duration::days(70)),
        )
        .returning(|_, _, _| Ok(alice(true)));
    let user = mocks
        .build()
        .with_token_lifetime(TokenLifetime(Duration::days(30)))
        .authenticate(&"u1".into(), "tok")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(user.username, "alice");
}

#[test]
fn an_inactive_users_session_is_not_logged_in() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_user_for()
        .returning(|_, _, _| Ok(alice(false)));
    assert!(matches!(
        mocks.build().authenticate(&"u1".into(), "tok"),
        Err(AuthError::NotLoggedIn)
    ));
}

#[test]
fn empty_or_unknown_credentials_are_not_logged_in() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_user_for()
        .returning(|_, _, _| Err(StoreError::NotFound));
    let auth = mocks.build();
    assert!(matches!(
        auth.authenticate(&"".into(), "tok"),
        Err(AuthError::NotLoggedIn)
    ));
    assert!(matches!(
        auth.authenticate(&"u1".into(), ""),
        Err(AuthError::NotLoggedIn)
    ));
    assert!(matches!(
        auth.authenticate(&"u1".into(), "tok"),
        Err(AuthError::NotLoggedIn)
    ));
}

#[test]
fn logout_deletes_the_token_of_the_session() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_user_for()
        .returning(|_, _, _| Ok(alice(true)));
    mocks
        .tokens
        .expect_delete()
        .with(eq(UserId::from("u1")), eq("hashed(tok)"))
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .build()
        .logout(&"u1".into(), "tok")
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn with_a_session_cache_a_token_is_read_once_per_cache_time_and_a_logout_here_ends_it_at_once() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_user_for()
        .times(2)
        .returning(|_, _, _| Ok(alice(true)));
    mocks
        .tokens
        .expect_delete()
        .times(1)
        .returning(|_, _| Ok(()));
    let clock = mocks.clock.clone();
    let auth = mocks
        .build()
        .with_session_cache(SessionCacheConfig::local(5));
    let u1 = UserId::from("u1");
    assert!(auth.remembered(&u1, "tok").is_none(), "not checked yet");
    for _ in 0..3 {
        auth.authenticate(&u1, "tok")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(matches!(auth.remembered(&u1, "tok"), Some(Ok(user)) if user.username == "alice"));
    clock.advance(Duration::seconds(5));
    assert!(auth.remembered(&u1, "tok").is_none(), "expired");
    auth.authenticate(&u1, "tok")
        .unwrap_or_else(|e| panic!("{e}"));
    auth.logout(&u1, "tok").unwrap_or_else(|e| panic!("{e}"));
    assert!(auth.remembered(&u1, "tok").is_none(), "forgotten at logout");
}

#[test]
fn with_a_session_cache_a_refused_token_is_refused_from_memory() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_user_for()
        .times(1)
        .returning(|_, _, _| Ok(alice(false)));
    let auth = mocks
        .build()
        .with_session_cache(SessionCacheConfig::local(5));
    for _ in 0..3 {
        assert!(matches!(
            auth.authenticate(&"u1".into(), "tok"),
            Err(AuthError::NotLoggedIn)
        ));
    }
    assert!(matches!(
        auth.remembered(&"u1".into(), "tok"),
        Some(Err(AuthError::NotLoggedIn))
    ));
}

mod layers {
    use super::*;
    use udd_domain::{SecondFactors, TotpSecret};
    use udd_ports::{
        MockMailer, MockOneTimeCodes, MockRemoteSessions, MockSecondFactorStore, MockUserProfiles,
        RemoteUser,
    };

    fn second_factor(clock: Arc<TestClock>) -> SecondFactorCheck {
        let mut store = MockSecondFactorStore::new();
        store.expect_of().returning(|_| {
            Ok(SecondFactors {
                totp: TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").ok(),
                email: false,
            })
        });
        // At the epoch the RFC secret's codes are 755224 (step 0) and 287082 (step 1).
        store.expect_claim_totp_step().returning(|_, _| Ok(true));
        SecondFactorCheck::new(
            Arc::new(store),
            Arc::new(MockOneTimeCodes::new()),
            Arc::new(MockMailer::new()),
            clock,
            TwoFactorConfig::default(),
        )
    }

    #[test]
    fn a_wrong_second_factor_counts_as_a_failed_login_and_a_missing_one_does_not() {
        let mut mocks = Mocks::new();
        with_user(&mut mocks, true);
        mocks.passwords.expect_verify().return_const(true);
        mocks
            .tokens
            .expect_insert()
            .times(1)
            .returning(|_, _, _| Ok(()));
        let clock = mocks.clock.clone();
        let failures = Arc::new(MemoryFailures::default());
        let auth = mocks
            .build()
            .with_protection(failures.clone(), LoginProtection::default())
            .with_second_factor(second_factor(clock));
        let user = LoginSubject::User("u1".into());

        let missing = auth.login_with_code("alice", &plain("pw"), None, IP);
        assert!(matches!(
            missing,
            Err(LoginError::SecondFactor(SecondFactorError::Required(_)))
        ));
        assert_eq!(failures.count(&user), 0);

        let wrong = auth.login_with_code("alice", &plain("pw"), Some("000000"), IP);
        assert!(matches!(
            wrong,
            Err(LoginError::SecondFactor(SecondFactorError::Invalid(_)))
        ));
        assert_eq!(failures.count(&user), 1);

        let session = auth
            .login_with_code("alice", &plain("pw"), Some("755224"), IP)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(session.user.id, "u1");
        assert_eq!(failures.count(&user), 0, "a full login clears the count");
    }

    #[test]
    fn with_rocket_chats_sessions_passwords_are_not_checked_and_logout_only_forgets() {
        let mut mocks = Mocks::new();
        mocks.users.expect_credentials_by_login().never();
        mocks.tokens.expect_user_for().never();
        mocks.tokens.expect_delete().never();
        let clock = mocks.clock.clone();
        let mut sessions = MockRemoteSessions::new();
        sessions.expect_verify().times(2).returning(|id, _| {
            Ok(Some(RemoteUser {
                id: id.to_owned().to_string(),
                username: "alice".into(),
                name: None,
                emails: vec![],
                active: true,
                roles: vec![],
                language: None,
            }))
        });
        let mut profiles = MockUserProfiles::new();
        profiles.expect_refresh().returning(|_, _| Ok(alice(true)));
        let remote = RemoteSessionCheck::new(
            Arc::new(sessions),
            Arc::new(profiles),
            clock,
            SessionCacheConfig::default(),
        );
        let auth = mocks.build().with_remote_sessions(remote);
        assert!(auth.is_remote());
        assert!(matches!(
            log_in(&auth, "alice", "pw"),
            Err(LoginError::PasswordLoginDisabled)
        ));
        assert_eq!(
            auth.authenticate(&"u1".into(), "rc-token")
                .map(|u| u.id)
                .ok()
                .as_deref(),
            Some("u1")
        );
        auth.logout(&"u1".into(), "rc-token")
            .unwrap_or_else(|e| panic!("{e}"));
        // Forgotten: the next request asks Rocket.Chat again (the second verify).
        assert!(auth.authenticate(&"u1".into(), "rc-token").is_ok());
    }
}
