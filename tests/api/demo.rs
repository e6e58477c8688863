use udd::app::{DemoSpec, DEMO_PASSWORD};
use udd::ports::NoProgress;

use crate::helpers::spawn_app;

fn spec(seed: u64) -> DemoSpec {
    DemoSpec {
        users: 8,
        rooms: 12,
        messages: 1_500,
        seed,
    }
}

#[tokio::test]
async fn the_same_seed_gives_identical_tables_and_another_seed_does_not() {
    let (a, b, c) = (spawn_app().await, spawn_app().await, spawn_app().await);
    a.services.demo.execute(spec(11), &NoProgress).unwrap();
    b.services.demo.execute(spec(11), &NoProgress).unwrap();
    c.services.demo.execute(spec(12), &NoProgress).unwrap();
    let fingerprint = a.fingerprint();
    assert_eq!(fingerprint, b.fingerprint());
    assert_ne!(fingerprint, c.fingerprint());
    assert_eq!(
        fingerprint
            .iter()
            .find(|t| t.table == "messages")
            .unwrap()
            .rows,
        1_500
    );
    assert_eq!(
        fingerprint
            .iter()
            .find(|t| t.table == "users")
            .unwrap()
            .rows,
        8
    );
}

#[tokio::test]
async fn running_the_same_demo_twice_changes_nothing() {
    let app = spawn_app().await;
    app.services.demo.execute(spec(5), &NoProgress).unwrap();
    let first = app.fingerprint();
    app.services.demo.execute(spec(5), &NoProgress).unwrap();
    assert_eq!(app.fingerprint(), first);
}

#[tokio::test]
async fn demo_users_log_in_with_the_demo_password() {
    let app = spawn_app().await;
    let summary = app.services.demo.execute(spec(1), &NoProgress).unwrap();
    assert_eq!(summary.usernames[0], "alice");
    let response = app
        .post_login(serde_json::json!({"user": "alice", "password": DEMO_PASSWORD}))
        .await;
    assert_eq!(response.status(), 200);
}
