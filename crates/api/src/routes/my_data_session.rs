//! `POST /account/data/login` and `POST /account/data/logout`: the "My data" page's
//! sign-in (the same login as `POST /api/v1/login`) and sign-out, answered with a
//! redirect back to the page and Rocket.Chat's session cookies set or removed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use udd_app::{LoginError, Password, SecondFactorError};

use super::my_data::{genuine, redirect, signed_out, unchecked, with_error, AccountForm, FORGED};
use crate::dto::WirePaths;
use crate::error::ApiError;
use crate::page::html::{Notice, SignIn};
use crate::page::{form_binding, language, same_origin, visitor_nonce, Site, Visitor};
use crate::proxy::ClientAddr;
use crate::services::Services;
use crate::throttle::Throttles;

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    login: Option<String>,
    password: Option<String>,
    code: Option<String>,
    csrf: Option<String>,
}

/// `POST /account/data/login`: the same login as `POST /api/v1/login` (blocking, second
/// factor), then Rocket.Chat's session cookies.
pub async fn login(
    req: HttpRequest,
    services: web::Data<Services>,
    throttles: web::Data<Throttles>,
    site: web::Data<Site>,
    client: ClientAddr,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let SignInForm {
        login,
        password,
        code,
        csrf,
    } = form.into_inner();
    let cat = language(&req, None);
    let say = |key: &str| Some(Notice::Error(cat.text(key, &[])));
    let forged = !same_origin(&req, &site.url)
        || !visitor_nonce(&req)
            .and_then(|nonce| form_binding(None, Some(&nonce)))
            .is_some_and(|binding| {
                services
                    .forms
                    .verify(&binding, csrf.as_deref().unwrap_or(""))
            });
    if forged {
        return signed_out(
            &req,
            &services,
            &site,
            StatusCode::FORBIDDEN,
            say("page.error.form_expired"),
            SignIn::default(),
        );
    }
    if site.remote || services.auth.is_remote() {
        return signed_out(
            &req,
            &services,
            &site,
            StatusCode::FORBIDDEN,
            say("page.error.password_disabled"),
            SignIn::default(),
        );
    }
    let login = login.unwrap_or_default().trim().to_owned();
    let password = password.unwrap_or_default();
    let mut form = SignIn {
        login: login.clone(),
        ..SignIn::default()
    };
    if login.is_empty() || password.is_empty() {
        return signed_out(
            &req,
            &services,
            &site,
            StatusCode::UNAUTHORIZED,
            say("page.error.credentials"),
            form,
        );
    }
    let code = code.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let client_ip = client.0.address();
    let checking = services.clone();
    let (checked_login, checked_password) = (login.clone(), Password::Plain(password.clone()));
    let outcome = throttles
        .logins
        .run(move || {
            checking.auth.login_with_code(
                &checked_login,
                &checked_password,
                code.as_deref(),
                &client_ip,
            )
        })
        .await;
    let (status, key) = match outcome {
        Ok(Ok(session)) => {
            let mut builder = redirect(&site, "");
            builder.cookie(site.session_cookie("rc_uid", session.user.id.to_string()));
            builder.cookie(site.session_cookie("rc_token", session.auth_token));
            return builder.finish();
        }
        Err(ApiError::TooManyRequests { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, "page.error.blocked")
        }
        Err(e) => {
            tracing::error!(error = ?e, "a sign-in could not be checked");
            (StatusCode::INTERNAL_SERVER_ERROR, "page.error.server")
        }
        Ok(Err(LoginError::InvalidCredentials)) => {
            (StatusCode::UNAUTHORIZED, "page.error.credentials")
        }
        Ok(Err(LoginError::BlockedForUser | LoginError::BlockedForIp)) => {
            (StatusCode::TOO_MANY_REQUESTS, "page.error.blocked")
        }
        Ok(Err(LoginError::SecondFactor(SecondFactorError::Required(_)))) => {
            form.password = Some(password);
            form.ask_code = true;
            (StatusCode::UNAUTHORIZED, "page.error.code_required")
        }
        Ok(Err(LoginError::SecondFactor(SecondFactorError::Invalid(_)))) => {
            form.password = Some(password);
            form.ask_code = true;
            (StatusCode::UNAUTHORIZED, "page.error.code_invalid")
        }
        Ok(Err(LoginError::SecondFactor(SecondFactorError::MaxAttempts(_)))) => {
            (StatusCode::TOO_MANY_REQUESTS, "page.error.blocked")
        }
        Ok(Err(LoginError::PasswordLoginDisabled)) => {
            (StatusCode::FORBIDDEN, "page.error.password_disabled")
        }
        Ok(Err(
            LoginError::Unexpected(e) | LoginError::SecondFactor(SecondFactorError::Unexpected(e)),
        )) => {
            tracing::error!(error = ?e, "a sign-in failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page.error.server")
        }
    };
    signed_out(&req, &services, &site, status, say(key), form)
}

/// `POST /account/data/logout`: forgets the session and its cookies.
pub async fn logout(
    req: HttpRequest,
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
    site: web::Data<Site>,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    match Visitor::of(&req, &services).await {
        Visitor::Signed { user, token } => {
            if site.remote {
                // Rocket.Chat's session is Rocket.Chat's to end.
                return redirect(&site, "").finish();
            }
            if !genuine(&req, &services, &site, &token, form.csrf.as_deref()) {
                return with_error(&req, &services, (&paths, &site), (&user, &token), FORGED).await;
            }
            let forgetting = services.clone();
            let user_id = user.id.clone();
            let forgotten = web::block(move || forgetting.auth.logout(&user_id, &token)).await;
            if !matches!(forgotten, Ok(Ok(()))) {
                tracing::error!(user = %user.id, "could not delete a login token at sign-out");
            }
            let mut builder = redirect(&site, "?done=signed-out");
            builder.cookie(site.removal("rc_uid"));
            builder.cookie(site.removal("rc_token"));
            builder.finish()
        }
        Visitor::Anonymous => redirect(&site, "").finish(),
        other => unchecked(&req, &services, &site, other),
    }
}
