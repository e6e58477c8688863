//! One error type for every handler, rendered as Rocket.Chat's error bodies.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use udd_app::{AuthError, Challenge, LoginError, RequestDownloadError, SecondFactorError};

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
    /// The password matched; the second factor is missing, wrong or spent.
    #[error(transparent)]
    SecondFactor(SecondFactorError),
    /// Sessions are Rocket.Chat's (`auth.mode = "rocketchat"`): no password logins here.
    #[error("Password login is disabled: sign in to Rocket.Chat and use its session")]
    PasswordLoginDisabled,
    /// Rocket.Chat, which owns sessions, cannot be reached to check one. Not a 401: a
    /// client must not log its user out over an outage.
    #[error("Rocket.Chat cannot be reached to check the session; try again shortly")]
    SessionsUnavailable(#[source] anyhow::Error),
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
            | Self::LoginBlockedForIp
            | Self::SecondFactor(_)
            | Self::PasswordLoginDisabled => StatusCode::UNAUTHORIZED,
            Self::SessionsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::SecondFactor(err) => second_factor_error(err),
            Self::PasswordLoginDisabled => login_error("error-password-login-disabled", self),
            Self::SessionsUnavailable(cause) => {
                tracing::warn!(error = ?cause, "Rocket.Chat could not check a session");
                return HttpResponse::build(self.status_code())
                    .insert_header(("Retry-After", "5"))
                    .json(failure(&self.to_string(), "error-rocketchat-unavailable"));
            }
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

/// Rocket.Chat's 401 body for a login its second-factor check refused: the Meteor error
/// (`totp-required`, `totp-invalid`, `totp-max-attempts`) with its `details`.
fn second_factor_error(err: &SecondFactorError) -> serde_json::Value {
    let (error, challenge) = match err {
        SecondFactorError::Required(c) => ("totp-required", Some(c)),
        SecondFactorError::Invalid(c) => ("totp-invalid", Some(c)),
        SecondFactorError::MaxAttempts(c) => ("totp-max-attempts", Some(c)),
        SecondFactorError::Unexpected(_) => ("error-unexpected", None),
    };
    let mut body = json!({"status": "error", "error": error, "message": err.to_string()});
    if let Some(challenge) = challenge {
        body["details"] = challenge_details(challenge);
    }
    body
}

fn challenge_details(challenge: &Challenge) -> serde_json::Value {
    let mut details = json!({
        "method": challenge.method.name(),
        "availableMethods": challenge.available.iter().map(|m| m.name()).collect::<Vec<_>>(),
    });
    if let Some(who) = &challenge.email_or_username {
        details["emailOrUsername"] = json!(who);
    }
    if let Some(generated) = challenge.code_generated {
        details["codeGenerated"] = json!(generated);
    }
    if let Some(expires) = challenge.code_expires {
        details["codeExpires"] = json!(udd_domain::time::iso_millis(expires));
    }
    details
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
            AuthError::Unavailable(e) => Self::SessionsUnavailable(e),
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
            LoginError::SecondFactor(SecondFactorError::Unexpected(e)) => Self::Unexpected(e),
            LoginError::SecondFactor(err) => Self::SecondFactor(err),
            LoginError::PasswordLoginDisabled => Self::PasswordLoginDisabled,
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
    fn second_factor_errors_are_rocket_chats_401_with_details() {
        use udd_domain::SecondFactorMethod;
        let challenge = Challenge {
            method: SecondFactorMethod::Totp,
            available: vec![SecondFactorMethod::Totp],
            email_or_username: None,
            code_generated: None,
            code_expires: None,
        };
        assert_eq!(
            body(ApiError::SecondFactor(SecondFactorError::Required(
                challenge.clone()
            ))),
            (
                401,
                json!({
                    "status": "error",
                    "error": "totp-required",
                    "message": "TOTP Required",
                    "details": {"method": "totp", "availableMethods": ["totp"]}
                })
            )
        );
        let (status, invalid) = body(ApiError::SecondFactor(SecondFactorError::Invalid(
            Challenge {
                method: SecondFactorMethod::Email,
                email_or_username: Some("alice".into()),
                code_generated: Some(true),
                ..challenge
            },
        )));
        assert_eq!(status, 401);
        assert_eq!(invalid["error"], "totp-invalid");
        assert_eq!(invalid["message"], "TOTP Invalid");
        assert_eq!(invalid["details"]["method"], "email");
        assert_eq!(invalid["details"]["emailOrUsername"], "alice");
        assert_eq!(invalid["details"]["codeGenerated"], true);
    }

    #[test]
    fn an_unreachable_rocket_chat_is_a_503_never_a_401() {
        let err = ApiError::from(AuthError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )));
        let response = err.error_response();
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let (status, body) = body(err);
        assert_eq!(status, 503);
        assert_eq!(body["success"], false);
        assert_eq!(body["errorType"], "error-rocketchat-unavailable");
        assert!(!body.to_string().contains("connection refused"));
        let (status, body) = body_of_login_disabled();
        assert_eq!(status, 401);
        assert_eq!(body["error"], "error-password-login-disabled");
    }

    fn body_of_login_disabled() -> (u16, serde_json::Value) {
        body(LoginError::PasswordLoginDisabled.into())
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
