//! `POST /api/v1/method.call/requestDataDownload` and
//! `POST /api/v1/method.callAnon/requestDataDownload`: the Meteor method behind
//! Rocket.Chat's own "Download my data" button (Account → Preferences → My Data), which
//! the web client calls over REST (see [`crate::ddp`]).
//!
//! The answer is what Rocket.Chat's method returns: `requested`, the operation (EJSON
//! dates), `url` and `pendingOperationsBeforeMyRequest`, or a `Meteor.Error`. As in
//! Rocket.Chat, `method.call` needs a login (401 otherwise, like every route) and
//! `method.callAnon` never has a user, so the method refuses it with
//! `error-invalid-user`.

use actix_web::{web, HttpResponse};
use serde_json::Value;
use udd_app::RequestDownloadError;

use crate::auth::CurrentUser;
use crate::ddp::{reply_error, reply_result, MeteorError, MethodCall};
use crate::dto::{RequestDataDownloadResult, WirePaths};
use crate::error::ApiError;
use crate::services::Services;

/// The one method udd answers.
pub const METHOD: &str = "requestDataDownload";

/// The call in `body`, or Rocket.Chat's `invalid-params` failure.
fn read_call(body: &[u8]) -> Result<MethodCall, ApiError> {
    MethodCall::from_body(body).map_err(|e| ApiError::InvalidParams(e.to_string()))
}

/// Meteor's answer to a method it does not have.
fn not_found(method: &str) -> MeteorError {
    let shown: String = crate::error::printable(method).chars().take(80).collect();
    MeteorError::new(404, format!("Method '{shown}' not found"))
}

/// `fullExport` from the method's arguments, `[{"fullExport": <bool>}]`: missing means
/// false, as in Rocket.Chat's `requestDataDownload({ fullExport = false })`. Anything
/// else is refused with a reason worded as Meteor's `check` words it (the method's
/// error is then Meteor's 400).
fn full_export(params: &[Value]) -> Result<bool, String> {
    let mismatch = |what: String| format!("Match error: {what}");
    let options = match params.first() {
        None => return Ok(false),
        Some(Value::Object(options)) => options,
        Some(other) => {
            return Err(mismatch(format!(
                "Expected object, got {}",
                type_name(other)
            )))
        }
    };
    match options.get("fullExport") {
        None => Ok(false),
        Some(Value::Bool(full)) => Ok(*full),
        Some(other) => Err(mismatch(format!(
            "Expected boolean, got {} in field fullExport",
            type_name(other)
        ))),
    }
}

/// A JSON value's type as JavaScript's `typeof` (with `null` told apart) names it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `method.call/requestDataDownload`, for the logged-in user.
pub async fn call(
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
    current: CurrentUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let call = read_call(&body)?;
    if call.method != METHOD {
        return Ok(reply_error(&call.id, &not_found(&call.method)));
    }
    let full_export = match full_export(&call.params) {
        Ok(full_export) => full_export,
        Err(reason) => return Ok(reply_error(&call.id, &MeteorError::new(400, reason))),
    };
    let user_id = current.user.id;
    let answer =
        web::block(move || services.request_download.execute(&user_id, full_export)).await?;
    Ok(match answer {
        Ok(answer) => reply_result(&call.id, &RequestDataDownloadResult::new(&answer, &paths)),
        Err(err @ RequestDownloadError::Disabled) => reply_error(
            &call.id,
            &MeteorError::new("error-not-allowed", err.to_string()),
        ),
        Err(RequestDownloadError::Unexpected(e)) => {
            tracing::error!(error = ?e, method = METHOD, "method call failed");
            reply_error(&call.id, &MeteorError::new(500, "Internal server error"))
        }
    })
}

/// `method.callAnon/requestDataDownload`: the method needs a user, and an anonymous
/// call has none, whatever headers it carries.
pub async fn call_anon(body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let call = read_call(&body)?;
    if call.method != METHOD {
        return Ok(reply_error(&call.id, &not_found(&call.method)));
    }
    Ok(reply_error(
        &call.id,
        &MeteorError::new("error-invalid-user", "Invalid user"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_export_is_a_boolean_that_defaults_to_false() {
        assert_eq!(full_export(&[]), Ok(false));
        assert_eq!(full_export(&[json!({})]), Ok(false));
        assert_eq!(full_export(&[json!({"fullExport": false})]), Ok(false));
        assert_eq!(full_export(&[json!({"fullExport": true})]), Ok(true));
        assert_eq!(
            full_export(&[
                json!({"fullExport": true}),
                json!("ignored, as Meteor does")
            ]),
            Ok(true)
        );
    }

    #[test]
    fn anything_else_is_refused_as_meteors_check_would() {
        for (params, said) in [
            (
                json!([{"fullExport": "true"}]),
                "Match error: Expected boolean, got string in field fullExport",
            ),
            (
                json!([{"fullExport": null}]),
                "Match error: Expected boolean, got null in field fullExport",
            ),
            (json!([true]), "Match error: Expected object, got boolean"),
            (json!([null]), "Match error: Expected object, got null"),
        ] {
            let params = params.as_array().cloned().unwrap_or_default();
            assert_eq!(full_export(&params), Err(said.to_owned()));
        }
    }

    #[test]
    fn an_unknown_method_is_meteors_404_with_its_name_made_printable() {
        let err = serde_json::to_value(not_found("evil\nname")).unwrap_or_default();
        assert_eq!(err["error"], 404);
        assert_eq!(err["reason"], "Method 'evil\\nname' not found");
    }
}
