//! Second factors of udd's own logins (`auth.mode = "local"`), imported from Rocket.Chat:
//! a TOTP user (bob) and an e-mail code user (carol).

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{altered_dump, edit_documents, TestApp};
use crate::openapi::OpenApi;
use udd::adapters::RecordingMailer;
use udd::domain::{TotpRule, TotpSecret};

/// Bob's authenticator secret (base32), as Rocket.Chat keeps it in `services.totp.secret`.
const BOB_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub(crate) const BOB_BACKUP: &str = "q7Ke8Xz2";

/// The sample workspace with TOTP turned on for bob and e-mail codes for carol.
pub(crate) fn dump_with_second_factors() -> tempfile::TempDir {
    altered_dump(|dir| {
        edit_documents(&dir.join("users.json"), |doc| {
            match doc["username"].as_str() {
                Some("bob") => {
                    doc["services"]["totp"] = json!({
                        "enabled": true,
                        "secret": BOB_SECRET,
                        "hashedBackup": [hex::encode(Sha256::digest(BOB_BACKUP.as_bytes()))],
                    });
                }
                Some("carol") => doc["services"]["email2fa"] = json!({"enabled": true}),
                _ => {}
            }
        })
    })
}

fn bob_code(at: chrono::DateTime<Utc>) -> String {
    TotpRule::default().code_at(&TotpSecret::from_base32(BOB_SECRET).unwrap(), at)
}

async fn login(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app.post_login(body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_totp_user_needs_a_current_code_and_each_code_works_once() {
    let app = TestApp::builder().spawn().await;
    let dump = dump_with_second_factors();
    app.import(dump.path());
    let openapi = OpenApi::project();

    let (status, body) = login(&app, json!({"user": "bob", "password": "bob-pass-1"})).await;
    assert_eq!(status, 401, "{body}");
    openapi.assert_response("/api/v1/login", "post", 401, &body);
    assert_eq!(body["error"], "totp-required");
    assert_eq!(body["message"], "TOTP Required");
    assert_eq!(body["details"]["method"], "totp");

    // A wrong password with a good code is still a wrong password.
    let code = bob_code(Utc::now());
    let (status, body) = login(
        &app,
        json!({"user": "bob", "password": "nope", "code": code}),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("Unauthorized"))
    );

    let (status, body) = login(
        &app,
        json!({"user": "bob", "password": "bob-pass-1", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["authToken"].as_str().unwrap().to_owned();
    let me = app
        .get("/api/v1/me")
        .header("X-User-Id", body["data"]["userId"].as_str().unwrap())
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    for (what, code) in [
        ("the same code again", code.clone()),
        (
            "a code from five minutes ago",
            bob_code(Utc::now() - Duration::minutes(5)),
        ),
        ("six digits of nothing", "000000".to_owned()),
    ] {
        let (status, body) = login(
            &app,
            json!({"user": "bob", "password": "bob-pass-1", "code": code}),
        )
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "totp-invalid", "{what}");
        openapi.assert_response("/api/v1/login", "post", 401, &body);
    }
}

#[tokio::test]
async fn a_backup_code_logs_in_once_and_the_code_may_come_in_a_header() {
    let app = TestApp::builder().spawn().await;
    let dump = dump_with_second_factors();
    app.import(dump.path());
    let by_header = app
        .post("/api/v1/login")
        .header("X-2fa-Code", BOB_BACKUP)
        .json(&json!({"user": "bob", "password": "bob-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    let (status, body) = login(
        &app,
        json!({"user": "bob", "password": "bob-pass-1", "code": BOB_BACKUP}),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("totp-invalid"))
    );
}

#[tokio::test]
async fn an_email_user_gets_a_code_by_mail_and_logs_in_with_it_once() {
    let mailer = Arc::new(RecordingMailer::new());
    let app = TestApp::builder().with_mailer(mailer.clone()).spawn().await;
    let dump = dump_with_second_factors();
    app.import(dump.path());
    let password = json!({"user": "carol", "password": "carol-pass-2"});

    let (status, body) = login(&app, password.clone()).await;
    assert_eq!(status, 401, "{body}");
    OpenApi::project().assert_response("/api/v1/login", "post", 401, &body);
    assert_eq!(body["error"], "totp-required");
    assert_eq!(body["details"]["method"], "email");
    assert_eq!(body["details"]["codeGenerated"], true);
    assert_eq!(body["details"]["emailOrUsername"], "carol");

    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "carol@example.com");
    assert_eq!(sent[0].subject, "Authentication code");
    let code = code_in(&sent[0].text);

    // Asking again while the code works sends no second mail.
    let (_, again) = login(&app, password.clone()).await;
    assert_eq!(again["details"]["codeGenerated"], false);
    assert_eq!(mailer.sent().len(), 1);

    let mut with_code = password.clone();
    with_code["code"] = json!(code);
    let (status, body) = login(&app, with_code.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["username"], "carol");

    let (status, body) = login(&app, with_code).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("totp-invalid"))
    );
}

/// The `123-456` code in a mail's text.
fn code_in(text: &str) -> String {
    text.split_whitespace()
        .find(|word| {
            word.len() == 7
                && word.as_bytes()[3] == b'-'
                && word.bytes().filter(u8::is_ascii_digit).count() == 6
        })
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_owned()
}
