//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use portcullis_db::Pool;
use portcullis_web::SharedTier;
use serde_json::json;

/// Readiness never makes a prober wait longer than this, even when the database hangs.
const READY_DEADLINE: Duration = Duration::from_secs(2);

/// 200 while the process serves.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database takes a query now, 503 otherwise. Each probe draws a fresh check from the
/// pool, so the answer turns back to 200 on its own when the database returns. With `REDIS_URL`, the
/// body also says whether Redis answers (`"redis": "up"` or `"down"`).
pub async fn readyz(pool: web::Data<Pool>, redis: Option<web::Data<SharedTier>>) -> HttpResponse {
    // Redis is optional to serving (the rate limits fall back to memory), so it shows in the body
    // but never makes the instance unready.
    let redis = match redis {
        Some(shared) => Some(if shared.probe().await { "up" } else { "down" }),
        None => None,
    };
    let (mut response, mut body) = database(pool).await;
    if let (Some(state), Some(fields)) = (redis, body.as_object_mut()) {
        fields.insert("redis".into(), json!(state));
    }
    response.json(body)
}

async fn database(pool: web::Data<Pool>) -> (actix_web::HttpResponseBuilder, serde_json::Value) {
    let pool = pool.get_ref().clone();
    let probe = web::block(move || -> Result<(), String> {
        let mut conn = pool.get_timeout(READY_DEADLINE).map_err(|e| e.to_string())?;
        portcullis_db::check_ready(&mut conn).map_err(|e| e.to_string())
    });
    match actix_web::rt::time::timeout(READY_DEADLINE, probe).await {
        Ok(Ok(Ok(()))) => (HttpResponse::Ok(), json!({"status": "ready"})),
        outcome => {
            let reason = match outcome {
                Ok(Ok(Err(db))) => db,
                Ok(Err(blocking)) => blocking.to_string(),
                _ => format!("no answer within {READY_DEADLINE:?}"),
            };
            log::warn!("readiness check failed: {reason}");
            let mut response = HttpResponse::ServiceUnavailable();
            response.insert_header(("Retry-After", "1"));
            (response, json!({"status": "unavailable"}))
        }
    }
}
