//! SIGTERM/SIGINT and `ServerHandle::stop(true)` take the same graceful path in actix: stop accepting,
//! let in-flight requests finish.

use std::time::Duration;

use crate::readiness::spawn_app_with_outage;

#[actix_web::test]
async fn graceful_stop_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let (app, mut outage) = spawn_app_with_outage().await;
    // A readiness probe against an unavailable database takes about two seconds: a request in flight.
    outage.begin();
    let client = app.client.clone();
    let url = app.url("/readyz");
    let in_flight = actix_web::rt::spawn(async move { client.get(url).send().await });
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;

    let stopping = app.handle.stop(true);
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 503);
    stopping.await;

    let refused = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
    outage.end();
}
