//! Repeat `users.requestDataDownload` calls while a worker exports: clients follow an
//! export's progress with them, so many arrive together while batches are committed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use udd::app::{DemoSpec, DEMO_PASSWORD};
use udd::ports::NoProgress;

use crate::helpers::{Login, TestApp};
use crate::openapi::OpenApi;

const PATH: &str = "/api/v1/users.requestDataDownload";
const CLIENTS: usize = 200;

/// The messages the answer says are exported so far, over all rooms.
fn exported(body: &Value) -> u64 {
    body["exportOperation"]["roomList"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .map(|room| room["exportedCount"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeat_requests_during_an_export_stay_valid_and_never_go_backwards() {
    let app = TestApp::builder()
        .with_workers()
        .batch_size(50)
        .configure(|s| s.rate_limit.enabled = false)
        .spawn()
        .await;
    let spec = DemoSpec {
        users: 6,
        rooms: 40,
        messages: 40_000,
        seed: 3,
    };
    app.services.demo.execute(spec, &NoProgress).unwrap();
    let response = app
        .post_login(json!({"user": "alice", "password": DEMO_PASSWORD}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let login = Login {
        user_id: body["data"]["userId"].as_str().unwrap().to_owned(),
        token: body["data"]["authToken"].as_str().unwrap().to_owned(),
    };
    let (status, first) = app.request_download(&login, Some("true")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["requested"], true);
    let id = first["exportOperation"]["_id"].clone();

    let openapi = OpenApi::project();
    let started = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    let mut completed = false;
    while !completed {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the export did not complete"
        );
        // Every client asks twice in a row; the clients run all at once.
        let clients = (0..CLIENTS).map(|_| async {
            let (s1, a1) = app.request_download(&login, Some("true")).await;
            let (s2, a2) = app.request_download(&login, Some("true")).await;
            ((s1, a1), (s2, a2))
        });
        for (one, two) in futures_util::future::join_all(clients).await {
            for (status, body) in [&one, &two] {
                assert_eq!(*status, 200, "{body}");
                openapi.assert_response(PATH, "get", 200, body);
                assert_eq!(body["requested"], false, "{body}");
                assert_eq!(body["exportOperation"]["_id"], id, "{body}");
                seen.insert(exported(body));
                completed |= body["exportOperation"]["status"] == "completed";
            }
            assert!(
                exported(&two.1) >= exported(&one.1),
                "progress went backwards: {} then {}",
                exported(&one.1),
                exported(&two.1)
            );
        }
    }
    assert!(
        seen.len() > 2,
        "the requests saw the export progress, not only its start and end: {seen:?}"
    );
}
