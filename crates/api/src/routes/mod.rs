//! HTTP handlers: parse, call a use case, map the result. No rules live here.

mod data_download;
mod download;
mod health;
mod method_call;
mod metrics;
pub mod my_data;
pub mod my_data_session;
mod session;

use actix_web::web;

use crate::error::ApiError;

/// The routes under `/api/v1/`, as the rate limiter names them.
pub const API_ROUTES: [&str; 6] = [
    "login",
    "logout",
    "me",
    "users.requestDataDownload",
    "method.call/requestDataDownload",
    "method.callAnon/requestDataDownload",
];

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .app_data(web::PayloadConfig::new(BODY_LIMIT))
        .route("/health", web::get().to(health::health))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/", web::get().to(my_data::show))
        .service(
            web::scope("/account/data")
                .route("", web::get().to(my_data::show))
                .route("/", web::get().to(my_data::show))
                .route("/login", web::post().to(my_data_session::login))
                .route("/logout", web::post().to(my_data_session::logout))
                .route("/request", web::post().to(my_data::request))
                .route("/status", web::get().to(my_data::status))
                .route("/app.js", web::get().to(crate::page::assets::app_js))
                .route("/style.css", web::get().to(crate::page::assets::style_css))
                .route("/icon.svg", web::get().to(crate::page::assets::icon_svg)),
        )
        .route("/data-export/{file_id}", web::get().to(download::download))
        .route("/data-export/{file_id}", web::head().to(download::download))
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(
                    crate::throttle::limit_api_calls,
                ))
                .route("/login", web::post().to(session::login))
                .route("/logout", web::post().to(session::logout))
                .route("/me", web::get().to(session::me))
                .route(
                    "/users.requestDataDownload",
                    web::get().to(data_download::request),
                )
                .route(
                    "/method.call/requestDataDownload",
                    web::post().to(method_call::call),
                )
                .route(
                    "/method.callAnon/requestDataDownload",
                    web::post().to(method_call::call_anon),
                ),
        );
}

/// The largest request body read (logins and method calls are a few hundred bytes).
const BODY_LIMIT: usize = 64 * 1024;

/// Malformed JSON bodies get Rocket.Chat's `invalid-params` error, not actix's plain text.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|err, _req| {
            ApiError::InvalidParams(format!("Invalid request body: {err}")).into()
        })
}

/// Unparsable query strings get the same `invalid-params` error.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::InvalidParams(format!("Invalid query string: {err}")).into()
    })
}
