//! The response middleware: request id, security headers, and one error shape for every answer.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};
use std::time::Instant;

use crate::metrics::Metrics;
use crate::{problem_body, ApiError};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const PROBLEM_JSON: &str = "application/problem+json";
const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";
// Swagger UI needs its own scripts, styles and images, still from this origin only.
const CSP_DOCS: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
// The hosted pages: scripts, styles and images from this origin only, no inline script or style.
const CSP_PAGES: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";
const HSTS: &str = "max-age=63072000; includeSubDomains";

tokio::task_local! {
    /// The id of the request this task is answering.
    static TASK_REQUEST_ID: String;
}

thread_local! {
    /// The id of the request whose blocking work this thread is doing ([`crate::with_conn`]).
    static THREAD_REQUEST_ID: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The id of the request being answered here, if any: for log lines written during a request (the
/// JSON log format adds it as `request_id`), on the request's task or in its blocking work.
pub fn current_request_id() -> Option<String> {
    TASK_REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .or_else(|| THREAD_REQUEST_ID.with(|id| id.borrow().clone()))
}

/// Marks a blocking thread as working for a request until dropped.
pub(crate) struct BlockingRequestId;

impl BlockingRequestId {
    pub(crate) fn set(id: Option<String>) -> BlockingRequestId {
        THREAD_REQUEST_ID.with(|slot| *slot.borrow_mut() = id);
        BlockingRequestId
    }
}

impl Drop for BlockingRequestId {
    fn drop(&mut self) {
        THREAD_REQUEST_ID.with(|slot| *slot.borrow_mut() = None);
    }
}

/// The id of the current request: the caller's `X-Request-Id` when it is sane, else a new UUID v7.
/// Stored in the request extensions for handlers and log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_request(req: &ServiceRequest) -> Self {
        let incoming = req
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_valid_id(v));
        match incoming {
            Some(id) => RequestId(id.to_owned()),
            None => RequestId(uuid::Uuid::now_v7().to_string()),
        }
    }
}

/// Accepts ids that are safe to echo and to log: 1–128 characters of `[A-Za-z0-9._:-]`.
fn is_valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// What the response middleware needs to know of the configuration; registered as app data.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityPolicy {
    /// Send `Strict-Transport-Security` (production only: in development it would pin
    /// `http://localhost` browsers to HTTPS).
    pub hsts: bool,
}

/// The outermost middleware. It assigns the request id, runs the inner services, turns any error (ours,
/// or one raised by CORS, the rate limiter or actix's routing) into a problem+json body carrying the
/// request id, logs every 5xx with its cause, adds the security headers, and writes the access log line
/// (request id, method, path without the query, which may carry codes, status, duration).
pub async fn finish_response(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = RequestId::from_request(&req);
    req.extensions_mut().insert(request_id.clone());
    let policy = req.app_data::<SecurityPolicy>().copied().unwrap_or_default();
    let method = req.method().clone();
    let docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    // The access line's own fields, only when it is written (a level above `info` drops it).
    let logged = log::log_enabled!(target: "portcullis::access", log::Level::Info).then(|| {
        let peer = req.peer_addr().map(|addr| addr.ip().to_string());
        (req.path().to_owned(), peer.unwrap_or_default())
    });

    // The inner request must not be cloned while it is in flight (actix needs it uniquely owned for
    // routing), so an inner `Err` carries no request: it is finished as a bare response and handed back
    // as an error whose response is exactly that.
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let outcome = TASK_REQUEST_ID.scope(request_id.0.clone(), next.call(req)).await;
    let (http_req, response) = match outcome {
        Ok(response) => {
            let (http_req, response) = response.into_parts();
            (Some(http_req), response.map_into_boxed_body())
        }
        Err(err) => (None, HttpResponse::from_error(err)),
    };
    let (mut response, code) = finish(response, &request_id, policy, docs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        // Every route's guards and limits answer through `Ok`, so the matched template is known
        // here; an `Err` from inside is counted as unmatched.
        let route = http_req.as_ref().and_then(HttpRequest::match_pattern);
        metrics.request(
            method.as_str(),
            route.as_deref(),
            status,
            elapsed,
            code.as_deref(),
        );
    }
    if let Some((path, peer)) = logged {
        log::info!(
            target: "portcullis::access",
            request_id = request_id.0.as_str(),
            method = method.as_str(),
            path = path.as_str(),
            status = status,
            duration_ms = (elapsed * 1_000_000.0).round() / 1000.0,
            peer = peer.as_str();
            "request"
        );
    }
    match http_req {
        Some(http_req) => Ok(ServiceResponse::new(http_req, response)),
        None => {
            let status = response.status();
            let finished = std::mem::replace(&mut response, HttpResponse::new(status));
            Err(InternalError::from_response(Finished(status), finished).into())
        }
    }
}

/// Stands for an error whose response was already finished by [`finish_response`].
#[derive(Debug)]
struct Finished(StatusCode);

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request failed with status {}", self.0)
    }
}

/// The finished response, and its problem code when it is an error.
async fn finish(
    response: HttpResponse,
    request_id: &RequestId,
    policy: SecurityPolicy,
    docs: bool,
) -> (HttpResponse, Option<String>) {
    let (mut response, code) = if response.status().is_client_error() || response.status().is_server_error() {
        as_problem(response, request_id).await
    } else {
        (response, None)
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        headers.insert(X_REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = match (docs, html) {
        (true, _) => CSP_DOCS,
        (false, true) => CSP_PAGES,
        (false, false) => CSP_API,
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    if html && !docs {
        // A form posted from a page under `no-referrer` carries `Origin: null`; the pages' CSRF check
        // needs the real origin, which `same-origin` sends to this origin only.
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if policy.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    (response, code)
}

/// Gives an error response the problem+json shape with `request_id`, keeping its status and headers
/// (`Retry-After`, `WWW-Authenticate`, `Allow`). Our own problems get the id added; a documented JSON
/// body is left alone; anything else (actix's empty 405, a CORS or rate-limiter text body) is
/// replaced by a problem for its status.
async fn as_problem(response: HttpResponse, request_id: &RequestId) -> (HttpResponse, Option<String>) {
    let status = response.status();
    if status.is_server_error() {
        match response.error() {
            Some(err) => log::error!(
                request_id = request_id.0.as_str(),
                status = status.as_u16();
                "{err}"
            ),
            None => log::error!(
                request_id = request_id.0.as_str(),
                status = status.as_u16();
                "server error"
            ),
        }
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        // A deliberate JSON answer (`/readyz`'s `{"status":"unavailable"}`) keeps its documented shape.
        return (response, None);
    }
    if content_type.starts_with("text/html") {
        // A hosted page that explains the error to a person (a refused form, a page not found).
        return (response, Some(format!("page_{}", status.as_u16())));
    }
    let is_problem = content_type.starts_with(PROBLEM_JSON);
    let (mut head, body) = response.into_parts();
    let mut problem = match (is_problem, body::to_bytes(body).await) {
        (true, Ok(bytes)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object),
        _ => None,
    }
    .unwrap_or_else(|| fallback_problem(status));
    if let Some(fields) = problem.as_object_mut() {
        fields.insert("request_id".into(), json!(request_id.0));
    }
    let code = problem.get("code").and_then(Value::as_str).map(str::to_owned);
    head.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    head.headers_mut().remove(header::CONTENT_LENGTH);
    (head.set_body(BoxBody::new(problem.to_string())), code)
}

/// The problem for an error status raised outside our handlers.
fn fallback_problem(status: StatusCode) -> Value {
    let (code, detail) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request was refused"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication is required"),
        StatusCode::FORBIDDEN => ("forbidden", "the request is not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "the resource does not exist"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this resource",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "the content type is not supported"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; retry later"),
        StatusCode::SERVICE_UNAVAILABLE => ("service_unavailable", "the service is temporarily unavailable"),
        s if s.is_server_error() => ("internal_error", "an internal error occurred"),
        _ => ("request_failed", "the request could not be handled"),
    };
    Value::Object(problem_body(status, code, detail))
}

/// The default service: any unknown route is a problem+json 404.
pub async fn not_found() -> HttpResponse {
    ApiError::not_found().error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_safe() {
        assert!(is_valid_id("01JABCDEF-123_x.y:z"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("has space"));
        assert!(!is_valid_id("line\nbreak"));
        assert!(!is_valid_id(&"a".repeat(129)));
    }

    #[test]
    fn foreign_errors_get_a_problem_for_their_status() {
        let problem = fallback_problem(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(problem["code"], "method_not_allowed");
        assert_eq!(problem["status"], 405);
        assert_eq!(
            fallback_problem(StatusCode::BAD_GATEWAY)["code"],
            "internal_error"
        );
    }
}
