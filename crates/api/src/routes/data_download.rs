//! `GET /api/v1/users.requestDataDownload[?fullExport=true|false]`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::dto::{RequestDataDownloadResponse, WirePaths};
use crate::error::ApiError;
use crate::services::Services;

#[derive(Debug, Deserialize)]
pub struct Query {
    #[serde(rename = "fullExport")]
    full_export: Option<String>,
}

fn parse_full_export(value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::InvalidParams(format!(
            "The 'fullExport' param must be true or false, not '{}'",
            crate::error::printable(&other.chars().take(40).collect::<String>())
        ))),
    }
}

pub async fn request(
    services: web::Data<Services>,
    paths: web::Data<WirePaths>,
    current: CurrentUser,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let full_export = parse_full_export(query.full_export.as_deref())?;
    let user_id = current.user.id;
    let answer =
        web::block(move || services.request_download.execute(&user_id, full_export)).await??;
    Ok(HttpResponse::Ok().json(RequestDataDownloadResponse::new(&answer, &paths)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_export_accepts_only_true_false_or_nothing() {
        assert!(matches!(parse_full_export(None), Ok(false)));
        assert!(matches!(parse_full_export(Some("false")), Ok(false)));
        assert!(matches!(parse_full_export(Some("true")), Ok(true)));
        let Err(forged) = parse_full_export(Some("yes\n2026-01-01T00:00:00Z INFO forged")) else {
            panic!("refused")
        };
        assert!(!forged.to_string().contains('\n'), "{forged}");
        assert!(forged.to_string().contains("yes\\n2026"), "{forged}");
        for bad in ["maybe", "", "TRUE", "1"] {
            assert!(
                matches!(
                    parse_full_export(Some(bad)),
                    Err(ApiError::InvalidParams(_))
                ),
                "{bad}"
            );
        }
    }
}
