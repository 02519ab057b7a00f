use portcullis_tests::{assert_security_headers, spawn_app, RequestHelper};
use reqwest::Method;

const ALLOWED: &str = "https://app.example.com";

#[actix_web::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = spawn_app().await;
    let response = app
        .anonymous()
        .request(Method::OPTIONS, "/api/v1/tenants")
        .header("Origin", ALLOWED)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .await;
    assert_eq!(response.status(), 200, "{response}");
    assert_security_headers(response.headers());
    assert_eq!(response.header("access-control-allow-origin"), ALLOWED);
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "bearer tokens, not cookies"
    );
    let methods = response.header("access-control-allow-methods");
    assert!(methods.contains("POST") && methods.contains("PATCH"), "{methods}");
}

#[actix_web::test]
async fn a_preflight_from_another_origin_is_refused_as_a_problem() {
    let app = spawn_app().await;
    let response = app
        .anonymous()
        .request(Method::OPTIONS, "/api/v1/tenants")
        .header("Origin", "https://evil.example.net")
        .header("Access-Control-Request-Method", "POST")
        .await;
    assert_eq!(response.status(), 400, "{response}");
    assert_security_headers(response.headers());
    assert!(response.headers().get("access-control-allow-origin").is_none());
    assert_eq!(response.header("content-type"), "application/problem+json");
    let body = response.json();
    assert_eq!(body["status"], 400);
    assert!(body["request_id"].is_string());
}

#[actix_web::test]
async fn simple_requests_expose_responses_only_to_allowed_origins() {
    let app = spawn_app().await;
    let allowed = app.anonymous().get("/healthz").header("Origin", ALLOWED).await;
    assert_eq!(allowed.header("access-control-allow-origin"), ALLOWED);
    let exposed = allowed
        .header("access-control-expose-headers")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let other = app
        .anonymous()
        .get("/healthz")
        .header("Origin", "https://evil.example.net")
        .await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A lookalike of an allowed origin is a different origin.
    let lookalike = app
        .anonymous()
        .get("/healthz")
        .header("Origin", "https://app.example.com.evil.net")
        .await;
    assert!(lookalike.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_wildcard_in_development_allows_any_origin_without_credentials() {
    let app = portcullis_tests::spawn_app_with(|vars| {
        vars.insert("CORS_ALLOWED_ORIGINS".into(), "*".into());
    })
    .await;
    let response = app
        .anonymous()
        .request(Method::OPTIONS, "/healthz")
        .header("Origin", "https://anywhere.example")
        .header("Access-Control-Request-Method", "GET")
        .await;
    assert_eq!(response.status(), 200, "{response}");
    assert_eq!(response.header("access-control-allow-origin"), "*");
    assert!(response
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}
