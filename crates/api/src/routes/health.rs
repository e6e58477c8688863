use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::services::Services;

/// `GET /health`: the process is up and serving, and, where it runs export workers, at
/// least one of them is alive (else 503 with the reason). Reads two counters only.
pub async fn health(services: web::Data<Services>) -> HttpResponse {
    let version = env!("CARGO_PKG_VERSION");
    let (alive, expected) = services.worker_health.counts();
    match services.worker_health.problem() {
        None => HttpResponse::Ok().json(json!({
            "status": "ok",
            "version": version,
            "workers": {"alive": alive, "expected": expected},
        })),
        Some(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "error",
            "version": version,
            "reason": reason,
            "workers": {"alive": alive, "expected": expected},
        })),
    }
}
