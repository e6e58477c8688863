//! `user_data.link_requires_login`: the mailed link leads to a sign-in first.

use crate::helpers::{fixture_login, link_in, TestApp, WithLogin};

/// Alice's export done and its mail in the outbox; returns the app and the mailed link.
async fn mailed_link(requires_login: bool) -> (TestApp, String) {
    let app = TestApp::builder()
        .with_workers()
        .configure(move |s| s.user_data.link_requires_login = requires_login)
        .spawn_with_sample()
        .await;
    app.export_and_wait(&fixture_login("alice"), None).await;
    let outbox = app.outbox_with_mail().await;
    let link = app.local_link(&link_in(&outbox[0]));
    (app, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_link_requires_login_the_token_alone_asks_to_sign_in_first() {
    let (app, link) = mailed_link(true).await;
    let anonymous = app.client.get(&link).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = anonymous.text().await.unwrap();
    assert!(page.contains("Sign in first"), "{page}");
    assert!(
        page.contains("open the link from your email again"),
        "{page}"
    );

    // The owner, logged in, downloads with the link's token or without it.
    let alice = fixture_login("alice");
    let with_token = app
        .get_as(&alice, link.trim_start_matches(&app.url("")))
        .await;
    assert_eq!(with_token.status(), 200);
    assert_eq!(with_token.headers()["content-type"], "application/zip");
    let path = link
        .split('?')
        .next()
        .unwrap()
        .trim_start_matches(&app.url(""));
    let by_cookie = app.get(path).with_cookies_of(&alice).send().await.unwrap();
    assert_eq!(by_cookie.status(), 200);

    // Someone else, logged in, gets nothing even with the token.
    let bob = app
        .get_as(&fixture_login("bob"), link.trim_start_matches(&app.url("")))
        .await;
    assert_eq!(bob.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_token_alone_still_downloads() {
    let (app, link) = mailed_link(false).await;
    let anonymous = app.client.get(&link).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
}
