//! Logins and tokens under attack: failed logins are blocked by user and by address,
//! unknown and known users are refused alike, tokens expire and are revoked by a
//! re-import, an inactive user's links and sessions stop working, API routes are rate
//! limited, and a login storm is refused at the door instead of queueing.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use udd::api::Settings;

use crate::helpers::{
    altered_dump, edit_documents, fixture_dir, fixture_login, link_in, Login, ManualClock, TestApp,
};
use crate::openapi::OpenApi;

const NOT_LOGGED_IN: &str = r#"{"status":"error","message":"You must be logged in to do this."}"#;

/// Rate limiting off, so a test can make more calls than Rocket.Chat's 10 a minute.
fn without_rate_limit(settings: &mut Settings) {
    settings.rate_limit.enabled = false;
}

async fn login_answer(app: &TestApp, user: &str, password: &str) -> (u16, Value) {
    let response = app
        .post_login(json!({"user": user, "password": password}))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The dump in a temporary copy, with `edit` applied to each user document.
fn dump_with_users(edit: impl Fn(&mut Value)) -> tempfile::TempDir {
    altered_dump(|dir| edit_documents(&dir.join("users.json"), edit))
}

fn fixture_password(name: &str) -> String {
    let text = std::fs::read_to_string(fixture_dir().join("credentials.json")).unwrap();
    let creds: Value = serde_json::from_str(&text).unwrap();
    creds["passwords"][name].as_str().unwrap().to_owned()
}

async fn session_of(app: &TestApp, user: &str, password: &str) -> Login {
    let (status, body) = login_answer(app, user, password).await;
    assert_eq!(status, 200, "{body}");
    Login {
        user_id: body["data"]["userId"].as_str().unwrap().to_owned(),
        token: body["data"]["authToken"].as_str().unwrap().to_owned(),
    }
}

async fn me_status(app: &TestApp, login: &Login) -> (u16, String) {
    let response = app.get_as(login, "/api/v1/me").await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn thirty_wrong_passwords_then_the_right_one_is_blocked_until_the_block_lifts() {
    let clock = ManualClock::starting_now();
    let app = TestApp::builder()
        .with_clock(clock.clone())
        .configure(without_rate_limit)
        .spawn()
        .await;
    app.add_user("alice", "right");

    let mut errors = Vec::new();
    for _ in 0..30 {
        let (status, body) = login_answer(&app, "alice", "wrong").await;
        assert_eq!(status, 401, "{body}");
        errors.push(body["error"].as_str().unwrap().to_owned());
    }
    assert!(
        errors[..10].iter().all(|e| e == "Unauthorized"),
        "{errors:?}"
    );
    assert!(
        errors[10..]
            .iter()
            .all(|e| e == "error-login-blocked-for-user"),
        "blocked from the eleventh attempt: {errors:?}"
    );

    let (status, body) = login_answer(&app, "alice", "right").await;
    assert_eq!(status, 401, "the right password is blocked too: {body}");
    assert_eq!(
        body,
        json!({
            "status": "error",
            "error": "error-login-blocked-for-user",
            "message": "Login has been temporarily blocked For User"
        })
    );
    OpenApi::project().assert_response("/api/v1/login", "post", 401, &body);
    let (status, _) = login_answer(&app, "alice@example.org", "right").await;
    assert_eq!(status, 401, "by email address as well");

    clock.advance(chrono::Duration::minutes(5));
    let (status, body) = login_answer(&app, "alice", "right").await;
    assert_eq!(status, 200, "five minutes after the last failure: {body}");
}

#[tokio::test]
async fn an_address_with_too_many_failures_is_blocked_for_every_user() {
    let app = TestApp::builder()
        .configure(|settings| {
            without_rate_limit(settings);
            settings.login.attempts_until_block_by_ip = 5;
        })
        .spawn()
        .await;
    app.add_user("alice", "right");
    for n in 0..5 {
        let (status, _) = login_answer(&app, &format!("nobody-{n}"), "x").await;
        assert_eq!(status, 401);
    }
    let (status, body) = login_answer(&app, "alice", "right").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "error-login-blocked-for-ip", "{body}");
    assert_eq!(body["message"], "Login has been temporarily blocked For IP");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn unknown_and_known_users_are_refused_in_alike_times() {
    let app = TestApp::builder()
        .configure(without_rate_limit)
        .spawn()
        .await;
    app.add_user("alice", "right");
    // The first refusal of each kind pays one-off costs (connections, the decoy hash).
    login_answer(&app, "somebody", "x").await;
    login_answer(&app, "alice", "warm-up").await;

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..7 {
        for (user, times) in [("alice", &mut known), ("", &mut unknown)] {
            let user = if user.is_empty() {
                format!("nobody-{n}")
            } else {
                user.to_owned()
            };
            let started = Instant::now();
            let (status, body) = login_answer(&app, &user, &format!("wrong-{n}")).await;
            times.push(started.elapsed());
            assert_eq!(status, 401);
            assert_eq!(body["error"], "Unauthorized", "not blocked yet: {body}");
        }
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "a wrong password takes {known:?}, an unknown user {unknown:?}: the time tells them apart"
    );
}

fn fixture_token_issued_at() -> DateTime<Utc> {
    "2024-03-01T09:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn an_imported_token_stops_working_ninety_days_after_it_was_issued() {
    let clock = ManualClock::starting_at(fixture_token_issued_at() + chrono::Duration::days(89));
    let app = TestApp::builder()
        .with_clock(clock.clone())
        .configure(|settings| settings.accounts.login_expiration_days = 90)
        .spawn_with_sample()
        .await;
    let alice = fixture_login("alice");
    assert_eq!(me_status(&app, &alice).await.0, 200, "89 days old");

    clock.advance(chrono::Duration::days(2));
    assert_eq!(
        me_status(&app, &alice).await,
        (401, NOT_LOGGED_IN.to_owned()),
        "91 days old"
    );
    let fresh = session_of(&app, "alice", &fixture_password("alice")).await;
    assert_eq!(me_status(&app, &fresh).await.0, 200, "a new login works");
}

#[tokio::test]
async fn a_token_left_out_of_a_reimported_dump_stops_working() {
    let app = TestApp::builder()
        .configure(|settings| settings.auth.session_cache_seconds = 1)
        .spawn_with_sample()
        .await;
    let (alice, bob) = (fixture_login("alice"), fixture_login("bob"));
    assert_eq!(me_status(&app, &alice).await.0, 200);
    let own = session_of(&app, "alice", &fixture_password("alice")).await;

    let revoked = dump_with_users(|user| {
        if user["username"] == "alice" {
            user["services"]["resume"]["loginTokens"] = json!([]);
        }
    });
    app.import(revoked.path());

    assert_refused_soon(&app, &alice, "revoked in the dump").await;
    assert_eq!(me_status(&app, &bob).await.0, 200, "still listed");
    assert_eq!(
        me_status(&app, &own).await.0,
        200,
        "a session opened here is not the dump's to revoke"
    );
}

/// Asserts that `login`'s session is refused once the one second its last check is
/// remembered has passed (the apps above set `auth.session_cache_seconds = 1`). One
/// request after the wait, not a polling loop: `/api/v1` routes allow ten calls a minute.
async fn assert_refused_soon(app: &TestApp, login: &Login, what: &str) {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        me_status(app, login).await,
        (401, NOT_LOGGED_IN.to_owned()),
        "{what}"
    );
}

/// Waits for the outbox to hold a mail, and returns its link pointed at the app.
async fn mailed_link(app: &TestApp) -> String {
    let started = Instant::now();
    loop {
        if let Some(mail) = app.outbox().first() {
            return app.local_link(&link_in(mail));
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no mail came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_users_mailed_link_session_and_login_are_refused() {
    // Token checks are remembered for a second: a user made inactive by an import (in
    // production another process) loses their sessions within that time.
    let app = TestApp::builder()
        .with_workers()
        .configure(|settings| settings.auth.session_cache_seconds = 1)
        .spawn_with_sample()
        .await;
    let alice = fixture_login("alice");
    app.export_and_wait(&alice, None).await;
    let link = mailed_link(&app).await;
    let response = app.client.head(&link).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "the link works while alice is active"
    );
    let session = session_of(&app, "alice", &fixture_password("alice")).await;

    let deactivated = dump_with_users(|user| {
        if user["username"] == "alice" {
            user["active"] = json!(false);
        }
    });
    app.import(deactivated.path());

    let response = app.client.get(&link).send().await.unwrap();
    assert_eq!(
        response.status(),
        403,
        "the mailed link of an inactive user"
    );
    for login in [&session, &alice] {
        assert_refused_soon(&app, login, "a session of an inactive user").await;
    }
    let (status, body) = login_answer(&app, "alice", &fixture_password("alice")).await;
    assert_eq!((status, &body["error"]), (401, &json!("Unauthorized")));
}

fn header_number(response: &reqwest::Response, name: &str) -> i64 {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn api_calls_past_the_rate_limit_get_a_429_with_rocket_chats_headers_and_body() {
    let app = TestApp::builder().spawn().await;
    let alice = app.logged_in("alice").await;
    let started = Utc::now().timestamp_millis();
    for n in 1..=10 {
        let response = app.get_as(&alice, "/api/v1/me").await;
        assert_eq!(response.status(), 200, "call {n}");
        assert_eq!(header_number(&response, "x-ratelimit-limit"), 10);
        assert_eq!(header_number(&response, "x-ratelimit-remaining"), 10 - n);
        let reset = header_number(&response, "x-ratelimit-reset");
        assert!(
            (started..=started + 61_000).contains(&reset),
            "X-RateLimit-Reset {reset} is the window's end in epoch milliseconds"
        );
    }
    let response = app.get_as(&alice, "/api/v1/me").await;
    assert_eq!(response.status(), 429);
    assert_eq!(header_number(&response, "x-ratelimit-remaining"), 0);
    let wait = header_number(&response, "retry-after");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/me", "get", 429, &body);
    assert_eq!(
        body,
        json!({
            "success": false,
            "error": format!(
                "Error, too many requests. Please slow down. You must wait {wait} seconds \
                 before trying this endpoint again. [error-too-many-requests]"
            )
        })
    );

    let bob = app.logged_in("bob").await;
    assert_eq!(
        app.get_as(&bob, "/api/v1/me").await.status(),
        200,
        "another user from the same address has a budget of their own"
    );
    for n in 0..30 {
        let response = app
            .get_as(&alice, "/api/v1/users.requestDataDownload")
            .await;
        assert_eq!(
            response.status(),
            200,
            "poll {n}: the polled route allows more"
        );
        assert_eq!(header_number(&response, "x-ratelimit-limit"), 1_200);
    }
}

#[tokio::test]
async fn the_login_route_is_limited_per_address() {
    let app = TestApp::builder().spawn().await;
    app.add_user("alice", "right");
    for _ in 0..10 {
        let (status, _) = login_answer(&app, "nobody", "x").await;
        assert_eq!(status, 401);
    }
    let response = app
        .post_login(json!({"user": "alice", "password": "right"}))
        .await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    OpenApi::project().assert_response("/api/v1/login", "post", 429, &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_storm_past_the_password_queue_is_refused_at_once() {
    let app = TestApp::builder()
        .configure(|settings| {
            without_rate_limit(settings);
            settings.login.block_failed_logins = false;
            settings.login.password_check_threads = Some(1);
            settings.login.password_check_queue = 2;
        })
        .spawn()
        .await;
    let storm = (0..24).map(|n| {
        let (client, url) = (reqwest::Client::new(), app.url("/api/v1/login"));
        async move {
            let started = Instant::now();
            let response = client
                .post(url)
                .json(&json!({"user": format!("nobody-{n}"), "password": "x"}))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), started.elapsed())
        }
    });
    let answers = futures_util::future::join_all(storm).await;
    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, took)| *took)
        .collect();
    let checked = answers.iter().filter(|(status, _)| *status == 401).count();
    assert!(
        checked >= 3,
        "the running and queued logins are checked: {answers:?}"
    );
    assert!(!refused.is_empty(), "the rest are refused: {answers:?}");
    assert_eq!(checked + refused.len(), answers.len(), "{answers:?}");
}
