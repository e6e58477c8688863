use chrono::{DateTime, Duration};
use udd_domain::two_factor::{backup_code_hash, email_code_hash};
use udd_domain::{Email, EmailCode, EmailCodeCheck, SecondFactors, TotpSecret, User};
use udd_ports::{
    RemoteUser, SecondFactorStore, UserProfiles, Users, WorkspaceUser, WorkspaceWriter,
};

use super::super::testing;
use super::super::{SqliteUsers, SqliteWorkspace};

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn dumped(id: &str, username: &str, factors: SecondFactors, backup: &[&str]) -> WorkspaceUser {
    let user = User {
        emails: vec![Email {
            address: format!("{username}@example.org"),
            verified: true,
        }],
        roles: vec!["user".into()],
        services: vec!["password".into(), "totp".into()],
        ..User::new(id, username, DateTime::UNIX_EPOCH)
    };
    WorkspaceUser {
        password_bcrypt: Some("$2b$10$hash".into()),
        second_factors: factors,
        backup_codes: backup.iter().map(|c| backup_code_hash(c)).collect(),
        ..WorkspaceUser::new(user)
    }
}

fn totp() -> SecondFactors {
    SecondFactors {
        totp: Some(TotpSecret::from_base32(SECRET).unwrap()),
        email: false,
    }
}

#[test]
fn imported_factors_are_read_back_and_unknown_users_have_none() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let workspace = SqliteWorkspace::new(db.clone());
    let users = SqliteUsers::new(db);
    let email = SecondFactors {
        totp: None,
        email: true,
    };
    workspace.upsert_users(&[
        dumped("u1", "alice", totp(), &[]),
        dumped("u2", "bob", email.clone(), &[]),
    ])?;
    assert_eq!(users.of(&"u1".into())?, totp());
    assert_eq!(
        users.of(&"u1".into())?.totp.unwrap().expose_base32(),
        SECRET
    );
    assert_eq!(users.of(&"u2".into())?, email);
    assert_eq!(users.of(&"nobody".into())?, SecondFactors::default());
    // Turning TOTP off in Rocket.Chat and importing again turns it off here.
    workspace.upsert_users(&[dumped("u1", "alice", SecondFactors::default(), &[])])?;
    assert_eq!(users.of(&"u1".into())?, SecondFactors::default());
    Ok(())
}

#[test]
fn a_totp_step_is_claimed_once_and_older_steps_never_after_it() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    SqliteWorkspace::new(db.clone()).upsert_users(&[dumped("u1", "alice", totp(), &[])])?;
    let users = SqliteUsers::new(db);
    assert!(users.claim_totp_step(&"u1".into(), 100)?);
    assert!(
        !users.claim_totp_step(&"u1".into(), 100)?,
        "the same code again"
    );
    assert!(!users.claim_totp_step(&"u1".into(), 99)?, "an older code");
    assert!(users.claim_totp_step(&"u1".into(), 101)?);
    assert!(!users.claim_totp_step(&"nobody".into(), 1)?);
    Ok(())
}

#[test]
fn a_backup_code_works_once_even_after_a_reimport() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let workspace = SqliteWorkspace::new(db.clone());
    let users = SqliteUsers::new(db);
    let item = dumped("u1", "alice", totp(), &["abcd1234", "efgh5678"]);
    workspace.upsert_users(std::slice::from_ref(&item))?;
    let code = backup_code_hash("abcd1234");
    assert!(users.use_backup_code(&"u1".into(), &code)?);
    assert!(!users.use_backup_code(&"u1".into(), &code)?);
    assert!(!users.use_backup_code(&"u1".into(), &backup_code_hash("zzzz9999"))?);
    workspace.upsert_users(&[item])?;
    assert!(
        !users.use_backup_code(&"u1".into(), &code)?,
        "used here, still used"
    );
    assert!(users.use_backup_code(&"u1".into(), &backup_code_hash("efgh5678"))?);
    Ok(())
}

#[test]
fn an_emailed_code_is_single_use_counts_wrong_tries_and_expires() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    SqliteWorkspace::new(db.clone()).upsert_users(&[dumped("u1", "alice", totp(), &[])])?;
    let users = SqliteUsers::new(db);
    let now = DateTime::UNIX_EPOCH + Duration::days(20_000);
    let right = email_code_hash("u1", "123456");
    let wrong = email_code_hash("u1", "654321");
    assert_eq!(
        users.check_email_code(&"u1".into(), &right, now, 5)?,
        EmailCodeCheck::NoCode
    );
    let code = EmailCode {
        hash: right.clone(),
        expires_at: now + Duration::minutes(10),
        failed_attempts: 0,
    };
    users.put_email_code(&"u1".into(), &code)?;
    assert_eq!(users.email_code(&"u1".into())?, Some(code.clone()));
    assert_eq!(
        users.check_email_code(&"u1".into(), &wrong, now, 5)?,
        EmailCodeCheck::Invalid
    );
    assert_eq!(
        users.email_code(&"u1".into())?.map(|c| c.failed_attempts),
        Some(1)
    );
    assert_eq!(
        users.check_email_code(&"u1".into(), &right, now, 5)?,
        EmailCodeCheck::Accepted
    );
    assert_eq!(
        users.check_email_code(&"u1".into(), &right, now, 5)?,
        EmailCodeCheck::NoCode
    );
    assert_eq!(users.email_code(&"u1".into())?, None);

    users.put_email_code(&"u1".into(), &code)?;
    let later = now + Duration::minutes(10);
    assert_eq!(
        users.check_email_code(&"u1".into(), &right, later, 5)?,
        EmailCodeCheck::NoCode
    );

    users.put_email_code(&"u1".into(), &code)?;
    for _ in 0..4 {
        assert_eq!(
            users.check_email_code(&"u1".into(), &wrong, now, 5)?,
            EmailCodeCheck::Invalid
        );
    }
    assert_eq!(
        users.check_email_code(&"u1".into(), &wrong, now, 5)?,
        EmailCodeCheck::TooManyAttempts
    );
    assert_eq!(
        users.check_email_code(&"u1".into(), &right, now, 5)?,
        EmailCodeCheck::TooManyAttempts,
        "a code that ran out of attempts is dead"
    );
    assert!(matches!(
        users.put_email_code(&"nobody".into(), &code),
        Err(udd_ports::StoreError::NotFound)
    ));
    Ok(())
}

fn remote(id: &str, username: &str, address: &str) -> RemoteUser {
    RemoteUser {
        id: id.into(),
        username: username.into(),
        name: Some(format!("{username} from Rocket.Chat")),
        emails: vec![Email {
            address: address.into(),
            verified: true,
        }],
        active: true,
        roles: vec!["user".into()],
        language: Some("de".into()),
    }
}

#[test]
fn a_user_rocket_chat_vouches_for_is_created_or_refreshed_keeping_the_rest() -> anyhow::Result<()> {
    let (_dir, db) = testing::database();
    let workspace = SqliteWorkspace::new(db.clone());
    let users = SqliteUsers::new(db);
    let at = DateTime::UNIX_EPOCH + Duration::days(20_000);

    let created = users.refresh(&remote("u9", "sso-user", "sso@example.org"), at)?;
    assert_eq!(created.username, "sso-user");
    assert_eq!(created.created_at, at);
    assert_eq!(users.get(&"u9".into())?, created);

    workspace.upsert_users(&[dumped("u1", "alice", totp(), &[])])?;
    let mut renamed = remote("u1", "alice2", "alice2@example.org");
    renamed.active = false;
    let refreshed = users.refresh(&renamed, at)?;
    assert_eq!(refreshed.username, "alice2");
    assert_eq!(refreshed.emails[0].address, "alice2@example.org");
    assert!(!refreshed.active);
    assert_eq!(
        refreshed.created_at,
        DateTime::UNIX_EPOCH,
        "creation date kept"
    );
    assert_eq!(refreshed.services, ["password", "totp"], "services kept");
    let credentials = users.credentials_by_login("alice2")?;
    assert_eq!(credentials.password_bcrypt.as_deref(), Some("$2b$10$hash"));
    assert_eq!(users.of(&"u1".into())?, totp(), "second factors kept");

    // A username Rocket.Chat gave to another user moves to them.
    let taker = users.refresh(&remote("u2", "alice2", "x@example.org"), at)?;
    assert_eq!(taker.username, "alice2");
    assert_eq!(users.get(&"u1".into())?.username, "~moved~u1");
    Ok(())
}
