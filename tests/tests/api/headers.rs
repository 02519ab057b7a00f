use portcullis_tests::{assert_security_headers, spawn_app};
use serde_json::Value;

#[actix_web::test]
async fn healthz_answers_with_security_headers_and_a_new_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = assert_security_headers(response.headers());
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "generated ids are UUIDs: {id}"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[actix_web::test]
async fn a_valid_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let app = spawn_app().await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "trace-42.a:b")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a:b");

    for unsafe_id in ["with space", &"x".repeat(200), "<script>"] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("X-Request-Id", unsafe_id)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, unsafe_id);
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }
}

#[actix_web::test]
async fn unknown_routes_are_problem_json_404s_with_the_request_id() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/healthz"] {
        let response = app
            .client
            .get(app.url(path))
            .header("X-Request-Id", "req-404")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_security_headers(response.headers());
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["request_id"], "req-404");
    }
}

#[actix_web::test]
async fn a_wrong_method_is_a_problem_json_405_with_allow() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_security_headers(response.headers());
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
    assert_eq!(body["request_id"], request_id.as_str());
}

#[actix_web::test]
async fn production_adds_hsts() {
    let app = portcullis_tests::spawn_app_with(|vars| {
        vars.insert("APP_ENV".into(), "production".into());
        vars.insert("PUBLIC_URL".into(), "https://auth.example.com".into());
        // Production refuses the suite's easy secrets and its rate limits being off.
        vars.insert(
            "JWT_SECRET".into(),
            "bYg55ezDxZTl_tkSuLy3Fq2252CJazzHGuQnBTNLqzDf".into(),
        );
        vars.insert(
            "SESSION_SECRET".into(),
            "cewvKoHaCPLk98O6Sl76tVnctlSsX0w4iHNvy8s1tFKrFeBITBHFW1_LSFqRsBLH".into(),
        );
        vars.insert("RATE_LIMIT_ENABLED".into(), "true".into());
    })
    .await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    let missing = app.client.get(app.url("/missing")).send().await.unwrap();
    assert_eq!(
        missing.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}
