//! One error type for every handler, rendered as Rocket.Chat's error bodies.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use udd_app::{AuthError, LoginError, RequestDownloadError};

/// Everything a handler can fail with.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong `X-User-Id` / `X-Auth-Token`.
    #[error("You must be logged in to do this.")]
    NotLoggedIn,
    /// A login with bad credentials.
    #[error("Unauthorized")]
    LoginFailed,
    /// Logins for this user are blocked for a while after repeated failures.
    #[error("Login has been temporarily blocked For User")]
    LoginBlockedForUser,
    /// Logins from this address are blocked for a while after repeated failures.
    #[error("Login has been temporarily blocked For IP")]
    LoginBlockedForIp,
    /// Too many calls: the rate limit of the route, or no room to check a password.
    #[error(
        "Error, too many requests. Please slow down. You must wait {wait_seconds} seconds \
         before trying this endpoint again."
    )]
    TooManyRequests {
        /// Seconds until a call may succeed (also sent as `Retry-After`).
        wait_seconds: u64,
    },
    /// A malformed parameter or body. The message may quote the client's input, so it
    /// is displayed (and so logged) with control characters escaped.
    #[error("{}", printable(.0))]
    InvalidParams(String),
    /// The feature is switched off or the action is not permitted.
    #[error("{}", printable(.0))]
    NotAllowed(String),
    /// Anything else: logged with its cause chain, answered with a generic message.
    #[error("an unexpected error occurred")]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// `text` with control characters (line breaks, escape sequences) written as escapes:
/// a message quoting a request can then never start a log line of its own.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Writes an error and every `source()` below it, one per line.
pub fn error_chain_fmt(
    err: &impl std::error::Error,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    writeln!(f, "{err}")?;
    let mut current = err.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotLoggedIn
            | Self::LoginFailed
            | Self::LoginBlockedForUser
            | Self::LoginBlockedForIp => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidParams(_) | Self::NotAllowed(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::NotLoggedIn => json!({"status": "error", "message": self.to_string()}),
            Self::LoginFailed => {
                json!({"status": "error", "error": "Unauthorized", "message": "Unauthorized"})
            }
            Self::LoginBlockedForUser => login_error("error-login-blocked-for-user", self),
            Self::LoginBlockedForIp => login_error("error-login-blocked-for-ip", self),
            Self::TooManyRequests { wait_seconds } => {
                // Rocket.Chat's `API.v1.tooManyRequests(error.message)`: the Meteor
                // error's message, which ends with the error type in brackets.
                let body = json!({
                    "success": false,
                    "error": format!("{self} [error-too-many-requests]"),
                });
                return HttpResponse::build(self.status_code())
                    .insert_header(("Retry-After", (*wait_seconds).max(1).to_string()))
                    .json(body);
            }
            Self::InvalidParams(message) => failure(message, "invalid-params"),
            Self::NotAllowed(message) => failure(message, "error-not-allowed"),
            Self::Unexpected(err) => {
                tracing::error!(error = ?err, "request failed");
                failure("Internal server error", "error-unexpected")
            }
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// Rocket.Chat's 401 body for a login its `validateLoginAttempt` refused.
fn login_error(error: &str, err: &ApiError) -> serde_json::Value {
    json!({"status": "error", "error": error, "message": err.to_string()})
}

/// Rocket.Chat's `API.v1.failure` body for a Meteor error: the message carries the
/// error type in brackets.
fn failure(message: &str, error_type: &str) -> serde_json::Value {
    json!({
        "success": false,
        "error": format!("{message} [{error_type}]"),
        "errorType": error_type,
    })
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::NotLoggedIn => Self::NotLoggedIn,
            AuthError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::LoginFailed,
            LoginError::BlockedForUser => Self::LoginBlockedForUser,
            LoginError::BlockedForIp => Self::LoginBlockedForIp,
            LoginError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<RequestDownloadError> for ApiError {
    fn from(err: RequestDownloadError) -> Self {
        match err {
            RequestDownloadError::Disabled => Self::NotAllowed(err.to_string()),
            RequestDownloadError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Unexpected(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(err: ApiError) -> (u16, serde_json::Value) {
        let response = err.error_response();
        let status = response.status().as_u16();
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[test]
    fn not_logged_in_is_rocket_chats_exact_401() {
        assert_eq!(
            body(ApiError::NotLoggedIn),
            (
                401,
                json!({"status": "error", "message": "You must be logged in to do this."})
            )
        );
    }

    #[test]
    fn a_disabled_feature_is_a_400_with_error_not_allowed() {
        let (status, body) = body(RequestDownloadError::Disabled.into());
        assert_eq!(status, 400);
        assert_eq!(body["success"], false);
        assert_eq!(body["errorType"], "error-not-allowed");
        assert_eq!(
            body["error"],
            "Data download is disabled [error-not-allowed]"
        );
    }

    #[test]
    fn blocked_logins_are_rocket_chats_401_bodies() {
        assert_eq!(
            body(LoginError::BlockedForUser.into()),
            (
                401,
                json!({
                    "status": "error",
                    "error": "error-login-blocked-for-user",
                    "message": "Login has been temporarily blocked For User"
                })
            )
        );
        let (status, body) = body(LoginError::BlockedForIp.into());
        assert_eq!(status, 401);
        assert_eq!(body["error"], "error-login-blocked-for-ip");
        assert_eq!(body["message"], "Login has been temporarily blocked For IP");
    }

    #[test]
    fn too_many_requests_is_rocket_chats_429_with_a_retry_after() {
        let err = ApiError::TooManyRequests { wait_seconds: 42 };
        let response = err.error_response();
        let retry_after = response.headers().get("retry-after");
        assert_eq!(retry_after.and_then(|v| v.to_str().ok()), Some("42"));
        assert_eq!(
            body(err),
            (
                429,
                json!({
                    "success": false,
                    "error": "Error, too many requests. Please slow down. You must wait 42 \
                              seconds before trying this endpoint again. \
                              [error-too-many-requests]"
                })
            )
        );
    }

    #[test]
    fn unexpected_errors_hide_their_cause_from_the_client() {
        let (status, body) = body(ApiError::Unexpected(anyhow::anyhow!("secret path /etc/x")));
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("/etc/x"));
    }

    #[test]
    fn debug_prints_the_whole_cause_chain() {
        let err = ApiError::Unexpected(anyhow::anyhow!("root cause").context("outer"));
        let printed = format!("{err:?}");
        assert!(printed.contains("Caused by"), "{printed}");
    }
}
