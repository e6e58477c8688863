use serde_json::{json, Value};

use crate::helpers::{spawn_app, Login, WithLogin};
use crate::openapi::OpenApi;

const NOT_LOGGED_IN: &str = r#"{"status":"error","message":"You must be logged in to do this."}"#;

#[tokio::test]
async fn login_with_username_returns_user_id_token_and_me_without_secrets() {
    let app = spawn_app().await;
    let id = app.add_user("alice", "s3cret!");
    let response = app
        .post_login(json!({"username": "alice", "password": "s3cret!"}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/login", "post", 200, &body);
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["userId"], id.as_str());
    assert_eq!(body["data"]["me"]["username"], "alice");
    assert_eq!(
        body["data"]["me"]["emails"][0]["address"],
        "alice@example.org"
    );
    let text = body.to_string();
    for secret in ["bcrypt", "password", "$2", "hashedToken"] {
        assert!(!text.contains(secret), "`{secret}` leaked in {text}");
    }
}

#[tokio::test]
async fn login_accepts_user_field_and_email_address() {
    let app = spawn_app().await;
    app.add_user("bob", "pw");
    let by_user = app
        .post_login(json!({"user": "bob", "password": "pw"}))
        .await;
    assert_eq!(by_user.status(), 200);
    let by_email = app
        .post_login(json!({"user": "BOB@example.org", "password": "pw"}))
        .await;
    assert_eq!(by_email.status(), 200);
}

#[tokio::test]
async fn bad_credentials_are_a_401_whatever_was_wrong() {
    let app = spawn_app().await;
    app.add_user("alice", "right");
    for body in [
        json!({"user": "alice", "password": "wrong"}),
        json!({"user": "nobody", "password": "right"}),
        json!({"user": "alice"}),
        json!({"password": "right"}),
        json!({"user": "alice", "password": {"digest": sha256_hex("wrong"), "algorithm": "sha-256"}}),
        json!({"user": "alice", "password": {"digest": sha256_hex("right"), "algorithm": "md5"}}),
    ] {
        let response = app.post_login(body.clone()).await;
        assert_eq!(response.status(), 401, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer,
            json!({"status": "error", "error": "Unauthorized", "message": "Unauthorized"})
        );
        OpenApi::project().assert_response("/api/v1/login", "post", 401, &answer);
    }
}

fn sha256_hex(password: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(password.as_bytes()))
}

#[tokio::test]
async fn a_password_sent_as_rocket_chats_sha256_digest_logs_in() {
    let app = spawn_app().await;
    app.add_user("alice", "right");
    let response = app
        .post_login(json!({
            "user": "alice",
            "password": {"digest": sha256_hex("right"), "algorithm": "sha-256"}
        }))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["me"]["username"], "alice");
}

#[tokio::test]
async fn a_malformed_login_body_is_a_400_not_a_crash() {
    let app = spawn_app().await;
    let response = app
        .post("/api/v1/login")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorType"], "invalid-params");
    OpenApi::project().assert_response("/api/v1/login", "post", 400, &body);
}

#[tokio::test]
async fn me_shows_the_logged_in_user() {
    let app = spawn_app().await;
    let login = app.logged_in("carol").await;
    let response = app.get_as(&login, "/api/v1/me").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/me", "get", 200, &body);
    assert_eq!(body["_id"], login.user_id.as_str());
    assert_eq!(body["username"], "carol");
    assert_eq!(body["success"], true);
}

#[tokio::test]
async fn missing_or_wrong_auth_headers_get_rocket_chats_exact_401_body() {
    let app = spawn_app().await;
    let login = app.logged_in("dave").await;
    let other = app.logged_in("erin").await;
    let cases = [
        None,
        Some(Login {
            user_id: login.user_id.clone(),
            token: "wrong".into(),
        }),
        Some(Login {
            user_id: other.user_id.clone(),
            token: login.token.clone(),
        }),
        Some(Login {
            user_id: String::new(),
            token: login.token.clone(),
        }),
    ];
    for path in ["/api/v1/me", "/api/v1/users.requestDataDownload"] {
        for case in &cases {
            let mut request = app.get(path);
            if let Some(l) = case {
                request = request.with_login(l);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} {case:?}");
            let text = response.text().await.unwrap();
            assert_eq!(text, NOT_LOGGED_IN, "{path} {case:?}");
            let body: Value = serde_json::from_str(&text).unwrap();
            OpenApi::project().assert_response(path, "get", 401, &body);
        }
    }
}

#[tokio::test]
async fn logout_ends_that_session_only() {
    let app = spawn_app().await;
    let first = app.logged_in("frank").await;
    let response = app
        .post_login(json!({"user": "frank", "password": "correct horse"}))
        .await;
    let body: Value = response.json().await.unwrap();
    let second = Login {
        user_id: first.user_id.clone(),
        token: body["data"]["authToken"].as_str().unwrap().to_owned(),
    };
    assert_ne!(first.token, second.token);

    let response = app
        .post("/api/v1/logout")
        .with_login(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/logout", "post", 200, &body);

    assert_eq!(app.get_as(&first, "/api/v1/me").await.status(), 401);
    assert_eq!(app.get_as(&second, "/api/v1/me").await.status(), 200);
}
