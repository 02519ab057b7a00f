//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use portcullis_db::Pool;
use serde_json::json;

/// Readiness never makes a prober wait longer than this, even when the database hangs.
const READY_DEADLINE: Duration = Duration::from_secs(2);

/// 200 while the process serves.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database takes a query now, 503 otherwise. Each probe draws a fresh check from the
/// pool, so the answer turns back to 200 on its own when the database returns.
pub async fn readyz(pool: web::Data<Pool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let probe = web::block(move || -> Result<(), String> {
        let mut conn = pool.get_timeout(READY_DEADLINE).map_err(|e| e.to_string())?;
        portcullis_db::check_ready(&mut conn).map_err(|e| e.to_string())
    });
    match actix_web::rt::time::timeout(READY_DEADLINE, probe).await {
        Ok(Ok(Ok(()))) => HttpResponse::Ok().json(json!({"status": "ready"})),
        outcome => {
            let reason = match outcome {
                Ok(Ok(Err(db))) => db,
                Ok(Err(blocking)) => blocking.to_string(),
                _ => format!("no answer within {READY_DEADLINE:?}"),
            };
            log::warn!("readiness check failed: {reason}");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .json(json!({"status": "unavailable"}))
        }
    }
}
