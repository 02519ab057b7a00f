//! `GET /metrics` in the Prometheus text format, on its own listener (`METRICS_BIND_ADDR`), so the
//! public port never exposes it. Served by actix-web like the API (no second HTTP stack). Request
//! counts, latencies, rate-limit refusals and sign-in outcomes are recorded as requests are answered
//! ([`portcullis_web::metrics`]); the gauges are sampled here, at scrape time.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use portcullis_auth::Auth;
use portcullis_db::{Pool, PoolWaits};
use portcullis_web::metrics::Metrics;
use portcullis_web::Quota;

/// A scrape never waits longer than this for the outbox counts.
const OUTBOX_DEADLINE: Duration = Duration::from_secs(1);

/// What a scrape samples.
pub(crate) struct Sources {
    pub metrics: web::Data<Metrics>,
    pub auth: web::Data<Auth>,
    pub pool: Pool,
    pub waits: Arc<PoolWaits>,
}

/// The recorder for this server: sign-in outcomes are counted on the routes of the sign-in quota.
pub(crate) fn recorder() -> Metrics {
    Metrics::new(
        crate::router::routes()
            .into_iter()
            .filter(|route| route.quota == Quota::Auth)
            .map(|route| format!("/api/v1{}", route.path)),
    )
}

/// Starts serving `/metrics` on `listener`. It stops with the main server, not on signals of its own.
pub(crate) fn serve(listener: TcpListener, sources: Sources) -> std::io::Result<Server> {
    let sources = web::Data::new(sources);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(sources.clone())
            .service(web::resource("/metrics").get(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn scrape(sources: web::Data<Sources>) -> HttpResponse {
    let metrics = &sources.metrics;
    let hasher = sources.auth.hasher();
    metrics.gauge("portcullis_hash_queue_depth", &[], hasher.queued() as f64);
    metrics.total("portcullis_logins_shed_total", &[], hasher.shed());
    let state = sources.pool.state();
    let idle = f64::from(state.idle_connections);
    metrics.gauge("portcullis_db_pool_connections", &[("state", "idle")], idle);
    metrics.gauge(
        "portcullis_db_pool_connections",
        &[("state", "in_use")],
        f64::from(state.connections) - idle,
    );
    let waits = &sources.waits;
    metrics.total(
        "portcullis_db_pool_waits_total",
        &[("outcome", "served")],
        waits.waited.load(Ordering::Relaxed),
    );
    metrics.total(
        "portcullis_db_pool_waits_total",
        &[("outcome", "timed_out")],
        waits.timed_out.load(Ordering::Relaxed),
    );
    let pool = sources.pool.clone();
    let counts = web::block(move || {
        let mut conn = pool.get_timeout(OUTBOX_DEADLINE).map_err(|e| e.to_string())?;
        portcullis_db::outbox::counts(&mut conn).map_err(|e| e.to_string())
    });
    match actix_web::rt::time::timeout(OUTBOX_DEADLINE, counts).await {
        Ok(Ok(Ok((pending, failed)))) => {
            metrics.gauge("portcullis_mail_outbox", &[("state", "pending")], pending as f64);
            metrics.gauge("portcullis_mail_outbox", &[("state", "failed")], failed as f64);
        }
        // The outbox gauges keep their last value; /readyz tells whether the database answers.
        _ => log::debug!("metrics: the outbox could not be counted"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
