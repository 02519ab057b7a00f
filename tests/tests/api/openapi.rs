//! The OpenAPI document matches the router: every documented operation exists, every declared route
//! is documented, and `/docs` serves Swagger UI from the binary.

use portcullis_tests::spawn_app;
use serde_json::Value;

fn operations(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.push((method.to_uppercase(), path.clone()));
        }
    }
    found.sort();
    found
}

#[actix_web::test]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    let mut expected: Vec<(String, String)> = portcullis_server::router::routes()
        .iter()
        .map(|r| (r.method.to_string(), format!("/api/v1{}", r.path)))
        .chain(["/healthz", "/readyz", "/openapi.json", "/docs"].map(|p| ("GET".to_owned(), p.to_owned())))
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
        let response = app
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                None,
            )
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 405, "{method} {path} is not routed");
        if response.status() == 404 {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            // Without credentials a mounted route answers 401 (or a specific 404 code); a plain
            // `not_found` here can only come from the router's fallback.
            assert_ne!(body["code"], "not_found", "{method} {path} is not routed");
        }
    }
    // Every error response is a problem document; every authenticated route states its security.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
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
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("http"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/docs/swagger-ui-bundle.js") && !html.contains("https://"),
        "no CDN"
    );
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/init.js",
    ] {
        let response = app.get(asset, None).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 20, "{asset}");
    }
    assert_eq!(app.get("/docs/../Cargo.toml", None).await.status(), 404);
    let api = app.get("/healthz", None).await;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}
