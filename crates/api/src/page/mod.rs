//! The "My data" page: a self-service page where a person signs in, asks for their data
//! and downloads it, served as plain server-rendered HTML with one small script that
//! only makes it live (the page works the same with JavaScript off).
//!
//! This module holds what the page's handlers ([`crate::routes::my_data`]) share: who
//! the visitor is, the forms' protection against forgery (a token bound to the session,
//! or to a random cookie before sign-in, plus an `Origin`/`Referer` check), the session
//! cookies, the language, the security headers and the static files.

pub mod assets;
pub mod html;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponseBuilder};
use udd_app::AuthError;
use udd_domain::i18n::Catalogue;
use udd_domain::User;

use crate::auth::presented_session;
use crate::services::Services;
use crate::settings::Settings;

pub use html::Site;

/// The cookie that binds a signed-out visitor's forms (the sign-in form).
pub const VISITOR_COOKIE: &str = "udd_form";

/// The page's Content-Security-Policy: nothing but its own script and stylesheet.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

impl Site {
    /// The site as `settings` describe it.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            url: settings.server.site_url.clone(),
            path: settings.server.site_path().unwrap_or_default(),
            name: settings.server.site_name.clone(),
            rocketchat_url: settings.rocketchat.url.clone(),
            remote: settings.auth.mode == crate::settings::AuthMode::Rocketchat,
            secure: settings
                .server
                .site_url
                .to_ascii_lowercase()
                .starts_with("https://"),
            session_days: settings.accounts.login_expiration_days,
        }
    }

    /// The path cookies are set for: the site's path, or `/` at the root. In
    /// `auth.mode = "local"` a site under a path keeps its cookies to itself, so it
    /// never overwrites the session cookies of a Rocket.Chat at the same host.
    pub fn cookie_path(&self) -> String {
        if self.path.is_empty() {
            "/".into()
        } else {
            self.path.clone()
        }
    }

    /// A session or form cookie, `HttpOnly`, `SameSite=Lax`, `Secure` on https.
    pub fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path(self.cookie_path())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }

    /// A cookie of the session (`rc_uid`, `rc_token`): kept across browser restarts
    /// for as long as the login token works, then dropped by the browser.
    pub fn session_cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        let mut cookie = self.cookie(name, value);
        cookie.set_max_age(CookieDuration::days(i64::from(self.session_days)));
        cookie
    }

    /// The cookie `name`, expired.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new());
        cookie.set_max_age(CookieDuration::ZERO);
        cookie.set_expires(actix_web::cookie::time::OffsetDateTime::UNIX_EPOCH);
        cookie
    }
}

/// Who is looking at the page.
pub enum Visitor {
    /// Signed in, by headers or by the `rc_uid`/`rc_token` cookies.
    Signed {
        /// The user.
        user: Box<User>,
        /// Their session token (forms are bound to it).
        token: String,
    },
    /// Not signed in (no session, or one that is not valid).
    Anonymous,
    /// Rocket.Chat, which owns the session, cannot be reached now.
    Unavailable(anyhow::Error),
    /// Checking the session failed.
    Failed(anyhow::Error),
}

impl Visitor {
    /// The visitor of `req`: the page always reads the session cookies, whatever the
    /// auth mode, as it sets them itself in `auth.mode = "local"`.
    pub async fn of(req: &HttpRequest, services: &web::Data<Services>) -> Self {
        let Some((user_id, token)) = presented_session(req, true) else {
            return Self::Anonymous;
        };
        let services = services.clone();
        let checked = token.clone();
        let answer =
            web::block(move || services.auth.authenticate(&user_id.into(), &checked)).await;
        match answer {
            Ok(Ok(user)) => Self::Signed {
                user: Box::new(user),
                token,
            },
            Ok(Err(AuthError::NotLoggedIn)) => Self::Anonymous,
            Ok(Err(AuthError::Unavailable(e))) => Self::Unavailable(e),
            Ok(Err(AuthError::Unexpected(e))) => Self::Failed(e),
            Err(e) => Self::Failed(anyhow::anyhow!("blocking task failed: {e}")),
        }
    }
}

/// The language of the page: the user's own (`language`), else the browser's
/// `Accept-Language`, else English.
pub fn language(req: &HttpRequest, user: Option<&User>) -> Catalogue {
    match user
        .and_then(|u| u.language.as_deref())
        .filter(|l| !l.trim().is_empty())
    {
        Some(language) => Catalogue::for_language(Some(language)),
        None => Catalogue::for_accept_language(&crate::auth::header(req, "Accept-Language")),
    }
}

/// What a form is bound to: the session token when signed in, else the visitor cookie.
pub fn form_binding(token: Option<&str>, visitor_nonce: Option<&str>) -> Option<String> {
    match (token, visitor_nonce) {
        (Some(token), _) => Some(format!("session:{token}")),
        (None, Some(nonce)) if !nonce.is_empty() => Some(format!("visitor:{nonce}")),
        _ => None,
    }
}

/// The visitor cookie's value, if the request carries one.
pub fn visitor_nonce(req: &HttpRequest) -> Option<String> {
    req.cookie(VISITOR_COOKIE)
        .map(|c| c.value().trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a form post comes from this site, by its `Origin` header (or, without one,
/// its `Referer`): the site's own origin (`server.site_url`) or the host the request
/// was sent to. A post with neither header is left to the form token.
pub fn same_origin(req: &HttpRequest, site_url: &str) -> bool {
    let origin = crate::auth::header(req, "Origin");
    let claimed = if !origin.is_empty() {
        origin
    } else {
        let referer = crate::auth::header(req, "Referer");
        if referer.is_empty() {
            return true;
        }
        referer
    };
    let Ok(claimed) = url::Url::parse(&claimed) else {
        // `Origin: null` (a sandboxed frame, a redirect from elsewhere) and garbage.
        return false;
    };
    let authority = |url: &url::Url| {
        url.host_str().map(|host| match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    };
    let Some(claimed_authority) = authority(&claimed) else {
        return false;
    };
    let site = url::Url::parse(site_url).ok();
    if site.as_ref().is_some_and(|site| {
        site.scheme() == claimed.scheme() && authority(site).as_ref() == Some(&claimed_authority)
    }) {
        return true;
    }
    let host = crate::auth::header(req, "Host");
    !host.is_empty() && host.eq_ignore_ascii_case(&claimed_authority)
}

/// The headers every answer of the page carries.
pub fn secure_headers(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn posts_from_this_site_pass_and_others_do_not() {
        let site = "https://chat.example.org/udd";
        let from = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::post().insert_header(("Host", "udd.internal:8080"));
            for (name, value) in headers {
                req = req.insert_header((*name, *value));
            }
            same_origin(&req.to_http_request(), site)
        };
        assert!(from(&[]));
        assert!(from(&[("Origin", "https://chat.example.org")]));
        assert!(from(&[("Origin", "http://udd.internal:8080")]));
        assert!(from(&[(
            "Referer",
            "https://chat.example.org/udd/account/data"
        )]));
        assert!(!from(&[("Origin", "https://evil.example")]));
        assert!(!from(&[("Origin", "http://chat.example.org")]), "scheme");
        assert!(!from(&[("Origin", "null")]));
        assert!(!from(&[("Referer", "https://evil.example/account/data")]));
        assert!(!from(&[
            ("Origin", "https://evil.example"),
            ("Referer", "https://chat.example.org/")
        ]));
    }

    #[test]
    fn forms_bind_to_the_session_first_then_to_the_visitor() {
        assert_eq!(
            form_binding(Some("T"), Some("N")).as_deref(),
            Some("session:T")
        );
        assert_eq!(form_binding(None, Some("N")).as_deref(), Some("visitor:N"));
        assert_eq!(form_binding(None, Some("")), None);
        assert_eq!(form_binding(None, None), None);
    }
}
