//! Several instances on one database and one Redis: a shared rate-limit quota, a Redis outage that
//! fails no request, and revocation seen by every instance. (Mail delivered once by two instances is
//! in `email.rs`; a key rotation seen by both in `signing_keys.rs`.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use portcullis_tests::{
    redis_url, spawn_app_with, unique_prefix, PrivateRedis, RequestHelper, TcpProxy, TestApp,
};
use serde_json::{json, Value};

/// Sign-in quota of `burst` at once, then one a minute; counted in `redis` under `prefix` when given.
fn limited(vars: &mut HashMap<String, String>, burst: u32, redis: Option<(&str, &str)>) {
    vars.insert("RATE_LIMIT_ENABLED".into(), "true".into());
    vars.insert("RATE_LIMIT_AUTH_PER_MIN".into(), "1".into());
    vars.insert("RATE_LIMIT_AUTH_BURST".into(), burst.to_string());
    if let Some((url, prefix)) = redis {
        vars.insert("REDIS_URL".into(), url.into());
        vars.insert("REDIS_KEY_PREFIX".into(), prefix.into());
    }
}

/// A sign-in with a wrong password for a new address each time (so the per-account back-off, which
/// starts at the fifth failure for one address, never answers instead of the rate limit).
fn wrong_login() -> Value {
    let email = format!("nobody-{}@example.com", uuid::Uuid::now_v7().simple());
    json!({"email": email, "password": "not a real password"})
}

/// The statuses of `n` sign-in attempts, alternating between the instances.
async fn alternate(instances: &[&TestApp], n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let app = instances[i % instances.len()];
        let response = app.anonymous().post("/api/v1/auth/login", &wrong_login()).await;
        if response.status() == 429 {
            response.expect_problem(429, "rate_limited");
        }
        statuses.push(response.status());
    }
    statuses
}

#[actix_web::test]
async fn a_client_alternating_between_instances_meets_one_shared_quota() {
    let Some(url) = redis_url() else { return };
    // The answer key: without Redis, each instance counts alone and the client gets twice the quota.
    let alone = spawn_app_with(|vars| limited(vars, 4, None)).await;
    let alone_too = alone.second_instance(|vars| limited(vars, 4, None)).await;
    let statuses = alternate(&[&alone, &alone_too], 10).await;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 8, "{statuses:?}");

    let prefix = unique_prefix();
    let first = spawn_app_with(|vars| limited(vars, 4, Some((&url, &prefix)))).await;
    let second = first
        .second_instance(|vars| limited(vars, 4, Some((&url, &prefix))))
        .await;
    warm_up(&[&first, &second]).await;
    let statuses = alternate(&[&first, &second], 10).await;
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    let ready = first.anonymous().get("/readyz").await.expect(200);
    assert_eq!(ready, json!({"status": "ready", "redis": "up"}));
}

#[actix_web::test]
async fn a_redis_outage_fails_no_request_and_each_instance_falls_back_to_its_own_limits() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let url = redis.url();
    let prefix = unique_prefix();
    let first = spawn_app_with(|vars| limited(vars, 3, Some((&url, &prefix)))).await;
    let second = first
        .second_instance(|vars| limited(vars, 3, Some((&url, &prefix))))
        .await;
    warm_up(&[&first, &second]).await;
    // Shared while Redis answers: 3 in all.
    assert_eq!(alternate(&[&first, &second], 4).await, [401, 401, 401, 429]);

    redis.stop();
    // No request fails: every answer is the sign-in's own (401) or a limit (429), never a 5xx. Each
    // instance now counts alone, with a fresh allowance of 3.
    for app in [&first, &second] {
        let started = Instant::now();
        assert_eq!(alternate(&[app], 5).await, [401, 401, 401, 429, 429]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let ready = app.anonymous().get("/readyz").await.expect(200);
        assert_eq!(ready, json!({"status": "ready", "redis": "down"}));
    }
    // Other routes keep working meanwhile.
    first.anonymous().get("/healthz").await.expect(200);

    // Redis returns (empty): the instances share a quota again.
    redis.resume().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = first.anonymous().get("/readyz").await.expect(200);
        if ready["redis"] == "up" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis never counted as up again: {ready}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // Give the second instance's second of rest time to end, then both count in Redis again.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(alternate(&[&first, &second], 5).await, [401, 401, 401, 429, 429]);
}

#[actix_web::test]
async fn a_redis_that_stops_answering_delays_requests_by_its_deadline_at_most() {
    let Some(redis) = PrivateRedis::start() else {
        return;
    };
    let url = redis.url();
    let prefix = unique_prefix();
    let app = spawn_app_with(|vars| {
        limited(vars, 3, Some((&url, &prefix)));
        vars.insert("METRICS_BIND_ADDR".into(), "127.0.0.1:0".into());
    })
    .await;
    warm_up(&[&app]).await;
    assert_eq!(alternate(&[&app], 2).await, [401, 401]);
    assert_eq!(fallbacks(&app).await, 0.0);

    // Frozen: connected, silent. Each check gives up after 250 ms and replaces the connection; at
    // most one request a second waits for it, the others are counted in memory at once.
    redis.freeze();
    let started = Instant::now();
    let statuses = alternate(&[&app], 5).await;
    let elapsed = started.elapsed();
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // Not the minutes a silent socket can hold a request; generous for a loaded machine.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let ready = app.anonymous().get("/readyz").await.expect(200);
    assert_eq!(ready["redis"], "down", "{ready}");
    // Every one of the five sign-ins, and the readiness request (its route has a quota too), was
    // decided in memory, and the metrics say so.
    assert_eq!(fallbacks(&app).await, 6.0);

    redis.thaw();
    wait_for_redis(&app).await;
}

/// `portcullis_rate_limit_fallbacks_total` from the app's `/metrics` (0 before the first).
async fn fallbacks(app: &TestApp) -> f64 {
    let address = app.metrics_address.as_ref().expect("METRICS_BIND_ADDR is set");
    let text = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("portcullis_rate_limit_fallbacks_total "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits until each instance has its Redis connection up. The first command of a fresh connection
/// can outlast the 250 ms deadline on a loaded machine, and that request is then (correctly) counted in
/// memory, which would make a test's exact sequence of answers depend on timing.
async fn warm_up(instances: &[&TestApp]) {
    for app in instances {
        wait_for_redis(app).await;
    }
    // A failed first attempt leaves a second of rest before checks go to Redis again.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
}

async fn wait_for_redis(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app.anonymous().get("/readyz").await.expect(200);
        if ready["redis"] == "up" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis never counted as up again: {ready}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_connection_that_went_silent_is_replaced() {
    let Some(url) = redis_url() else { return };
    // Redis behind a proxy that can silence the open connection while new ones get through: the
    // path to Redis changed (a moved host, a dropped NAT entry) and the old socket hears nothing,
    // with no reset to tell the client.
    let upstream = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let upstream = tokio::net::lookup_host(&upstream).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(upstream).await;
    let through_proxy = format!("redis://{}", proxy.addr());
    let prefix = unique_prefix();
    let app = spawn_app_with(|vars| {
        limited(vars, 3, Some((&through_proxy, &prefix)));
        vars.insert("METRICS_BIND_ADDR".into(), "127.0.0.1:0".into());
    })
    .await;
    warm_up(&[&app]).await;
    assert_eq!(alternate(&[&app], 2).await, [401, 401]);
    assert_eq!(fallbacks(&app).await, 0.0);
    proxy.stall();
    // The next check (this readiness request's own quota) times out on the silent connection and is
    // decided in memory; the connection is replaced, so the probe that follows, and the requests after
    // it, reach Redis again at once rather than after the kernel gives up on the socket.
    app.anonymous().get("/readyz").await.expect(200);
    assert_eq!(fallbacks(&app).await, 1.0);
    wait_for_redis(&app).await;
    // Shared counting resumed where it stood: 2 of 3 used before the stall.
    assert_eq!(alternate(&[&app], 2).await, [401, 429]);
}

#[actix_web::test]
async fn logout_on_one_instance_is_refused_on_the_other_at_the_next_request() {
    let first = spawn_app_with(|_| {}).await;
    let second = first.second_instance(|_| {}).await;
    let user = first.user("two@example.com").await;
    let on_second = second.bearer(user.access());
    on_second.get("/api/v1/me").await.expect(200);
    user.post("/api/v1/auth/logout", None).await.expect(204);
    on_second
        .get("/api/v1/me")
        .await
        .expect_problem(401, "invalid_token");
    second
        .anonymous()
        .post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh()}))
        .await
        .expect(401);
}
