//! Periodic housekeeping: deletes rows no request can use any more and forgets rate-limit clients
//! that have fully recovered, so neither the database nor the limiters grow with every client ever
//! seen. Every instance runs it; the deletes are idempotent, so several instances need no
//! coordination.

use std::time::Duration;

use portcullis_db::Pool;
use portcullis_web::RateLimits;

/// Starts the housekeeping loop on the current runtime: one run right away, then every `interval`.
pub fn spawn(pool: Pool, limits: RateLimits, interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(interval);
        loop {
            ticks.tick().await;
            run_once(&pool, &limits).await;
        }
    });
}

async fn run_once(pool: &Pool, limits: &RateLimits) {
    let forgotten = limits.forget_idle();
    let pool = pool.clone();
    let deleted = actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|err| err.to_string())?;
        portcullis_db::maintenance::delete_expired(&mut conn, portcullis_db::now())
            .map_err(|err| err.to_string())
    })
    .await;
    match deleted {
        Ok(Ok(deleted)) if deleted.total() > 0 || forgotten > 0 => {
            log::info!("housekeeping: deleted {deleted:?}, forgot {forgotten} rate-limit clients");
        }
        Ok(Ok(_)) => {}
        // A database outage is reported by /readyz and by requests; the next run tries again.
        Ok(Err(err)) => log::warn!("housekeeping skipped: {err}"),
        Err(err) => log::warn!("housekeeping skipped: {err}"),
    }
}
