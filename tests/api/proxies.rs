//! Behind reverse proxies: `X-Forwarded-For` names the client only on connections from
//! `server.trusted_proxies`, for login blocking and for the download log. (The tests
//! connect from 127.0.0.1; a real nginx in front is in `behind_nginx.rs`.)

use serde_json::{json, Value};
use udd::adapters::SqliteDownloadLog;

use crate::helpers::{alices_export, TestApp, WithLogin};

async fn login_from(app: &TestApp, forwarded_for: &str, user: &str, password: &str) -> Value {
    let response = app
        .post("/api/v1/login")
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"user": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body["httpStatus"] = status.into();
    body
}

async fn app_blocking_after_three(trusted: &[&str]) -> TestApp {
    let trusted: Vec<String> = trusted.iter().map(|p| (*p).to_owned()).collect();
    let app = TestApp::builder()
        .configure(move |settings| {
            settings.rate_limit.enabled = false;
            settings.login.attempts_until_block_by_ip = 3;
            settings.server.trusted_proxies = trusted;
        })
        .spawn()
        .await;
    app.add_user("alice", "right");
    app
}

#[tokio::test]
async fn behind_a_trusted_proxy_logins_are_blocked_by_the_forwarded_client_address() {
    let app = app_blocking_after_three(&["127.0.0.1"]).await;
    for n in 0..3 {
        let answer = login_from(&app, "198.51.100.7", &format!("nobody-{n}"), "x").await;
        assert_eq!(answer["httpStatus"], 401);
    }
    let blocked = login_from(&app, "198.51.100.7", "alice", "right").await;
    assert_eq!(blocked["error"], "error-login-blocked-for-ip", "{blocked}");
    // Another client behind the same proxy is not blocked, and neither is the proxy.
    let other = login_from(&app, "198.51.100.8", "alice", "right").await;
    assert_eq!(other["httpStatus"], 200, "{other}");
    // A forged entry left of the proxy's own is not the client.
    let forged = login_from(&app, "198.51.100.8, 198.51.100.7", "alice", "right").await;
    assert_eq!(forged["error"], "error-login-blocked-for-ip", "{forged}");
    let spoofing = login_from(&app, "198.51.100.7, 198.51.100.9", "alice", "right").await;
    assert_eq!(
        spoofing["httpStatus"], 200,
        "the blocked address left of another is not the client: {spoofing}"
    );
}

#[tokio::test]
async fn from_an_untrusted_peer_the_forwarded_header_changes_nothing() {
    // A proxy is declared, but the connection does not come from it.
    let app = app_blocking_after_three(&["10.0.0.0/8"]).await;
    for n in 0..3 {
        let answer = login_from(&app, &format!("198.51.100.{n}"), "nobody", "x").await;
        assert_eq!(answer["httpStatus"], 401);
    }
    let blocked = login_from(&app, "203.0.113.1", "alice", "right").await;
    assert_eq!(
        blocked["error"], "error-login-blocked-for-ip",
        "every attempt counted against the real peer, whatever the header said: {blocked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_log_records_the_client_a_trusted_proxy_names() {
    let (app, alice, done) = alices_export(
        TestApp::builder()
            .configure(|settings| settings.server.trusted_proxies = vec!["127.0.0.0/8".into()]),
        None,
    )
    .await;
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    let url = done["exportOperation"]["url"].as_str().unwrap();
    let response = app
        .get(url)
        .with_login(&alice)
        .header("X-Forwarded-For", "203.0.113.66, 198.51.100.7, 127.0.0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let log = SqliteDownloadLog::new(app.database.clone())
        .for_file(file_id)
        .unwrap();
    assert_eq!(
        log.iter()
            .map(|r| r.client_address.as_deref())
            .collect::<Vec<_>>(),
        [Some("198.51.100.7")],
        "past the trusted 127.0.0.9, before the forged 203.0.113.66"
    );
}
