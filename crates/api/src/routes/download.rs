//! `GET|HEAD /data-export/{fileId}[?token=…]`: the owner downloads a finished export,
//! logged in or through the signed link from the mail.

use actix_files::NamedFile;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use udd_app::{AuthError, DownloadError, Requester};

use crate::auth::header;

use crate::services::Services;

/// The requester's user id, from Rocket.Chat's headers or its `rc_uid`/`rc_token`
/// cookies: `None` when neither identifies a logged-in user. A failing backend is an
/// error, not an anonymous requester (who would be shown a misleading 403).
async fn requester(
    req: &HttpRequest,
    services: &web::Data<Services>,
) -> Result<Option<String>, anyhow::Error> {
    let cookie = |name: &str| req.cookie(name).map(|c| c.value().to_owned());
    let (user_id, token) = match (header(req, "X-User-Id"), header(req, "X-Auth-Token")) {
        (user_id, token) if !user_id.is_empty() && !token.is_empty() => (user_id, token),
        _ => match (cookie("rc_uid"), cookie("rc_token")) {
            (Some(user_id), Some(token)) => (user_id, token),
            _ => return Ok(None),
        },
    };
    let services = services.clone();
    match web::block(move || services.auth.authenticate(&user_id, &token)).await? {
        Ok(user) => Ok(Some(user.id)),
        Err(AuthError::NotLoggedIn) => Ok(None),
        Err(AuthError::Unexpected(e)) => Err(e),
    }
}

/// A small page for a person who followed a link: what happened and what to do.
fn page(status: StatusCode, title: &str, advice: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{advice}</p></body></html>"
        ))
}

fn server_error() -> HttpResponse {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
        "Something went wrong on our side. Please try again later.",
    )
}

fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "File not found",
        "This export does not exist or has expired. Log in and request your data again \
         to get a new one.",
    )
}

/// The query string: the signed token from the mail's link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// Streams the zip (no whole-file buffering) with single-range support, an ETag and an
/// attachment disposition carrying the `YYYY-MM-DD-<name>[-data].zip` name (RFC 6266,
/// with the RFC 5987 form for non-ASCII names). Every GET that sends content is
/// recorded.
pub async fn download(
    req: HttpRequest,
    services: web::Data<Services>,
    file_id: web::Path<String>,
    query: web::Query<LinkQuery>,
) -> HttpResponse {
    let user_id = match requester(&req, &services).await {
        Ok(user_id) => user_id,
        Err(e) => {
            tracing::error!(error = ?e, "could not check the requester's login");
            return server_error();
        }
    };
    let token = query.into_inner().token;
    let use_case = services.clone();
    let decided = web::block(move || {
        let requester = Requester {
            user_id: user_id.as_deref(),
            token: token.as_deref(),
        };
        use_case.download.execute(&file_id, requester)
    })
    .await;
    let granted = match decided {
        Ok(Ok(granted)) => granted,
        Ok(Err(DownloadError::Disabled)) => {
            return page(
                StatusCode::FORBIDDEN,
                "Data download is disabled",
                "The administrator has switched data downloads off.",
            )
        }
        Ok(Err(DownloadError::NotFound)) => return not_found(),
        Ok(Err(DownloadError::Forbidden)) => {
            return page(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "This file belongs to someone else, or the link is not valid or has \
                 expired. Log in as the file's owner, or use the link from your latest email.",
            )
        }
        Ok(Err(DownloadError::Unexpected(e))) => {
            tracing::error!(error = ?e, "download failed");
            return server_error();
        }
        Err(e) => {
            tracing::error!(error = %e, "download failed");
            return server_error();
        }
    };
    let file = &granted.file;
    let named = match NamedFile::open_async(&file.path).await {
        Ok(named) => named,
        Err(e) => {
            tracing::error!(file = %file.id, path = %file.path, error = %e, "a recorded export is missing on disk");
            return not_found();
        }
    };
    // A zip is never empty, so an empty file is a damaged one; and actix-files cannot
    // answer a range over it (a suffix range yields a zero-length range whose last
    // byte it computes as 0 - 1).
    if named.metadata().len() == 0 {
        tracing::error!(file = %file.id, path = %file.path, "a recorded export is empty on disk");
        return not_found();
    }
    let ascii: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: file.name.clone().into_bytes(),
            }),
        ],
    };
    let mut response = named
        .set_content_type(actix_files::file_extension_to_mime("zip"))
        .set_content_disposition(disposition)
        .use_last_modified(true)
        .use_etag(true)
        .into_response(&req);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    let sends_content = req.method() == actix_web::http::Method::GET
        && matches!(response.status().as_u16(), 200 | 206);
    if sends_content {
        let bytes = match response.body().size() {
            BodySize::Sized(n) => n,
            _ => 0,
        };
        let client = req.peer_addr().map(|addr| addr.ip().to_string());
        let services = services.clone();
        if let Err(e) = web::block(move || services.download.record(&granted, bytes, client)).await
        {
            tracing::error!(error = %e, "could not record a download");
        }
    }
    response
}
