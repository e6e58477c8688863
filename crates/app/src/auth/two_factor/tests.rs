use std::sync::Mutex;

use super::super::tests::TestClock;
use super::*;
use udd_domain::{Email, SecondFactors, TotpSecret, UserId};
use udd_ports::{MailError, MockMailer, MockOneTimeCodes};

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// One user's second factors in memory, with the same single-use rules as the store.
#[derive(Default)]
struct Memory {
    factors: SecondFactors,
    backup: Vec<String>,
    state: Mutex<(Option<u64>, Vec<String>, Option<EmailCode>)>,
}

impl SecondFactorStore for Memory {
    fn of(&self, _: &UserId) -> Result<SecondFactors, StoreError> {
        Ok(self.factors.clone())
    }
    fn claim_totp_step(&self, _: &UserId, step: u64) -> Result<bool, StoreError> {
        let mut state = self.state.lock().unwrap();
        if state.0.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        state.0 = Some(step);
        Ok(true)
    }
    fn use_backup_code(&self, _: &UserId, hash: &str) -> Result<bool, StoreError> {
        let mut state = self.state.lock().unwrap();
        if !self.backup.iter().any(|c| c == hash) || state.1.iter().any(|c| c == hash) {
            return Ok(false);
        }
        state.1.push(hash.to_owned());
        Ok(true)
    }
    fn email_code(&self, _: &UserId) -> Result<Option<EmailCode>, StoreError> {
        Ok(self.state.lock().unwrap().2.clone())
    }
    fn put_email_code(&self, _: &UserId, code: &EmailCode) -> Result<(), StoreError> {
        self.state.lock().unwrap().2 = Some(code.clone());
        Ok(())
    }
    fn check_email_code(
        &self,
        _: &UserId,
        hash: &str,
        now: DateTime<Utc>,
        max: u32,
    ) -> Result<EmailCodeCheck, StoreError> {
        let mut state = self.state.lock().unwrap();
        let Some(code) = state.2.clone() else {
            return Ok(EmailCodeCheck::NoCode);
        };
        let outcome = code.check(hash, now, max);
        match outcome {
            EmailCodeCheck::Accepted | EmailCodeCheck::NoCode => state.2 = None,
            _ => {
                if let Some(c) = state.2.as_mut() {
                    c.failed_attempts += 1;
                }
            }
        }
        Ok(outcome)
    }
}

fn user(verified: bool) -> User {
    User {
        name: Some("Alice".into()),
        emails: vec![Email {
            address: "alice@example.org".into(),
            verified,
        }],
        ..User::new("u1", "alice", DateTime::UNIX_EPOCH)
    }
}

fn now() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000)
}

fn totp_user_store(backup: &[&str]) -> Arc<Memory> {
    Arc::new(Memory {
        factors: SecondFactors {
            totp: Some(TotpSecret::from_base32(SECRET).unwrap()),
            email: true,
        },
        backup: backup.iter().map(|c| backup_code_hash(c)).collect(),
        ..Memory::default()
    })
}

fn email_user_store() -> Arc<Memory> {
    Arc::new(Memory {
        factors: SecondFactors {
            totp: None,
            email: true,
        },
        ..Memory::default()
    })
}

/// The check, with the mails it sends collected.
fn check_with(store: Arc<Memory>, mailer: MockMailer) -> (SecondFactorCheck, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(now())));
    let mut codes = MockOneTimeCodes::new();
    codes.expect_six_digits().returning(|| "123456".to_owned());
    let check = SecondFactorCheck::new(
        store,
        Arc::new(codes),
        Arc::new(mailer),
        clock.clone(),
        TwoFactorConfig::default(),
    );
    (check, clock)
}

fn no_mail() -> MockMailer {
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    mailer
}

fn code_at(at: DateTime<Utc>) -> String {
    TotpRule::default().code_at(&TotpSecret::from_base32(SECRET).unwrap(), at)
}

#[test]
fn a_totp_user_must_give_a_code_and_each_code_works_once() {
    let (check, clock) = check_with(totp_user_store(&[]), no_mail());
    let alice = user(true);
    match check.check(&alice, None) {
        Err(SecondFactorError::Required(challenge)) => {
            assert_eq!(challenge.method, SecondFactorMethod::Totp);
            assert_eq!(
                challenge.available,
                [SecondFactorMethod::Totp, SecondFactorMethod::Email]
            );
        }
        other => panic!("expected totp-required, got {other:?}"),
    }
    let code = code_at(now());
    assert!(check.check(&alice, Some(&code)).is_ok());
    assert!(matches!(
        check.check(&alice, Some(&code)),
        Err(SecondFactorError::Invalid(_))
    ));
    assert!(matches!(
        check.check(&alice, Some(&code_at(now() - Duration::minutes(5)))),
        Err(SecondFactorError::Invalid(_))
    ));
    assert!(matches!(
        check.check(&alice, Some("000000x")),
        Err(SecondFactorError::Invalid(_))
    ));
    *clock.0.lock().unwrap() += Duration::seconds(30);
    assert!(check
        .check(&alice, Some(&code_at(now() + Duration::seconds(30))))
        .is_ok());
}

#[test]
fn a_backup_code_works_once_in_place_of_a_totp_code() {
    let (check, _) = check_with(totp_user_store(&["abcd1234"]), no_mail());
    assert!(check.check(&user(true), Some("abcd1234")).is_ok());
    assert!(matches!(
        check.check(&user(true), Some("abcd1234")),
        Err(SecondFactorError::Invalid(_))
    ));
}

#[test]
fn an_email_user_is_sent_one_code_which_then_logs_them_in_once() {
    let sent = Arc::new(Mutex::new(Vec::<OutgoingMail>::new()));
    let mut mailer = MockMailer::new();
    let into = sent.clone();
    mailer.expect_send().returning(move |mail| {
        into.lock().unwrap().push(mail.clone());
        Ok(())
    });
    let store = email_user_store();
    let (check, _) = check_with(store.clone(), mailer);
    match check.check(&user(true), None) {
        Err(SecondFactorError::Required(challenge)) => {
            assert_eq!(challenge.method, SecondFactorMethod::Email);
            assert_eq!(challenge.code_generated, Some(true));
            assert_eq!(challenge.email_or_username.as_deref(), Some("alice"));
        }
        other => panic!("expected totp-required, got {other:?}"),
    }
    {
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "alice@example.org");
        assert!(sent[0].text.contains("123-456"), "{}", sent[0].text);
    }
    let stored = store.email_code(&"u1".into()).unwrap().unwrap();
    assert!(!stored.hash.contains("123456"), "only a hash is stored");

    // Asking again while the code works does not send another.
    match check.check(&user(true), None) {
        Err(SecondFactorError::Required(challenge)) => {
            assert_eq!(challenge.code_generated, Some(false));
            assert_eq!(challenge.code_expires, Some(stored.expires_at));
        }
        other => panic!("expected totp-required, got {other:?}"),
    }
    assert_eq!(sent.lock().unwrap().len(), 1);

    assert!(matches!(
        check.check(&user(true), Some("654-321")),
        Err(SecondFactorError::Invalid(_))
    ));
    assert!(check.check(&user(true), Some("123-456")).is_ok());
    assert!(matches!(
        check.check(&user(true), Some("123456")),
        Err(SecondFactorError::Invalid(_))
    ));
}

#[test]
fn email_codes_need_a_verified_address_and_a_failed_mail_kills_the_code() {
    let (check, _) = check_with(email_user_store(), no_mail());
    assert!(
        check.check(&user(false), None).is_ok(),
        "no address to send to"
    );

    let mut mailer = MockMailer::new();
    mailer.expect_send().returning(|_| {
        Err(MailError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    });
    let store = email_user_store();
    let (check, _) = check_with(store.clone(), mailer);
    assert!(matches!(
        check.check(&user(true), None),
        Err(SecondFactorError::Unexpected(_))
    ));
    let dead = store.email_code(&"u1".into()).unwrap().unwrap();
    assert!(!dead.is_usable(now(), 5));
}

#[test]
fn too_many_wrong_email_codes_kill_the_code() {
    let mut mailer = MockMailer::new();
    mailer.expect_send().returning(|_| Ok(()));
    let (check, _) = check_with(email_user_store(), mailer);
    let _ = check.check(&user(true), None);
    for _ in 0..4 {
        assert!(matches!(
            check.check(&user(true), Some("000000")),
            Err(SecondFactorError::Invalid(_))
        ));
    }
    assert!(matches!(
        check.check(&user(true), Some("000000")),
        Err(SecondFactorError::MaxAttempts(_))
    ));
    assert!(matches!(
        check.check(&user(true), Some("123456")),
        Err(SecondFactorError::MaxAttempts(_))
    ));
}

#[test]
fn users_without_a_second_factor_or_with_two_factor_off_pass_on_the_password() {
    let (check, _) = check_with(Arc::new(Memory::default()), no_mail());
    assert!(check.check(&user(true), None).is_ok());
    let clock = Arc::new(TestClock(Mutex::new(now())));
    let off = SecondFactorCheck::new(
        totp_user_store(&[]),
        Arc::new(MockOneTimeCodes::new()),
        Arc::new(no_mail()),
        clock,
        TwoFactorConfig {
            enabled: false,
            ..TwoFactorConfig::default()
        },
    );
    assert!(off.check(&user(true), None).is_ok());
}
