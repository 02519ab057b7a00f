//! `/metrics` on its own listener: requests by route template (never by raw path), latency buckets,
//! sign-in outcomes, rate-limit refusals and the sampled gauges.

use portcullis_tests::{spawn_app_with, RequestHelper, TestApp, PASSWORD};
use serde_json::json;

async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.as_ref().expect("METRICS_BIND_ADDR is set");
    let response = app.client.get(format!("{address}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the series with exactly this name and these labels (as Prometheus prints them).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[actix_web::test]
async fn requests_are_counted_by_route_template_and_outcome() {
    let app = spawn_app_with(|vars| {
        vars.insert("METRICS_BIND_ADDR".into(), "127.0.0.1:0".into());
    })
    .await;
    let owner = app.user("metrics@example.com").await;
    let tenant = owner.create_tenant("metrics").await;
    let path = tenant.path("");
    owner.get(&path).await.expect(200);
    owner.get(&path).await.expect(200);
    app.anonymous().get("/api/v1/me").await.expect(401);
    app.anonymous().get("/no/such/route").await.expect(404);
    app.anonymous()
        .post(
            "/api/v1/auth/login",
            &json!({"email": "metrics@example.com", "password": "not the password"}),
        )
        .await
        .expect(401);
    app.sign_in("metrics@example.com", PASSWORD).await.expect(200);

    let text = scrape(&app).await;
    let expect = |series: &str, wanted: f64| {
        assert_eq!(value(&text, series), Some(wanted), "{series} in\n{text}");
    };
    expect(
        r#"portcullis_http_requests_total{method="GET",route="/api/v1/tenants/{tid}",status="200"}"#,
        2.0,
    );
    // Refused by the route guard: still labelled with the route it matched.
    expect(
        r#"portcullis_http_requests_total{method="GET",route="/api/v1/me",status="401"}"#,
        1.0,
    );
    expect(
        r#"portcullis_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        1.0,
    );
    expect(
        r#"portcullis_sign_in_total{route="/api/v1/auth/login",outcome="invalid_credentials"}"#,
        1.0,
    );
    expect(
        r#"portcullis_sign_in_total{route="/api/v1/auth/login",outcome="success"}"#,
        1.0,
    );
    expect(
        r#"portcullis_sign_in_total{route="/api/v1/auth/signup",outcome="success"}"#,
        1.0,
    );
    expect(
        r#"portcullis_http_request_duration_seconds_count{method="GET",route="/api/v1/tenants/{tid}"}"#,
        2.0,
    );
    assert!(
        text.contains(r#"portcullis_http_request_duration_seconds_bucket{method="GET",route="/api/v1/tenants/{tid}",le="0.005"}"#),
        "{text}"
    );
    // Labels never carry what a client sent: no tenant id, no unmatched path.
    assert!(!text.contains(&tenant.id), "{text}");
    assert!(!text.contains("/no/such/route"), "{text}");
    for gauge in [
        "portcullis_hash_queue_depth",
        r#"portcullis_db_pool_connections{state="in_use"}"#,
        r#"portcullis_db_pool_connections{state="idle"}"#,
        r#"portcullis_mail_outbox{state="pending"}"#,
        r#"portcullis_mail_outbox{state="failed"}"#,
        "portcullis_logins_shed_total",
    ] {
        assert!(value(&text, gauge).is_some(), "{gauge} missing from\n{text}");
    }
    assert_eq!(value(&text, "portcullis_hash_queue_depth"), Some(0.0));
    // The public port does not serve it.
    app.anonymous().get("/metrics").await.expect(404);
}

#[actix_web::test]
async fn rate_limit_refusals_are_counted() {
    let app = spawn_app_with(|vars| {
        vars.insert("METRICS_BIND_ADDR".into(), "127.0.0.1:0".into());
        vars.insert("RATE_LIMIT_ENABLED".into(), "true".into());
        vars.insert("RATE_LIMIT_AUTH_PER_MIN".into(), "1".into());
        vars.insert("RATE_LIMIT_AUTH_BURST".into(), "2".into());
    })
    .await;
    let body = json!({"email": "nobody@example.com", "password": "whatever it is"});
    for _ in 0..2 {
        app.anonymous()
            .post("/api/v1/auth/login", &body)
            .await
            .expect(401);
    }
    for _ in 0..3 {
        app.anonymous()
            .post("/api/v1/auth/login", &body)
            .await
            .expect_problem(429, "rate_limited");
    }
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"portcullis_rate_limited_total{route="/api/v1/auth/login"}"#
        ),
        Some(3.0),
        "{text}"
    );
    // A refusal is not a sign-in outcome.
    assert_eq!(
        value(
            &text,
            r#"portcullis_sign_in_total{route="/api/v1/auth/login",outcome="invalid_credentials"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

#[actix_web::test]
async fn without_metrics_bind_addr_there_is_no_metrics_listener() {
    let app = spawn_app_with(|_| {}).await;
    assert!(app.metrics_address.is_none());
}
