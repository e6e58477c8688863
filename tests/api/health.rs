use crate::helpers::spawn_app;
use crate::openapi::OpenApi;

#[tokio::test]
async fn health_answers_ok_without_authentication() {
    let app = spawn_app().await;
    let response = app.get("/health").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    OpenApi::project().assert_response("/health", "get", 200, &body);
}

#[tokio::test]
async fn an_unknown_route_is_a_404() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/nope").send().await.unwrap();
    assert_eq!(response.status(), 404);
}
