//! `/openapi.json` and `/docs`: the document, and Swagger UI served from the binary (vendored
//! swagger-ui-dist, no CDN), so the documentation works offline. Only `/docs` relaxes the CSP, and
//! only to load these files from this origin.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// The serialised document, built once at start-up.
pub struct OpenApiJson(pub Vec<u8>);

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Portcullis API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"#;

// An external file rather than an inline script, so the CSP needs no 'unsafe-inline' for scripts.
const INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
"##;

const BUNDLE: &[u8] = include_bytes!("../vendor/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../vendor/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../vendor/swagger-ui/favicon-32x32.png");

/// GET /openapi.json
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// GET /docs
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

/// GET /docs/{file}
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    let (content_type, body): (&str, &'static [u8]) = match file.as_str() {
        "swagger-ui-bundle.js" => ("text/javascript; charset=utf-8", BUNDLE),
        "init.js" => ("text/javascript; charset=utf-8", INIT.as_bytes()),
        "swagger-ui.css" => ("text/css; charset=utf-8", CSS),
        "favicon-32x32.png" => ("image/png", FAVICON),
        _ => return portcullis_web::not_found().await,
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}
