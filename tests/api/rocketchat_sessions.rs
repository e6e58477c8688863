//! `auth.mode = "rocketchat"`: sessions are checked live with the workspace's
//! `GET /api/v1/me` (a stand-in here), cached briefly.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{fixture_dir, fixture_login, Login, TestApp, WithLogin};
use crate::openapi::OpenApi;
use crate::stand_in::RocketChatStandIn;
use udd::api::settings::AuthMode;

const NOT_LOGGED_IN: &str = r#"{"status":"error","message":"You must be logged in to do this."}"#;

async fn app_beside(url: &str, valid_seconds: u64) -> TestApp {
    let url = url.to_owned();
    TestApp::builder()
        .configure(move |s| {
            s.auth.mode = AuthMode::Rocketchat;
            s.rocketchat.url = Some(url);
            s.rocketchat.cache_valid_seconds = valid_seconds;
            s.rocketchat.timeout_seconds = 1;
        })
        .spawn()
        .await
}

fn login(user_id: &str, token: &str) -> Login {
    Login {
        user_id: user_id.into(),
        token: token.into(),
    }
}

#[tokio::test]
async fn a_token_only_rocket_chat_knows_requests_a_download_and_the_export_goes_ahead() {
    let rc = RocketChatStandIn::start();
    rc.accept(
        "ssoUser00000001",
        "sso-token",
        "sandra",
        "sandra@example.org",
    );
    let app = TestApp::builder()
        .with_workers()
        .configure({
            let url = rc.url.clone();
            move |s| {
                s.auth.mode = AuthMode::Rocketchat;
                s.rocketchat.url = Some(url);
            }
        })
        .spawn()
        .await;
    let sandra = login("ssoUser00000001", "sso-token");

    let (status, body) = app.request_download(&sandra, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requested"], true);
    assert_eq!(body["exportOperation"]["userId"], "ssoUser00000001");

    // udd now knows the user as Rocket.Chat described them.
    let user = app.services.users.get(&"ssoUser00000001".into()).unwrap();
    assert_eq!(user.username, "sandra");
    assert_eq!(user.emails[0].address, "sandra@example.org");

    let done = app.export_and_wait(&sandra, None).await;
    assert_eq!(done["exportOperation"]["status"], "completed");
    assert!(
        rc.asked() <= 2,
        "answers are cached: asked {} times",
        rc.asked()
    );
}

#[tokio::test]
async fn an_imported_user_is_matched_by_id_and_refreshed_from_rocket_chat() {
    let rc = RocketChatStandIn::start();
    let app = app_beside(&rc.url, 60).await;
    app.import(&fixture_dir());
    let alice = fixture_login("alice");
    rc.accept(
        &alice.user_id,
        "fresh-sso-token",
        "alice",
        "alice@new.example.org",
    );

    let response = app
        .get_as(&login(&alice.user_id, "fresh-sso-token"), "/api/v1/me")
        .await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["_id"], alice.user_id.as_str());
    assert_eq!(me["name"], "alice (Rocket.Chat)");
    assert_eq!(me["emails"][0]["address"], "alice@new.example.org");

    // The token the dump carried is Rocket.Chat's to judge, and it does not know it.
    let (status, body) = app.request_download(&alice, None).await;
    assert_eq!((status, body.to_string()), (401, NOT_LOGGED_IN.to_owned()));
}

#[tokio::test]
async fn a_token_revoked_in_rocket_chat_stops_working_after_the_cache_time() {
    let rc = RocketChatStandIn::start();
    rc.accept("rcUser000000001", "tok-1", "rita", "rita@example.org");
    let app = app_beside(&rc.url, 1).await;
    let rita = login("rcUser000000001", "tok-1");

    assert_eq!(app.request_download(&rita, None).await.0, 200);
    rc.revoke("rcUser000000001", "tok-1");
    let (status, _) = app.request_download(&rita, None).await;
    assert_eq!(status, 200, "still within the cache time");
    assert_eq!(rc.asked(), 1);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) = app.request_download(&rita, None).await;
    assert_eq!((status, body.to_string()), (401, NOT_LOGGED_IN.to_owned()));
    assert_eq!(rc.asked(), 2);
}

#[tokio::test]
async fn a_rocket_chat_that_fails_or_cannot_be_reached_is_a_503_never_a_401() {
    let rc = RocketChatStandIn::start();
    rc.accept("rcUser000000001", "tok-1", "rita", "rita@example.org");
    let app = app_beside(&rc.url, 60).await;
    let rita = login("rcUser000000001", "tok-1");
    let openapi = OpenApi::project();

    rc.fail_with(Some(503));
    for path in ["/api/v1/users.requestDataDownload", "/api/v1/me"] {
        let response = app.get_as(&rita, path).await;
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let body: Value = response.json().await.unwrap();
        openapi.assert_response(path, "get", 503, &body);
        assert_eq!(body["errorType"], "error-rocketchat-unavailable", "{body}");
    }

    // Too slow: the configured 1 s timeout answers, not the 3 s server.
    rc.fail_with(None);
    rc.slow_down(Duration::from_secs(3));
    let started = std::time::Instant::now();
    assert_eq!(app.request_download(&rita, None).await.0, 503);
    assert!(
        started.elapsed() < Duration::from_millis(2_800),
        "{:?}",
        started.elapsed()
    );

    // Nothing listening at all.
    let url = rc.url.clone();
    drop(rc);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = app_beside(&nowhere, 60).await;
    let (status, body) = app.request_download(&rita, None).await;
    assert_eq!(status, 503, "{body} (was {url})");
}

#[tokio::test]
async fn rocket_chats_cookies_work_too_and_headers_win_over_them() {
    let rc = RocketChatStandIn::start();
    rc.accept("rcUser000000001", "tok-1", "rita", "rita@example.org");
    let app = app_beside(&rc.url, 60).await;
    let path = app.url("/api/v1/users.requestDataDownload");

    let by_cookie = app
        .client
        .get(&path)
        .header("Cookie", "rc_uid=rcUser000000001; rc_token=tok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    let headers_win = app
        .client
        .get(&path)
        .header("Cookie", "rc_uid=rcUser000000001; rc_token=tok-1")
        .header("X-User-Id", "rcUser000000001")
        .header("X-Auth-Token", "not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(headers_win.status(), 401);
    assert_eq!(headers_win.text().await.unwrap(), NOT_LOGGED_IN);
}

#[tokio::test]
async fn password_login_is_off_and_logout_leaves_rocket_chats_session_alone() {
    let rc = RocketChatStandIn::start();
    rc.accept("rcUser000000001", "tok-1", "rita", "rita@example.org");
    let app = app_beside(&rc.url, 60).await;
    app.import(&fixture_dir());

    let response = app
        .post_login(json!({"user": "alice", "password": "alice-pass-0"}))
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/login", "post", 401, &body);
    assert_eq!(body["error"], "error-password-login-disabled");

    let rita = login("rcUser000000001", "tok-1");
    let logout = app
        .post("/api/v1/logout")
        .with_login(&rita)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let body: Value = logout.json().await.unwrap();
    assert_eq!(body["status"], "success");
    // Rocket.Chat's session is its own: it still works, checked again with Rocket.Chat.
    let asked = rc.asked();
    assert_eq!(app.request_download(&rita, None).await.0, 200);
    assert_eq!(rc.asked(), asked + 1);
}
