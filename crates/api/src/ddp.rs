//! Meteor method calls as Rocket.Chat's REST API carries them.
//!
//! Rocket.Chat's web client sends its Meteor method calls over REST
//! (`POST /api/v1/method.call/<method>`): the body is `{"message": "<DDP text>"}`, the
//! text a DDP `method` message in EJSON, and the answer is
//! `{"message": "<DDP text>", "success": true}`, the text a DDP `result` message carrying
//! either `result` or `error` (a `Meteor.Error`). EJSON is JSON with typed values
//! written as objects; the only one udd sends is a date, `{"$date": <milliseconds>}`.

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A DDP `method` message: `{"msg":"method","id":…,"method":…,"params":[…]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// The caller's id for this call, echoed in the result.
    pub id: String,
    /// The method's name.
    pub method: String,
    /// The method's arguments (EJSON values).
    pub params: Vec<Value>,
}

/// The REST body around a DDP message.
#[derive(Debug, Deserialize)]
struct Envelope {
    message: String,
}

/// Why a body is not a method call; the text is meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAMethodCall(String);

impl MethodCall {
    /// Reads `{"message": "<DDP method message>"}`, checking what Rocket.Chat's
    /// `isMethodCallProps` checks: `msg` is `"method"`, `id` and `method` are strings,
    /// `params` is an array. Other members (Meteor's `randomSeed`) are ignored.
    ///
    /// Errors: a body or message that is not JSON of that shape, said in a sentence.
    pub fn from_body(body: &[u8]) -> Result<Self, NotAMethodCall> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
            NotAMethodCall(format!(
                "Invalid method call: the body must be {{\"message\": \"<DDP method message>\"}} \
                 ({e})"
            ))
        })?;
        let message: Value = serde_json::from_str(&envelope.message).map_err(|e| {
            NotAMethodCall(format!(
                "Invalid method call: the message is not JSON ({e})"
            ))
        })?;
        let field = |name: &str| message.get(name);
        let text = |name: &str| field(name).and_then(Value::as_str).map(str::to_owned);
        let complaint = |what: &str| NotAMethodCall(format!("Invalid method call: {what}"));
        if !message.is_object() {
            return Err(complaint("the message must be a JSON object"));
        }
        if text("msg").as_deref() != Some("method") {
            return Err(complaint("msg must be \"method\""));
        }
        let id = text("id").ok_or_else(|| complaint("id must be a string"))?;
        let method = text("method").ok_or_else(|| complaint("method must be a string"))?;
        let params = match field("params") {
            Some(Value::Array(params)) => params.clone(),
            _ => return Err(complaint("params must be an array")),
        };
        Ok(Self { id, method, params })
    }
}

/// A `Meteor.Error` as EJSON writes it, in the order Meteor sets its members:
/// `{"isClientSafe":true,"error":…,"reason":…,"message":"<reason> [<error>]",
/// "errorType":"Meteor.Error"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeteorError {
    is_client_safe: bool,
    error: Value,
    reason: String,
    message: String,
    error_type: &'static str,
}

impl MeteorError {
    /// An error with a code (`"error-invalid-user"`, or a number such as 404 as Meteor
    /// itself uses) and a reason for people.
    pub fn new(error: impl Into<Value>, reason: impl Into<String>) -> Self {
        let error = error.into();
        let reason = reason.into();
        let code = match &error {
            Value::String(code) => code.clone(),
            other => other.to_string(),
        };
        Self {
            is_client_safe: true,
            message: format!("{reason} [{code}]"),
            error,
            reason,
            error_type: "Meteor.Error",
        }
    }

    /// The code (`error`).
    pub fn code(&self) -> &Value {
        &self.error
    }
}

/// A DDP `result` message.
#[derive(Serialize)]
struct ResultMessage<'a, T: Serialize> {
    msg: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a MeteorError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a T>,
}

/// The REST answer carrying `call`'s result: `{"message": "<DDP result>", "success": true}`.
pub fn reply_result(call_id: &str, result: &impl Serialize) -> HttpResponse {
    reply(&ResultMessage {
        msg: "result",
        id: call_id,
        error: None,
        result: Some(result),
    })
}

/// The REST answer carrying `call`'s error. Like Rocket.Chat, the HTTP call itself
/// succeeds: the error is the method's, inside the DDP message.
pub fn reply_error(call_id: &str, error: &MeteorError) -> HttpResponse {
    reply(&ResultMessage::<()> {
        msg: "result",
        id: call_id,
        error: Some(error),
        result: None,
    })
}

fn reply<T: Serialize>(message: &ResultMessage<'_, T>) -> HttpResponse {
    match serde_json::to_string(message) {
        Ok(text) => HttpResponse::Ok().json(serde_json::json!({"message": text, "success": true})),
        Err(e) => {
            tracing::error!(error = %e, "could not write a method's result");
            HttpResponse::InternalServerError().json(serde_json::json!({
                "success": false,
                "error": "Internal server error [error-unexpected]",
                "errorType": "error-unexpected",
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use serde_json::json;

    fn body(message: &str) -> Vec<u8> {
        json!({ "message": message }).to_string().into_bytes()
    }

    #[test]
    fn the_web_clients_call_is_read() {
        let call = MethodCall::from_body(&body(
            r#"{"msg":"method","id":"7","method":"requestDataDownload","params":[{"fullExport":false}],"randomSeed":"x"}"#,
        ));
        assert_eq!(
            call,
            Ok(MethodCall {
                id: "7".into(),
                method: "requestDataDownload".into(),
                params: vec![json!({"fullExport": false})],
            })
        );
    }

    #[test]
    fn anything_but_a_method_call_is_refused_with_a_reason() {
        let cases: [(&[u8], &str); 9] = [
            (b"not json", "the body must be"),
            (br#"{"msg":"method"}"#, "the body must be"),
            (br#"{"message": 5}"#, "the body must be"),
            (&body("{nope"), "the message is not JSON"),
            (&body("[1]"), "must be a JSON object"),
            (
                &body(r#"{"msg":"sub","id":"1","method":"m","params":[]}"#),
                "msg must be \"method\"",
            ),
            (
                &body(r#"{"msg":"method","id":1,"method":"m","params":[]}"#),
                "id must be a string",
            ),
            (
                &body(r#"{"msg":"method","id":"1","params":[]}"#),
                "method must be a string",
            ),
            (
                &body(r#"{"msg":"method","id":"1","method":"m","params":{"fullExport":true}}"#),
                "params must be an array",
            ),
        ];
        for (input, expected) in cases {
            let err = MethodCall::from_body(input).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.to_string().starts_with("Invalid method call"), "{err}");
        }
    }

    #[test]
    fn a_meteor_error_has_meteors_members_in_meteors_order() {
        let error = MeteorError::new("error-invalid-user", "Invalid user");
        assert_eq!(
            serde_json::to_string(&error).unwrap_or_default(),
            r#"{"isClientSafe":true,"error":"error-invalid-user","reason":"Invalid user","message":"Invalid user [error-invalid-user]","errorType":"Meteor.Error"}"#
        );
        let numeric = MeteorError::new(404, "Method 'x' not found");
        assert_eq!(numeric.code(), &json!(404));
        assert_eq!(numeric.message, "Method 'x' not found [404]");
    }

    fn message_of(response: HttpResponse) -> Value {
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        let outer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(outer["success"], true, "{outer}");
        serde_json::from_str(outer["message"].as_str().unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn results_and_errors_travel_as_ddp_text_inside_a_successful_answer() {
        let ok = message_of(reply_result("9", &json!({"requested": true})));
        assert_eq!(
            ok,
            json!({"msg": "result", "id": "9", "result": {"requested": true}})
        );
        let failed = message_of(reply_error("9", &MeteorError::new(400, "Match failed")));
        assert_eq!(failed["msg"], "result");
        assert_eq!(failed["id"], "9");
        assert_eq!(failed["error"]["message"], "Match failed [400]");
        assert!(failed.get("result").is_none(), "{failed}");
    }
}
