//! The logged-in user, recognised from Rocket.Chat's `X-User-Id` / `X-Auth-Token` headers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use udd_domain::User;

use crate::error::ApiError;
use crate::services::Services;

/// A handler argument that only exists for an authenticated request; otherwise the
/// request is answered with Rocket.Chat's 401 body.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user.
    pub user: User,
    /// The clear token the request carried (needed to log out).
    pub token: String,
}

/// A request header's trimmed text, empty when absent or not text.
pub(crate) fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user_id = udd_domain::UserId::from(header(req, "X-User-Id"));
        let token = header(req, "X-Auth-Token");
        let services = req.app_data::<web::Data<Services>>().cloned();
        Box::pin(async move {
            let services =
                services.ok_or_else(|| anyhow::anyhow!("services missing from the app"))?;
            if user_id.is_empty() || token.is_empty() {
                return Err(ApiError::NotLoggedIn);
            }
            let checked = token.clone();
            let user = web::block(move || services.auth.authenticate(&user_id, &checked)).await??;
            Ok(Self { user, token })
        })
    }
}
