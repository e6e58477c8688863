//! Rocket.Chat's own "Download my data" button: the web client calls the Meteor method
//! `requestDataDownload` over REST, and udd answers as Rocket.Chat's method does.

use serde_json::{json, Value};

use crate::helpers::{alices_export, spawn_app, Login, TestApp, WithLogin};
use crate::openapi::OpenApi;

const CALL: &str = "/api/v1/method.call/requestDataDownload";
const CALL_ANON: &str = "/api/v1/method.callAnon/requestDataDownload";
const NOT_LOGGED_IN: &str = r#"{"status":"error","message":"You must be logged in to do this."}"#;

/// The DDP text the web client puts in the body: `DDPCommon.stringifyDDP` of Meteor's
/// method message for `requestDataDownload({ fullExport })`.
fn ddp_call(id: &str, full_export: bool) -> String {
    format!(
        r#"{{"msg":"method","id":"{id}","method":"requestDataDownload","params":[{{"fullExport":{full_export}}}]}}"#
    )
}

/// Posts `{"message": message}` to `path`, with `login`'s headers when given, as
/// Rocket.Chat's `APIClient.v1.post` does: status, and the body as text.
async fn post_message(
    app: &TestApp,
    path: &str,
    login: Option<&Login>,
    message: &str,
) -> (u16, String) {
    let mut request = app
        .post(path)
        .header("content-type", "application/json")
        .body(json!({ "message": message }).to_string());
    if let Some(login) = login {
        request = request.with_login(login);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// What the web client does with a 200: takes `message` from the JSON body and hands it
/// to `Meteor.connection.onMessage`, which parses it as DDP (`DDPCommon.parseDDP`:
/// JSON, then EJSON types in `result`) and settles the call whose `id` it names with
/// `result` or with `new Meteor.Error(error.error, error.reason, error.details)`.
/// Returns the settled call: `Ok(result)` or `Err(error)`, with EJSON dates checked
/// and turned into milliseconds.
fn as_the_client_reads_it(body: &str, call_id: &str) -> Result<Value, Value> {
    let outer: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(outer["success"], true, "{outer}");
    OpenApi::project().assert_response(CALL, "post", 200, &outer);
    let message: Value =
        serde_json::from_str(outer["message"].as_str().expect("message is DDP text"))
            .expect("the DDP text is JSON");
    assert_eq!(message["msg"], "result", "{message}");
    assert_eq!(message["id"], call_id, "the id the client waits on");
    match (message.get("result"), message.get("error")) {
        (Some(result), None) => Ok(from_ejson(result)),
        (None, Some(error)) => {
            assert!(
                error["error"].is_string() || error["error"].is_number(),
                "{error}"
            );
            assert!(error["reason"].is_string(), "{error}");
            Err(error.clone())
        }
        _ => panic!("a result message has exactly one of result and error: {message}"),
    }
}

/// EJSON's `_adjustTypesFromJSONValue` as far as dates go: an object whose only member
/// is `$date` must hold a number (milliseconds), and becomes that number; any other
/// `$`-member would be an EJSON type udd never sends.
fn from_ejson(value: &Value) -> Value {
    match value {
        Value::Object(members) if members.keys().any(|k| k.starts_with('$')) => {
            assert_eq!(members.len(), 1, "an EJSON type has one member: {value}");
            let millis = members
                .get("$date")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| panic!("only integer EJSON dates are sent: {value}"));
            json!({ "ejsonDate": millis })
        }
        Value::Object(members) => members
            .iter()
            .map(|(k, v)| (k.clone(), from_ejson(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Array(items) => items.iter().map(from_ejson).collect(),
        other => other.clone(),
    }
}

fn ejson_millis(value: &Value) -> i64 {
    value["ejsonDate"]
        .as_i64()
        .unwrap_or_else(|| panic!("an EJSON date: {value}"))
}

fn iso_of(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn the_buttons_call_requests_once_and_then_reports_the_same_operation() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;

    let (status, body) = post_message(&app, CALL, Some(&alice), &ddp_call("3", false)).await;
    assert_eq!(status, 200, "{body}");
    let first = as_the_client_reads_it(&body, "3").expect("a result");
    assert_eq!(first["requested"], true, "{first}");
    assert_eq!(first["pendingOperationsBeforeMyRequest"], 0);
    assert!(
        first.as_object().unwrap().contains_key("url") && first["url"].is_null(),
        "Rocket.Chat's method answers url: null until there is a file: {first}"
    );
    let op = &first["exportOperation"];
    assert_eq!(op["status"], "pending");
    assert_eq!(op["fullExport"], false);
    assert_eq!(op["userId"], alice.user_id.as_str());
    let created = ejson_millis(&op["createdAt"]);
    ejson_millis(&op["_updatedAt"]);
    let export_path = std::path::Path::new(op["exportPath"].as_str().unwrap());
    assert!(export_path.join("assets").is_dir(), "folders as over REST");

    let (status, body) = post_message(&app, CALL, Some(&alice), &ddp_call("4", false)).await;
    assert_eq!(status, 200, "{body}");
    let second = as_the_client_reads_it(&body, "4").expect("a result");
    assert_eq!(second["requested"], false, "{second}");
    assert_eq!(second["exportOperation"]["_id"], op["_id"]);
    assert!(second["url"].is_null(), "not completed yet: {second}");

    // The REST route sees the same operation, with the same instant as an ISO date.
    let (_, rest) = app.request_download(&alice, None).await;
    assert_eq!(rest["requested"], false);
    assert_eq!(rest["exportOperation"]["_id"], op["_id"]);
    assert_eq!(rest["exportOperation"]["createdAt"], iso_of(created));

    // A full export is its own operation, as over REST.
    let (_, body) = post_message(&app, CALL, Some(&alice), &ddp_call("5", true)).await;
    let full = as_the_client_reads_it(&body, "5").expect("a result");
    assert_eq!(full["requested"], true);
    assert_eq!(full["exportOperation"]["fullExport"], true);
    assert_ne!(full["exportOperation"]["_id"], op["_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_export_is_reported_with_its_download_path_under_the_sites_path() {
    let (app, alice, done) = alices_export(
        TestApp::builder().configure(|settings| {
            settings.server.site_url = "https://chat.example.org/udd/".into()
        }),
        None,
    )
    .await;
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    assert_eq!(
        done["exportOperation"]["url"],
        format!("/udd/data-export/{file_id}"),
        "REST shows the path under the site's path too"
    );

    let (_, body) = post_message(&app, CALL, Some(&alice), &ddp_call("8", false)).await;
    let result = as_the_client_reads_it(&body, "8").expect("a result");
    assert_eq!(result["requested"], false);
    assert_eq!(result["exportOperation"]["status"], "completed");
    let url = result["url"].as_str().expect("the download path");
    assert_eq!(url, format!("/udd/data-export/{file_id}"));
    assert!(
        ejson_millis(&result["exportOperation"]["_updatedAt"])
            >= ejson_millis(&result["exportOperation"]["createdAt"])
    );

    // udd answers the path with the site's prefix (a proxy passing it through) and
    // without it (a proxy stripping it).
    let with_prefix = app.get_as(&alice, url).await;
    assert_eq!(with_prefix.status(), 200);
    let whole = with_prefix.bytes().await.unwrap();
    let without = app.get_as(&alice, url.strip_prefix("/udd").unwrap()).await;
    assert_eq!(without.status(), 200);
    assert_eq!(without.bytes().await.unwrap(), whole);
    // A path that only starts with the same letters is not under the prefix.
    let elsewhere = app
        .get_as(&alice, &format!("/uddx/data-export/{file_id}"))
        .await;
    assert_eq!(elsewhere.status(), 404);
    // The mail's link carries the prefix as well.
    let mail = wait_for_mail(&app).await;
    let link = crate::helpers::link_in(&mail);
    assert!(
        link.starts_with(&format!(
            "https://chat.example.org/udd/data-export/{file_id}?token="
        )),
        "{link}"
    );
}

async fn wait_for_mail(app: &TestApp) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Some(mail) = app.outbox().into_iter().next() {
            return mail;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no mail came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_anonymous_call_is_refused_with_rocket_chats_invalid_user_error() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    for login in [None, Some(&alice)] {
        let (status, body) = post_message(&app, CALL_ANON, login, &ddp_call("1", false)).await;
        assert_eq!(status, 200, "{body}");
        let outer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            outer["message"],
            r#"{"msg":"result","id":"1","error":{"isClientSafe":true,"error":"error-invalid-user","reason":"Invalid user","message":"Invalid user [error-invalid-user]","errorType":"Meteor.Error"}}"#
        );
        assert!(as_the_client_reads_it(&body, "1").is_err());
    }
    let (_, rest) = app.request_download(&alice, None).await;
    assert_eq!(
        rest["requested"], true,
        "the anonymous calls created nothing"
    );
}

#[tokio::test]
async fn a_call_without_a_login_gets_the_same_401_as_every_route() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    let forged = Login {
        user_id: alice.user_id.clone(),
        token: "not-her-token".into(),
    };
    for login in [None, Some(&forged)] {
        let (status, body) = post_message(&app, CALL, login, &ddp_call("2", false)).await;
        assert_eq!((status, body.as_str()), (401, NOT_LOGGED_IN));
        let body: Value = serde_json::from_str(&body).unwrap();
        OpenApi::project().assert_response(CALL, "post", 401, &body);
    }
    // Even with a body that is not a call: the login is checked first.
    let response = app.post(CALL).body("not json").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().await.unwrap(), NOT_LOGGED_IN);
}

#[tokio::test]
async fn malformed_calls_get_a_clear_error_and_create_nothing() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    let send = |body: String| {
        let request = app
            .post(CALL)
            .with_login(&alice)
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // Not a method call at all: Rocket.Chat's invalid-params failure.
    for (body, said) in [
        ("not json".to_owned(), "the body must be"),
        (json!({"msg": "method"}).to_string(), "the body must be"),
        (json!({"message": "{not json"}).to_string(), "the message is not JSON"),
        (
            json!({"message": r#"{"msg":"method","id":"1","method":"requestDataDownload","params":{"fullExport":true}}"#}).to_string(),
            "params must be an array",
        ),
        (
            json!({"message": r#"{"msg":"method","method":"requestDataDownload","params":[]}"#}).to_string(),
            "id must be a string",
        ),
    ] {
        let (status, answer) = send(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        OpenApi::project().assert_response(CALL, "post", 400, &answer);
        assert_eq!(answer["success"], false);
        assert_eq!(answer["errorType"], "invalid-params");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with("Invalid method call") && error.contains(said), "{error}");
    }
    // A call of another method, or with a bad argument: the method's error, as Meteor
    // words it, for the client to show.
    for (message, code, reason) in [
        (
            r#"{"msg":"method","id":"6","method":"deleteUserOwnAccount","params":[]}"#,
            json!(404),
            "Method 'deleteUserOwnAccount' not found",
        ),
        (
            r#"{"msg":"method","id":"6","method":"requestDataDownload","params":[{"fullExport":"yes"}]}"#,
            json!(400),
            "Match error: Expected boolean, got string in field fullExport",
        ),
    ] {
        let (status, answer) = send(json!({ "message": message }).to_string()).await;
        assert_eq!(status, 200, "{answer}");
        let error = as_the_client_reads_it(&answer.to_string(), "6").unwrap_err();
        assert_eq!(error["error"], code);
        assert_eq!(error["reason"], reason);
        assert_eq!(error["errorType"], "Meteor.Error");
    }
    let (_, rest) = app.request_download(&alice, None).await;
    assert_eq!(rest["requested"], true, "none of them created an operation");
}

#[tokio::test]
async fn a_disabled_feature_is_the_methods_not_allowed_error() {
    let app = TestApp::builder().enable_download(false).spawn().await;
    let alice = app.logged_in("alice").await;
    let (status, body) = post_message(&app, CALL, Some(&alice), &ddp_call("1", false)).await;
    assert_eq!(status, 200, "{body}");
    let error = as_the_client_reads_it(&body, "1").unwrap_err();
    assert_eq!(error["error"], "error-not-allowed");
    assert_eq!(
        error["message"],
        "Data download is disabled [error-not-allowed]"
    );
}

#[tokio::test]
async fn the_method_route_is_rate_limited_like_the_other_routes() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    let mut statuses = Vec::new();
    for n in 0..11 {
        let response = app
            .post(CALL)
            .with_login(&alice)
            .body(json!({ "message": ddp_call(&n.to_string(), false) }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-ratelimit-limit"], "10");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..10], [200; 10]);
    assert_eq!(statuses[10], 429);
}
