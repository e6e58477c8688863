//! `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/me`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use udd_app::Password;

use crate::auth::CurrentUser;
use crate::dto::Me;
use crate::error::ApiError;
use crate::proxy::ClientAddr;
use crate::services::Services;
use crate::throttle::Throttles;

/// The login body: Rocket.Chat accepts `user` or `username` for the login name (a
/// username or an email address), and the password in clear or as
/// `{"digest": <SHA-256 hex>, "algorithm": "sha-256"}`.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    user: Option<String>,
    username: Option<String>,
    password: Option<PasswordField>,
    /// The second factor (a TOTP, backup or e-mailed code), when the user has one.
    code: Option<String>,
}

/// The two shapes of `password`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PasswordField {
    /// In clear.
    Plain(String),
    /// Hashed by the client.
    Digest {
        /// The hex digest.
        digest: String,
        /// Only `sha-256` is known.
        algorithm: String,
    },
}

impl PasswordField {
    fn into_password(self) -> Option<Password> {
        match self {
            Self::Plain(plain) => Some(Password::Plain(plain)),
            Self::Digest { digest, algorithm } if algorithm.eq_ignore_ascii_case("sha-256") => {
                Some(Password::Sha256Digest(digest))
            }
            Self::Digest { .. } => None,
        }
    }
}

pub async fn login(
    services: web::Data<Services>,
    throttles: web::Data<Throttles>,
    client: ClientAddr,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody {
        user,
        username,
        password,
        code,
    } = body.into_inner();
    if services.auth.is_remote() {
        // Whatever the body holds: passwords are Rocket.Chat's to check.
        return Err(ApiError::PasswordLoginDisabled);
    }
    // Rocket.Chat also takes the code from the `X-2fa-Code` header.
    let code = code
        .filter(|c| !c.trim().is_empty())
        .or_else(|| Some(crate::auth::header(&req, "X-2fa-Code")).filter(|c| !c.is_empty()));
    let login = user.or(username).filter(|l| !l.is_empty());
    let (Some(login), Some(password)) = (login, password.and_then(PasswordField::into_password))
    else {
        return Err(ApiError::LoginFailed);
    };
    let client_ip = client.0.address();
    let session = throttles
        .logins
        .run(move || {
            services
                .auth
                .login_with_code(&login, &password, code.as_deref(), &client_ip)
        })
        .await??;
    Ok(HttpResponse::Ok().json(json!({
        "status": "success",
        "data": {
            "userId": session.user.id,
            "authToken": session.auth_token,
            "me": Me::from(&session.user),
        },
    })))
}

pub async fn logout(
    services: web::Data<Services>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let CurrentUser { user, token } = current;
    web::block(move || services.auth.logout(&user.id, &token)).await??;
    Ok(HttpResponse::Ok().json(json!({
        "status": "success",
        "data": {"message": "You've been logged out!"},
    })))
}

pub async fn me(current: CurrentUser) -> HttpResponse {
    let mut body = serde_json::to_value(Me::from(&current.user)).unwrap_or_default();
    body["success"] = json!(true);
    HttpResponse::Ok().json(body)
}
