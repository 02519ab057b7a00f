//! The OpenAPI document matches the router: every documented operation exists, every declared route
//! is documented, and `/docs` serves Swagger UI from the binary.

use portcullis_tests::{spawn_app, RequestHelper};
use serde_json::{Map, Value};

/// `value` as a JSON object; fails the test with the value when it is not one.
#[track_caller]
fn object(value: &Value) -> &Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
}

fn operations(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in object(&document["paths"]) {
        for method in object(item).keys() {
            found.push((method.to_uppercase(), path.clone()));
        }
    }
    found.sort();
    found
}

#[actix_web::test]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let app = spawn_app().await;
    let document = app.anonymous().get("/openapi.json").await.expect(200);
    assert_eq!(document["openapi"], "3.1.0");

    let mut expected: Vec<(String, String)> = portcullis_server::router::routes()
        .iter()
        .map(|r| (r.method.to_string(), format!("/api/v1{}", r.path)))
        .chain(
            [
                "/healthz",
                "/readyz",
                "/openapi.json",
                "/docs",
                "/.well-known/jwks.json",
                "/.well-known/openid-configuration",
            ]
            .map(|p| ("GET".to_owned(), p.to_owned())),
        )
        .collect();
    expected.sort();
    assert_eq!(operations(&document), expected);

    // Each documented operation is mounted: none falls through to the router's "no such route".
    for (method, path) in operations(&document) {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let verb = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|err| panic!("{method} is a method: {err}"));
        let response = app.anonymous().request(verb, &concrete).await;
        assert_ne!(response.status(), 405, "{method} {path} is not routed");
        if response.status() == 404 {
            let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
            // Without credentials a mounted route answers 401 (or a specific 404 code); a plain
            // `not_found` here can only come from the router's fallback.
            assert_ne!(body["code"], "not_found", "{method} {path} is not routed");
        }
    }
    // Every error response is a problem document; every authenticated route states its security.
    for (path, item) in object(&document["paths"]) {
        for (method, operation) in object(item) {
            for (status, response) in object(&operation["responses"]) {
                if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary_with_a_csp_relaxed_only_there() {
    let app = spawn_app().await;
    let guest = app.anonymous();
    let page = guest.get("/docs").await;
    assert_eq!(page.status(), 200, "{page}");
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("http"),
        "{csp}"
    );
    let html = page.text();
    assert!(
        html.contains("/docs/swagger-ui-bundle.js") && !html.contains("https://"),
        "no CDN"
    );
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/init.js",
    ] {
        let response = guest.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().len() > 20, "{asset}");
    }
    assert_eq!(guest.get("/docs/../Cargo.toml").await.status(), 404);
    let api = guest.get("/healthz").await;
    assert_eq!(
        api.header("content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );
}
