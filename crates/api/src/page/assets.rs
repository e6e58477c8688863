//! The page's script and stylesheet, compiled into the binary and served as files (the
//! Content-Security-Policy allows no inline script or style).

use actix_web::http::header;
use actix_web::HttpResponse;

/// The script that keeps the list of exports up to date.
pub const APP_JS: &str = include_str!("../../static/my-data/app.js");

/// The stylesheet.
pub const STYLE_CSS: &str = include_str!("../../static/my-data/style.css");

/// The page's icon (so browsers do not ask for a `/favicon.ico` that is not there).
pub const ICON_SVG: &str = include_str!("../../static/my-data/icon.svg");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    super::secure_headers(&mut builder)
        .insert_header((header::CONTENT_TYPE, content_type))
        // Short: a new release's page must not meet last release's script for long.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body)
}

/// `GET /account/data/app.js`.
pub async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /account/data/style.css`.
pub async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// `GET /account/data/icon.svg`.
pub async fn icon_svg() -> HttpResponse {
    asset("image/svg+xml", ICON_SVG)
}
