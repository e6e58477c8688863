use std::path::Path;

use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};
use crate::openapi::OpenApi;

const PATH: &str = "/api/v1/users.requestDataDownload";

/// Checks a 200 answer against both our document and Rocket.Chat's.
fn assert_valid(body: &Value) {
    OpenApi::project().assert_response(PATH, "get", 200, body);
    OpenApi::rocket_chat_seed().assert_response(PATH, "get", 200, body);
}

#[tokio::test]
async fn the_first_request_creates_a_pending_operation_with_its_folders() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    let (status, body) = app.request_download(&login, None).await;
    assert_eq!(status, 200, "{body}");
    assert_valid(&body);
    assert_eq!(body["success"], true);
    assert_eq!(body["requested"], true);
    let op = &body["exportOperation"];
    assert_eq!(op["status"], "pending");
    assert_eq!(op["fullExport"], false);
    assert_eq!(op["userId"], login.user_id.as_str());
    assert_eq!(op["roomList"], serde_json::json!([]));
    assert_eq!(op["fileList"], serde_json::json!([]));
    assert_eq!(op["createdAt"], op["_updatedAt"]);
    assert_eq!(body["pendingOperationsBeforeMyRequest"], 0);

    let id = op["_id"].as_str().unwrap();
    let export_path = Path::new(op["exportPath"].as_str().unwrap());
    assert_eq!(
        export_path,
        app.settings.user_data.file_system_path.join(id)
    );
    assert_eq!(
        Path::new(op["assetsPath"].as_str().unwrap()),
        export_path.join("assets")
    );
    assert!(
        export_path.join("assets").is_dir(),
        "the assets folder is created"
    );
}

#[tokio::test]
async fn requesting_twice_within_a_day_returns_the_same_operation() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    let (_, first) = app.request_download(&login, None).await;
    let (status, second) = app.request_download(&login, Some("false")).await;
    assert_eq!(status, 200);
    assert_valid(&second);
    assert_eq!(second["requested"], false);
    assert_eq!(
        second["exportOperation"]["_id"],
        first["exportOperation"]["_id"]
    );
    assert_eq!(
        second["exportOperation"]["createdAt"],
        first["exportOperation"]["createdAt"]
    );
}

#[tokio::test]
async fn a_full_export_is_a_separate_operation_from_a_personal_one() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    let (_, personal) = app.request_download(&login, None).await;
    let (_, full) = app.request_download(&login, Some("true")).await;
    assert_valid(&full);
    assert_eq!(full["requested"], true);
    assert_eq!(full["exportOperation"]["fullExport"], true);
    assert_ne!(
        full["exportOperation"]["_id"],
        personal["exportOperation"]["_id"]
    );

    let (_, full_again) = app.request_download(&login, Some("true")).await;
    assert_eq!(full_again["requested"], false);
    assert_eq!(
        full_again["exportOperation"]["_id"],
        full["exportOperation"]["_id"]
    );
    let (_, personal_again) = app.request_download(&login, None).await;
    assert_eq!(
        personal_again["exportOperation"]["_id"],
        personal["exportOperation"]["_id"]
    );
}

#[tokio::test]
async fn a_full_export_value_other_than_true_or_false_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    for bad in ["maybe", "1", "TRUE", ""] {
        let (status, body) = app.request_download(&login, Some(bad)).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["errorType"], "invalid-params");
        assert!(body["error"].as_str().unwrap().contains("fullExport"));
        OpenApi::project().assert_response(PATH, "get", 400, &body);
    }
    let (_, body) = app.request_download(&login, None).await;
    assert_eq!(
        body["requested"], true,
        "the refused requests created no operation"
    );
}

#[tokio::test]
async fn a_disabled_feature_refuses_requests_with_error_not_allowed() {
    let app = TestApp::builder().enable_download(false).spawn().await;
    let login = app.logged_in("alice").await;
    let (status, body) = app.request_download(&login, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert_eq!(body["errorType"], "error-not-allowed");
    OpenApi::project().assert_response(PATH, "get", 400, &body);
    assert!(
        std::fs::read_dir(&app.settings.user_data.file_system_path).is_err(),
        "no export folder is created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_requests_create_exactly_one_operation_and_all_name_it() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    let requests = (0..50).map(|_| app.request_download(&login, Some("true")));
    let answers = futures_util::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        if body["requested"] == true {
            created += 1;
        }
        ids.insert(body["exportOperation"]["_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1, "exactly one request created the operation");
    assert_eq!(
        ids.len(),
        1,
        "every answer names the same operation: {ids:?}"
    );
    let folders = std::fs::read_dir(&app.settings.user_data.file_system_path)
        .unwrap()
        .count();
    assert_eq!(folders, 1, "one export folder");
}

#[tokio::test]
async fn the_queue_position_counts_earlier_unfinished_operations() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    let bob = app.logged_in("bob").await;
    let (_, first) = app.request_download(&alice, None).await;
    assert_eq!(first["pendingOperationsBeforeMyRequest"], 0);
    let (_, second) = app.request_download(&bob, Some("true")).await;
    assert_eq!(second["pendingOperationsBeforeMyRequest"], 1);
    let (_, again) = app.request_download(&alice, None).await;
    assert_eq!(
        again["pendingOperationsBeforeMyRequest"], 0,
        "alice's reused operation is still first"
    );
}

#[tokio::test]
async fn the_answer_never_contains_secrets() {
    let app = spawn_app().await;
    let login = app.logged_in("alice").await;
    let (_, body) = app.request_download(&login, None).await;
    let text = body.to_string();
    assert!(!text.contains(&login.token), "token leaked");
    for secret in ["$2b$", "$2y$", "bcrypt", "services", "hashedToken"] {
        assert!(!text.contains(secret), "`{secret}` leaked in {text}");
    }
}
