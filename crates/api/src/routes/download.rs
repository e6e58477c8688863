//! `GET|HEAD /data-export/{fileId}[?token=…]`: the owner downloads a finished export,
//! logged in or through the signed link from the mail.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, EntityTag, ExtendedValue,
    HeaderMap, HttpDate,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use udd_app::{AuthError, DownloadError, Requester};
use udd_domain::{FileId, UserId};
use udd_ports::{ArchiveRead, UserDataFile};

use crate::auth::presented_session;
use crate::ranges::{content_range, range_answer, RangeAnswer};

use crate::services::Services;

/// The requester's user id, from Rocket.Chat's headers or its `rc_uid`/`rc_token`
/// cookies: `None` when neither identifies a logged-in user. A failing backend is an
/// error, not an anonymous requester (who would be shown a misleading 403).
async fn requester(
    req: &HttpRequest,
    services: &web::Data<Services>,
) -> Result<Option<UserId>, Unchecked> {
    let Some((user_id, token)) = presented_session(req, true) else {
        return Ok(None);
    };
    let services = services.clone();
    let user_id = UserId::from(user_id);
    match web::block(move || services.auth.authenticate(&user_id, &token)).await? {
        Ok(user) => Ok(Some(user.id)),
        Err(AuthError::NotLoggedIn) => Ok(None),
        Err(AuthError::Unavailable(e)) => Err(Unchecked::Unavailable(e)),
        Err(AuthError::Unexpected(e)) => Err(Unchecked::Failed(e)),
    }
}

/// Why the requester could not be told.
enum Unchecked {
    /// Rocket.Chat, which owns the session, cannot be reached.
    Unavailable(anyhow::Error),
    /// Anything else.
    Failed(anyhow::Error),
}

impl From<actix_web::error::BlockingError> for Unchecked {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Failed(anyhow::anyhow!("blocking task failed: {err}"))
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

/// Streams the archive from the archive store (no whole-file buffering, no path on
/// this host) with single-range support (`If-Range` honoured), a strong ETag (the
/// archive's SHA-256), `If-None-Match`, and an attachment disposition carrying the
/// `YYYY-MM-DD-<name>[-data].zip` name (RFC 6266, with the RFC 5987 form for non-ASCII
/// names). Every GET that sends content is recorded.
pub async fn download(
    req: HttpRequest,
    services: web::Data<Services>,
    file_id: web::Path<String>,
    query: web::Query<LinkQuery>,
) -> HttpResponse {
    let token = query.into_inner().token;
    let user_id = match requester(&req, &services).await {
        Ok(user_id) => user_id,
        // The mailed link needs no session: an outage of Rocket.Chat must not stop it.
        Err(Unchecked::Unavailable(e)) if token.is_some() => {
            tracing::warn!(error = ?e, "Rocket.Chat could not check a session; the link decides");
            None
        }
        Err(Unchecked::Unavailable(e)) => {
            tracing::warn!(error = ?e, "Rocket.Chat could not check a session");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again shortly",
                "Your session cannot be checked right now because the chat server cannot be \
                 reached. You are not logged out: reload this page in a moment.",
            );
        }
        Err(Unchecked::Failed(e)) => {
            tracing::error!(error = ?e, "could not check the requester's login");
            return server_error();
        }
    };
    let use_case = services.clone();
    let decided = web::block(move || {
        let requester = Requester {
            user_id: user_id.as_ref(),
            token: token.as_deref(),
        };
        use_case
            .download
            .execute(&FileId::from(file_id.into_inner()), requester)
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
        Ok(Err(DownloadError::LoginRequired)) => {
            return page(
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "To download your data, sign in to Rocket.Chat in this browser first, \
                 then open the link from your email again.",
            )
        }
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
    let file = granted.file.clone();
    // The stored archive must be the one recorded: a missing, truncated or replaced one
    // is answered like an expired export (and logged), never served or ranged over.
    let archives = services.archives.clone();
    let key = file.key.clone();
    match web::block(move || archives.size(&key)).await {
        Ok(Ok(Some(size))) if size == file.size => {}
        Ok(Ok(stored)) => {
            tracing::error!(file = %file.id, key = %file.key, stored = ?stored, recorded = file.size, "a recorded export is missing from storage or does not match its record");
            return not_found();
        }
        Ok(Err(e)) => {
            tracing::error!(file = %file.id, error = %format!("{e:#}"), "could not look up an export");
            return server_error();
        }
        Err(e) => {
            tracing::error!(file = %file.id, error = %e, "could not look up an export");
            return server_error();
        }
    }
    // With `storage.download = "redirect"` the store serves the bytes: a short-lived
    // link straight to it, carrying the same download name. HEAD stays here (a link is
    // signed for GET only).
    if req.method() == Method::GET {
        let archives = services.archives.clone();
        let (key, named) = (file.key.clone(), disposition(&file).to_string());
        match web::block(move || archives.redirect_location(&key, &named)).await {
            Ok(Ok(Some(location))) => {
                let client = crate::proxy::TrustedProxies::client_of_request(&req)
                    .ip
                    .map(|ip| ip.to_string());
                let recorder = services.clone();
                let size = file.size;
                services.metrics.downloaded(size);
                if let Err(e) =
                    web::block(move || recorder.download.record(&granted, size, client)).await
                {
                    tracing::error!(error = %e, "could not record a download");
                }
                return HttpResponse::Found()
                    .insert_header((header::LOCATION, location))
                    .insert_header((header::CACHE_CONTROL, "private, no-store"))
                    .finish();
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(file = %file.id, error = %format!("{e:#}"), "could not sign a link to an export");
                return server_error();
            }
            Err(e) => {
                tracing::error!(file = %file.id, error = %e, "could not sign a link to an export");
                return server_error();
            }
        }
    }
    let etag = EntityTag::new_strong(file.sha256.clone());
    let last_modified = HttpDate::from(SystemTime::from(file.created_at));
    let headers = req.headers();
    if if_none_match(headers, &etag) {
        return respond(StatusCode::NOT_MODIFIED, &file, &etag, last_modified).finish();
    }
    // One range at most, and only while the client's copy is this one (If-Range).
    let asked = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(headers, &etag, last_modified));
    let range = match range_answer(asked, file.size) {
        RangeAnswer::Whole => None,
        RangeAnswer::Part(part) => Some(part),
        RangeAnswer::Unsatisfiable => {
            return respond(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &file,
                &etag,
                last_modified,
            )
            .insert_header((header::CONTENT_RANGE, format!("bytes */{}", file.size)))
            .finish()
        }
    };
    let head = req.method() == Method::HEAD;
    let archives = services.archives.clone();
    let key = file.key.clone();
    let opened = match web::block(move || archives.open(&key, range)).await {
        Ok(Ok(Some(read))) => read,
        Ok(Ok(None)) => {
            tracing::error!(file = %file.id, key = %file.key, "a recorded export is missing from storage");
            return not_found();
        }
        Ok(Err(e)) => {
            tracing::error!(file = %file.id, error = %format!("{e:#}"), "could not open an export");
            return server_error();
        }
        Err(e) => {
            tracing::error!(file = %file.id, error = %e, "could not open an export");
            return server_error();
        }
    };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = respond(status, &file, &etag, last_modified);
    if let Some(range) = range {
        response.insert_header((header::CONTENT_RANGE, content_range(range, opened.total)));
    }
    let bytes = opened.len;
    if head {
        return response.body(ArchiveBody::empty(bytes));
    }
    // The client as the trusted proxies report it, not the proxy's own address.
    let client = crate::proxy::TrustedProxies::client_of_request(&req)
        .ip
        .map(|ip| ip.to_string());
    services.metrics.downloaded(bytes);
    let recorder = services.clone();
    if let Err(e) = web::block(move || recorder.download.record(&granted, bytes, client)).await {
        tracing::error!(error = %e, "could not record a download");
    }
    response.body(ArchiveBody::stream(opened))
}

/// The attachment disposition naming the download `YYYY-MM-DD-<name>[-data].zip`
/// (RFC 6266, with the RFC 5987 form for non-ASCII names).
fn disposition(file: &UserDataFile) -> ContentDisposition {
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
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: file.name.clone().into_bytes(),
            }),
        ],
    }
}

/// The headers every answer about a file carries.
fn respond(
    status: StatusCode,
    file: &UserDataFile,
    etag: &EntityTag,
    last_modified: HttpDate,
) -> HttpResponseBuilder {
    let disposition = disposition(file);
    let mut response = HttpResponse::build(status);
    response
        .content_type("application/zip")
        .insert_header(disposition)
        .insert_header(header::ETag(etag.clone()))
        .insert_header(header::LastModified(last_modified))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    response
}

/// `If-None-Match` names this version (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &EntityTag) -> bool {
    match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => value.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.parse::<EntityTag>().is_ok_and(|tag| tag.weak_eq(etag))
        }),
        None => false,
    }
}

/// A `Range` applies unless `If-Range` names another version (RFC 9110 §13.1.5): a
/// strong ETag must match exactly, a date must equal the last modification.
fn if_range_holds(headers: &HeaderMap, etag: &EntityTag, last_modified: HttpDate) -> bool {
    let Some(value) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let value = value.trim();
    if let Ok(tag) = value.parse::<EntityTag>() {
        return tag.strong_eq(etag);
    }
    // Dates have whole seconds on the wire, the record has milliseconds: compare what
    // the client was sent.
    value
        .parse::<HttpDate>()
        .is_ok_and(|date| date.to_string() == last_modified.to_string())
}

/// A response body streamed from an opened archive, read on a blocking thread in
/// chunks, so neither memory nor the async executor carries the file.
struct ArchiveBody {
    len: u64,
    chunks: Option<tokio::sync::mpsc::Receiver<std::io::Result<web::Bytes>>>,
}

/// Bytes read at a time, and chunks buffered ahead of the client.
const CHUNK: usize = 256 * 1024;
const CHUNKS_AHEAD: usize = 4;

impl ArchiveBody {
    /// A body of `len` bytes that is never sent (answers to HEAD).
    fn empty(len: u64) -> Self {
        Self { len, chunks: None }
    }

    fn stream(opened: ArchiveRead) -> Self {
        let (sender, chunks) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let len = opened.len;
        let mut body = opened.body;
        actix_web::rt::task::spawn_blocking(move || {
            let mut buffer = vec![0_u8; CHUNK];
            loop {
                let chunk = match body.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => Ok(web::Bytes::copy_from_slice(&buffer[..n])),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = chunk.is_err();
                // A client that went away drops the receiver: stop reading.
                if sender.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        Self {
            len,
            chunks: Some(chunks),
        }
    }
}

impl MessageBody for ArchiveBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        match &mut self.get_mut().chunks {
            Some(chunks) => chunks.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}
