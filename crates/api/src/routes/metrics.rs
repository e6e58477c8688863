//! `GET /metrics`: Prometheus' text format.

use actix_web::{web, HttpResponse};

use crate::services::Services;

/// The queue depth by status (from the database, the same in every process) and this
/// process's counters and histograms. Names no user, operation or file; still, expose
/// it to the scraper only (see docs/operations.md).
pub async fn metrics(services: web::Data<Services>) -> HttpResponse {
    let admin = services.admin.clone();
    let depth = match web::block(move || admin.count_by_status()).await {
        Ok(Ok(depth)) => depth,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not count export operations for /metrics");
            return HttpResponse::ServiceUnavailable().finish();
        }
        Err(e) => {
            tracing::error!(error = %e, "could not count export operations for /metrics");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let body = services
        .metrics
        .render(&depth, services.worker_health.counts());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
