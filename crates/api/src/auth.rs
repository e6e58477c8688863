//! The logged-in user, recognised from Rocket.Chat's `X-User-Id` / `X-Auth-Token` headers
//! and, where sessions are Rocket.Chat's (`auth.mode = "rocketchat"`), from the
//! `rc_uid` / `rc_token` cookies its web client sets. Headers win when both are there.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use udd_domain::{User, UserId};

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

/// The user id and token a request presents: its headers, or (when `cookies` allows it)
/// the `rc_uid`/`rc_token` cookies; `None` when neither pair is complete.
pub(crate) fn presented_session(req: &HttpRequest, cookies: bool) -> Option<(String, String)> {
    let (user_id, token) = (header(req, "X-User-Id"), header(req, "X-Auth-Token"));
    if !user_id.is_empty() && !token.is_empty() {
        return Some((user_id, token));
    }
    if !cookies {
        return None;
    }
    let cookie = |name: &str| {
        req.cookie(name)
            .map(|c| c.value().trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Some((cookie("rc_uid")?, cookie("rc_token")?))
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let services = req.app_data::<web::Data<Services>>().cloned();
        // Rocket.Chat's web client keeps its session in cookies; udd's own tokens travel
        // in headers only, as before.
        let presented = services
            .as_ref()
            .and_then(|s| presented_session(req, s.auth.is_remote()));
        Box::pin(async move {
            let services =
                services.ok_or_else(|| anyhow::anyhow!("services missing from the app"))?;
            let Some((user_id, token)) = presented else {
                return Err(ApiError::NotLoggedIn);
            };
            let user_id = UserId::from(user_id);
            // A session checked moments ago is answered from memory, without a trip to
            // a blocking thread.
            let user = match services.auth.remembered(&user_id, &token) {
                Some(answer) => answer?,
                None => {
                    let checked = token.clone();
                    web::block(move || services.auth.authenticate(&user_id, &checked)).await??
                }
            };
            Ok(Self { user, token })
        })
    }
}
