use portcullis_tests::{assert_security_headers, spawn_app, RequestHelper};
use serde_json::json;

#[actix_web::test]
async fn healthz_answers_with_security_headers_and_a_new_request_id() {
    let app = spawn_app().await;
    let response = app.anonymous().get("/healthz").await;
    let body = response.expect(200);
    let id = assert_security_headers(response.headers());
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "generated ids are UUIDs: {id}"
    );
    assert_eq!(body, json!({"status": "ok"}));
}

#[actix_web::test]
async fn a_valid_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let app = spawn_app().await;
    let echoed = app
        .anonymous()
        .get("/healthz")
        .header("X-Request-Id", "trace-42.a:b")
        .await;
    assert_eq!(echoed.header("x-request-id"), "trace-42.a:b");
    for unsafe_id in ["with space", &"x".repeat(200), "<script>"] {
        let response = app
            .anonymous()
            .get("/healthz")
            .header("X-Request-Id", unsafe_id)
            .await;
        let id = response.header("x-request-id");
        assert_ne!(id, unsafe_id);
        assert!(uuid::Uuid::parse_str(id).is_ok());
    }
}

#[actix_web::test]
async fn unknown_routes_are_problem_json_404s_with_the_request_id() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/healthz"] {
        let response = app.anonymous().get(path).header("X-Request-Id", "req-404").await;
        let body = response.expect_problem(404, "not_found");
        assert_security_headers(response.headers());
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["request_id"], "req-404");
    }
}

#[actix_web::test]
async fn a_wrong_method_is_a_problem_json_405_with_allow() {
    let app = spawn_app().await;
    let response = app.anonymous().delete("/healthz").await;
    let body = response.expect_problem(405, "method_not_allowed");
    assert_security_headers(response.headers());
    assert_eq!(response.header("allow"), "GET");
    assert_eq!(body["request_id"], response.header("x-request-id"));
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
        // Production refuses the file transport; nothing is sent in this test.
        vars.insert("MAIL_TRANSPORT".into(), "smtp".into());
        vars.insert("SMTP_URL".into(), "smtp://127.0.0.1:9".into());
    })
    .await;
    let response = app.anonymous().get("/healthz").await;
    assert_eq!(
        response.header("strict-transport-security"),
        "max-age=63072000; includeSubDomains"
    );
    let missing = app.anonymous().get("/missing").await;
    assert_eq!(
        missing.header("strict-transport-security"),
        "max-age=63072000; includeSubDomains"
    );
}
