//! HTTP handlers: parse, call a use case, map the result. No rules live here.

mod data_download;
mod download;
mod health;
mod session;

use actix_web::web;

use crate::error::ApiError;

/// The routes under `/api/v1/`, as the rate limiter names them.
pub const API_ROUTES: [&str; 4] = ["login", "logout", "me", "users.requestDataDownload"];

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .route("/health", web::get().to(health::health))
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
                ),
        );
}

/// Malformed JSON bodies get Rocket.Chat's `invalid-params` error, not actix's plain text.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
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
