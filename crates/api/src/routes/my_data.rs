//! The "My data" page (`GET /` and `GET /account/data`) and its forms: sign in, sign
//! out, ask for an export (each a POST answered with a redirect back to the page, so a
//! reload never posts twice), and the JSON the page's script polls
//! (`GET /account/data/status`). Signing in and out is in [`super::my_data_session`];
//! see [`crate::page`] for what they share.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use udd_app::{MyExport, RequestDownloadError};
use udd_domain::i18n::Catalogue;
use udd_domain::User;

use crate::dto::{completed_download, WirePaths};
use crate::error::ApiError;
use crate::page::html::{self, Main, Notice, SignIn};
use crate::page::{
    form_binding, language, same_origin, secure_headers, visitor_nonce, Site, Visitor,
    VISITOR_COOKIE,
};
use crate::services::Services;

/// The page's query after a redirect: what just happened.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    done: Option<String>,
    kind: Option<String>,
}

/// The sign-out form and the request form.
#[derive(Debug, Deserialize)]
pub struct AccountForm {
    kind: Option<String>,
    pub(super) csrf: Option<String>,
}

/// Everything a page answer is made of.
struct Answer<'a> {
    status: StatusCode,
    cat: Catalogue,
    notice: Option<Notice>,
    main: Main<'a>,
    csrf: String,
    cookies: Vec<actix_web::cookie::Cookie<'static>>,
}

fn respond(site: &Site, answer: Answer<'_>) -> HttpResponse {
    let body = html::page(
        &answer.cat,
        site,
        &answer.csrf,
        answer.notice.as_ref(),
        &answer.main,
    );
    let mut builder = HttpResponse::build(answer.status);
    secure_headers(&mut builder).content_type("text/html; charset=utf-8");
    for cookie in answer.cookies {
        builder.cookie(cookie);
    }
    builder.body(body)
}

pub(super) fn redirect(site: &Site, query: &str) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::SeeOther();
    secure_headers(&mut builder)
        .insert_header((header::LOCATION, format!("{}{}", site.page_path(), query)));
    builder
}

/// The signed-out page: the sign-in form (or where to sign in), its forms bound to the
/// visitor cookie, which is set when missing.
pub(super) fn signed_out(
    req: &HttpRequest,
    services: &Services,
    site: &Site,
    status: StatusCode,
    notice: Option<Notice>,
    form: SignIn,
) -> HttpResponse {
    let mut cookies = Vec::new();
    let nonce = visitor_nonce(req).unwrap_or_else(|| {
        let nonce = services.forms.nonce();
        cookies.push(site.cookie(VISITOR_COOKIE, nonce.clone()));
        nonce
    });
    let csrf = form_binding(None, Some(&nonce))
        .map(|binding| services.forms.issue(&binding))
        .unwrap_or_default();
    let main = if site.remote {
        Main::SignInElsewhere
    } else {
        Main::SignIn(form)
    };
    respond(
        site,
        Answer {
            status,
            cat: language(req, None),
            notice,
            main,
            csrf,
            cookies,
        },
    )
}

/// The page when the visitor could not be told: Rocket.Chat unreachable, or a failure.
pub(super) fn unchecked(
    req: &HttpRequest,
    services: &Services,
    site: &Site,
    visitor: Visitor,
) -> HttpResponse {
    let cat = language(req, None);
    let (status, key) = match visitor {
        Visitor::Unavailable(e) => {
            tracing::warn!(error = ?e, "Rocket.Chat could not check a session");
            (StatusCode::SERVICE_UNAVAILABLE, "page.error.unavailable")
        }
        Visitor::Failed(e) => {
            tracing::error!(error = ?e, "could not check a session");
            (StatusCode::INTERNAL_SERVER_ERROR, "page.error.server")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "page.error.server"),
    };
    signed_out(
        req,
        services,
        site,
        status,
        Some(Notice::Error(cat.text(key, &[]))),
        SignIn::default(),
    )
}

async fn my_exports(
    services: &web::Data<Services>,
    user: &User,
) -> Result<Vec<MyExport>, anyhow::Error> {
    let services = services.clone();
    let user_id = user.id.clone();
    web::block(move || services.my_exports.list(&user_id))
        .await
        .map_err(|e| anyhow::anyhow!("blocking task failed: {e}"))?
        .map_err(anyhow::Error::new)
}

/// The signed-in page with `notice`.
#[allow(clippy::too_many_arguments)]
async fn signed_in(
    req: &HttpRequest,
    services: &web::Data<Services>,
    paths: &WirePaths,
    site: &Site,
    user: &User,
    token: &str,
    status: StatusCode,
    notice: impl FnOnce(&Catalogue, &[MyExport]) -> Option<Notice>,
) -> HttpResponse {
    let cat = language(req, Some(user));
    let exports = match my_exports(services, user).await {
        Ok(exports) => exports,
        Err(e) => {
            tracing::error!(error = ?e, "could not list a user's exports");
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body(cat.text("page.error.server", &[]));
        }
    };
    let csrf = form_binding(Some(token), None)
        .map(|binding| services.forms.issue(&binding))
        .unwrap_or_default();
    let notice = notice(&cat, &exports);
    respond(
        site,
        Answer {
            status,
            cat,
            notice,
            main: Main::Account {
                display_name: user.display_name(),
                exports: &exports,
                paths,
            },
            csrf,
            cookies: Vec::new(),
        },
    )
}

/// What to say after a request was answered (`?done=…&kind=…`).
fn request_notice(query: &PageQuery, cat: &Catalogue, exports: &[MyExport]) -> Option<Notice> {
    let full = match query.kind.as_deref() {
        Some("json") => true,
        Some("html") => false,
        _ => return None,
    };
    let latest = exports.iter().find(|e| e.operation.full_export == full);
    let next = |text: String| match latest.and_then(|e| e.next_request_at) {
        Some(at) => format!(
            "{text} {}",
            cat.text("page.request.next", &[("when", &html::date(cat, at))])
        ),
        None => text,
    };
    match query.done.as_deref() {
        Some("requested") => Some(Notice::Info(cat.text("page.request.requested", &[]))),
        Some("existed") => {
            let completed = latest.is_some_and(|e| e.file.is_some());
            let key = if completed {
                "page.request.completed_existed"
            } else {
                "page.request.existed"
            };
            Some(Notice::Info(next(cat.text(key, &[]))))
        }
        Some("disabled") => Some(Notice::Error(cat.text("page.request.disabled", &[]))),
        _ => None,
    }
}

/// `GET /` and `GET /account/data`.
pub async fn show(
    req: HttpRequest,
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
    site: web::Data<Site>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    match Visitor::of(&req, &services).await {
        Visitor::Signed { user, token } => {
            let query = query.into_inner();
            signed_in(
                &req,
                &services,
                &paths,
                &site,
                &user,
                &token,
                StatusCode::OK,
                |cat, exports| request_notice(&query, cat, exports),
            )
            .await
        }
        Visitor::Anonymous => {
            let notice = (query.done.as_deref() == Some("signed-out"))
                .then(|| Notice::Info(language(&req, None).text("page.signed_out", &[])));
            signed_out(
                &req,
                &services,
                &site,
                StatusCode::OK,
                notice,
                SignIn::default(),
            )
        }
        other => unchecked(&req, &services, &site, other),
    }
}

/// Whether a signed-in user's form is genuine.
pub(super) fn genuine(
    req: &HttpRequest,
    services: &Services,
    site: &Site,
    token: &str,
    csrf: Option<&str>,
) -> bool {
    same_origin(req, &site.url)
        && form_binding(Some(token), None)
            .is_some_and(|binding| services.forms.verify(&binding, csrf.unwrap_or("")))
}

/// The signed-in page again, with an error notice: `status` and the catalogue's
/// `message` (a forged or expired form, a failed request).
pub(super) async fn with_error(
    req: &HttpRequest,
    services: &web::Data<Services>,
    (paths, site): (&WirePaths, &Site),
    (user, token): (&User, &str),
    (status, message): (StatusCode, &'static str),
) -> HttpResponse {
    signed_in(
        req,
        services,
        paths,
        site,
        user,
        token,
        status,
        move |cat, _| Some(Notice::Error(cat.text(message, &[]))),
    )
    .await
}

/// A form that is not this session's own: forged, or from an expired page.
pub(super) const FORGED: (StatusCode, &str) = (StatusCode::FORBIDDEN, "page.error.form_expired");
/// Something failed on udd's side.
const FAILED: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "page.error.server");

/// `POST /account/data/request`: `kind=html` (personal) or `kind=json` (full), under the
/// same once-a-day rule as `users.requestDataDownload`.
pub async fn request(
    req: HttpRequest,
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
    site: web::Data<Site>,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let (user, token) = match Visitor::of(&req, &services).await {
        Visitor::Signed { user, token } => (user, token),
        Visitor::Anonymous => return redirect(&site, "").finish(),
        other => return unchecked(&req, &services, &site, other),
    };
    let full_export = match form.kind.as_deref() {
        Some("json") => true,
        Some("html") => false,
        _ => return with_error(&req, &services, (&paths, &site), (&user, &token), FORGED).await,
    };
    if !genuine(&req, &services, &site, &token, form.csrf.as_deref()) {
        return with_error(&req, &services, (&paths, &site), (&user, &token), FORGED).await;
    }
    let kind = if full_export { "json" } else { "html" };
    let requesting = services.clone();
    let user_id = user.id.clone();
    let answer = web::block(move || requesting.request_download.execute(&user_id, full_export))
        .await
        .unwrap_or_else(|e| Err(RequestDownloadError::Unexpected(anyhow::Error::new(e))));
    match answer {
        Ok(answer) => {
            let done = if answer.requested {
                "requested"
            } else {
                "existed"
            };
            redirect(&site, &format!("?done={done}&kind={kind}")).finish()
        }
        Err(RequestDownloadError::Disabled) => {
            redirect(&site, &format!("?done=disabled&kind={kind}")).finish()
        }
        Err(RequestDownloadError::Unexpected(e)) => {
            tracing::error!(error = ?e, "a request from the page failed");
            with_error(&req, &services, (&paths, &site), (&user, &token), FAILED).await
        }
    }
}

/// `GET /account/data/status`: the signed-in user's exports as JSON, with the list
/// already rendered for the page (`html`) and whether any is still on its way
/// (`active`). Signed out: Rocket.Chat's 401 body.
pub async fn status(
    req: HttpRequest,
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
) -> Result<HttpResponse, ApiError> {
    let user = match Visitor::of(&req, &services).await {
        Visitor::Signed { user, .. } => user,
        Visitor::Anonymous => return Err(ApiError::NotLoggedIn),
        Visitor::Unavailable(e) => return Err(udd_app::AuthError::Unavailable(e).into()),
        Visitor::Failed(e) => return Err(ApiError::Unexpected(e)),
    };
    let cat = language(&req, Some(&user));
    let exports = my_exports(&services, &user).await?;
    let listed: Vec<serde_json::Value> = exports
        .iter()
        .map(|export| {
            let op = &export.operation;
            let (done, total) = export.messages();
            json!({
                "operationId": op.id,
                "fullExport": op.full_export,
                "status": op.status.as_str(),
                "exportedCount": done,
                "total": total,
                "percent": export.percent(),
                "size": export.file.as_ref().map(|f| f.size),
                "expiresAt": export.file.as_ref().and_then(|f| f.expires_at)
                    .map(udd_domain::time::iso_millis),
                "url": export.file.as_ref().and_then(|_| completed_download(op, &paths)),
                "failureReason": op.failure_reason,
                "nextRequestAt": export.next_request_at.map(udd_domain::time::iso_millis),
            })
        })
        .collect();
    let mut builder = HttpResponse::Ok();
    secure_headers(&mut builder);
    Ok(builder.json(json!({
        "success": true,
        "active": exports.iter().any(MyExport::is_active),
        "exports": listed,
        "html": html::exports_fragment(&cat, &exports, &paths),
    })))
}
