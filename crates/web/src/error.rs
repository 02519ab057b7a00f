//! The error policy at the HTTP edge.
//!
//! Every failure a client can see is an [`ApiError`] and is answered as an RFC 9457 problem document
//! (`application/problem+json`) with a stable snake_case `code`. Client errors say what was wrong with
//! the request. Server errors (database, internal) say nothing about why: the cause is kept in the
//! error for the log line that the response middleware writes with the request id, and the body is a
//! fixed, generic text. The response middleware adds `request_id` to every problem body.

use std::borrow::Cow;
use std::error::Error as StdError;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use portcullis_db::DbError;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the body (`password`, `roles[1]`), or `query` / `body`.
    pub field: String,
    /// A stable snake_case code: `required`, `unknown_field`, `too_short`, …
    pub code: Cow<'static, str>,
    /// A sentence for a person.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// Every error a handler or extractor can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON.
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// 400 with a specific code (`invalid_redirect_uri`, `oauth_state_mismatch`, …).
    #[error("bad request ({code}): {detail}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Sentence for the client.
        detail: Cow<'static, str>,
    },
    /// 401. `token_sent` adds `error="invalid_token"` to `WWW-Authenticate`.
    #[error("unauthorized ({code})")]
    Unauthorized {
        /// Stable code (`unauthorized`, `invalid_token`, `invalid_credentials`, …).
        code: &'static str,
        /// Sentence for the client.
        detail: &'static str,
        /// Whether the request carried a credential.
        token_sent: bool,
    },
    /// 401 `mfa_required`: the first factor passed; the sign-in continues at `/auth/mfa/verify` with
    /// this token (in the problem body). No session exists yet.
    #[error("second factor required")]
    MfaRequired {
        /// The single-use `mfa_token`.
        mfa_token: String,
    },
    /// 403; `required_scope` names the scope the caller lacks.
    #[error("forbidden ({code})")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Sentence for the client.
        detail: Cow<'static, str>,
        /// The missing scope, when a scope check failed.
        required_scope: Option<String>,
    },
    /// 404 (`not_found`, or a more specific code).
    #[error("not found ({code})")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// Sentence for the client.
        detail: Cow<'static, str>,
    },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 with a specific code (`email_taken`, `last_owner`, …).
    #[error("conflict ({code}): {detail}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Sentence for the client.
        detail: Cow<'static, str>,
    },
    /// 412: `If-Match` did not match.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: body over the limit.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: a body that is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422 with one entry per problem.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// 429 with `Retry-After`.
    #[error("too many requests ({code}), retry after {retry_after_secs}s")]
    TooManyRequests {
        /// `rate_limited` or `login_throttled`.
        code: &'static str,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After`: the database or a bounded resource is unavailable.
    #[error("service unavailable: {cause}")]
    ServiceUnavailable {
        /// Why, for the log.
        cause: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 500. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl ApiError {
    /// A 500 carrying its cause for the log.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// A plain 404 `not_found`, the same for "does not exist" and "not yours".
    pub fn not_found() -> Self {
        ApiError::NotFound {
            code: "not_found",
            detail: Cow::Borrowed("the resource does not exist"),
        }
    }

    /// A 422 with a single field error.
    pub fn invalid_field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The stable code of the problem body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::TooManyRequests { code, .. } => code,
            ApiError::MfaRequired { .. } => "mfa_required",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::ServiceUnavailable { .. } => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The sentence of the problem body (what the hosted pages show next to a form).
    pub fn detail(&self) -> Cow<'static, str> {
        match self {
            ApiError::MalformedJson(reason) => {
                Cow::Owned(format!("request body is not valid JSON: {reason}"))
            }
            ApiError::BadRequest { detail, .. }
            | ApiError::Forbidden { detail, .. }
            | ApiError::NotFound { detail, .. }
            | ApiError::Conflict { detail, .. } => detail.clone(),
            ApiError::Unauthorized { detail, .. } => Cow::Borrowed(detail),
            ApiError::MfaRequired { .. } => Cow::Borrowed(
                "the password or sign-in was right; send a code from the authenticator app (or a \
                 recovery code) with this mfa_token to /auth/mfa/verify",
            ),
            ApiError::MethodNotAllowed => Cow::Borrowed("this method is not allowed on this resource"),
            ApiError::PreconditionFailed => {
                Cow::Borrowed("the resource has changed since the version named in If-Match")
            }
            ApiError::PayloadTooLarge { limit } => Cow::Owned(format!("request body exceeds {limit} bytes")),
            ApiError::UnsupportedMediaType => {
                Cow::Borrowed("request body must be sent with Content-Type: application/json")
            }
            ApiError::Validation(_) => Cow::Borrowed("request is invalid"),
            ApiError::TooManyRequests {
                code: "login_throttled",
                ..
            } => Cow::Borrowed("too many failed sign-ins for this account; retry later"),
            ApiError::TooManyRequests {
                code: "mfa_throttled",
                ..
            } => Cow::Borrowed("too many wrong codes for this account; retry later"),
            ApiError::TooManyRequests { .. } => Cow::Borrowed("too many requests; retry later"),
            ApiError::ServiceUnavailable { .. } => {
                Cow::Borrowed("the service is temporarily unavailable; retry later")
            }
            ApiError::Internal(_) => Cow::Borrowed("an internal error occurred"),
        }
    }

    /// The problem document, without `request_id` (the middleware adds it).
    pub fn body(&self) -> Value {
        let mut body = problem_body(self.status_code(), self.code(), &self.detail());
        match self {
            ApiError::Validation(errors) => {
                body.insert("errors".into(), json!(errors));
            }
            ApiError::Forbidden {
                required_scope: Some(scope),
                ..
            } => {
                body.insert("required_scope".into(), json!(scope));
            }
            ApiError::MfaRequired { mfa_token } => {
                body.insert("mfa_token".into(), json!(mfa_token));
            }
            _ => {}
        }
        Value::Object(body)
    }
}

/// The fields every problem document has. Also used for errors raised outside our handlers (a
/// refused CORS preflight, a rate limiter) so that every error body has one shape.
pub fn problem_body(status: StatusCode, code: &str, detail: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), json!("about:blank"));
    body.insert("title".into(), json!(title(status)));
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("code".into(), json!(code));
    body.insert("detail".into(), json!(detail));
    body
}

/// RFC 9110's reason phrases, where they differ from the older ones the `http` crate knows.
fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::MfaRequired { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        match self {
            // A sign-in answer carrying a secret: not to be cached, like a token response.
            ApiError::MfaRequired { .. } => {
                response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::Unauthorized { token_sent, .. } => {
                let challenge = if *token_sent {
                    r#"Bearer error="invalid_token""#
                } else {
                    "Bearer"
                };
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
            }
            ApiError::TooManyRequests { retry_after_secs, .. }
            | ApiError::ServiceUnavailable { retry_after_secs, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            _ => {}
        }
        response.body(self.body().to_string())
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => ApiError::not_found(),
            err if err.is_unavailable() => ApiError::ServiceUnavailable {
                cause: err.to_string(),
                retry_after_secs: 1,
            },
            // A handler that expects a unique violation maps it to its own code before this point;
            // one that reaches here is a bug, so it is a 500 with the cause in the log.
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    fn rendered(err: &ApiError) -> (u16, Value, HttpResponse) {
        let response = err.error_response();
        let status = response.status().as_u16();
        (status, err.body(), response)
    }

    #[test]
    fn validation_problem_has_the_documented_shape() {
        let err = ApiError::Validation(vec![FieldError::new(
            "password",
            "too_short",
            "must be at least 12 characters",
        )]);
        let (status, body, _) = rendered(&err);
        assert_eq!(status, 422);
        assert_eq!(
            body,
            json!({
                "type": "about:blank", "title": "Unprocessable Content", "status": 422,
                "code": "validation_failed", "detail": "request is invalid",
                "errors": [{"field": "password", "code": "too_short", "message": "must be at least 12 characters"}]
            })
        );
    }

    #[test]
    fn forbidden_names_the_required_scope() {
        let err = ApiError::Forbidden {
            code: "forbidden",
            detail: "missing scope".into(),
            required_scope: Some("projects:write".into()),
        };
        assert_eq!(
            err.body(),
            json!({"type": "about:blank", "title": "Forbidden", "status": 403, "code": "forbidden",
                   "detail": "missing scope", "required_scope": "projects:write"})
        );
    }

    #[test]
    fn unauthorized_sets_the_bearer_challenge() {
        let sent = ApiError::Unauthorized {
            code: "invalid_token",
            detail: "bad token",
            token_sent: true,
        };
        let (status, _, response) = rendered(&sent);
        assert_eq!(status, 401);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            r#"Bearer error="invalid_token""#
        );
        let missing = ApiError::Unauthorized {
            code: "unauthorized",
            detail: "no token",
            token_sent: false,
        };
        assert_eq!(
            missing
                .error_response()
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Bearer"
        );
    }

    #[test]
    fn throttling_and_unavailability_say_when_to_retry() {
        let throttled = ApiError::TooManyRequests {
            code: "login_throttled",
            retry_after_secs: 8,
        };
        assert_eq!(
            throttled
                .error_response()
                .headers()
                .get(header::RETRY_AFTER)
                .unwrap(),
            "8"
        );
        assert_eq!(throttled.body()["code"], "login_throttled");
        let down = ApiError::ServiceUnavailable {
            cause: "pool timeout".into(),
            retry_after_secs: 0,
        };
        assert_eq!(down.error_response().status(), 503);
        assert_eq!(
            down.error_response().headers().get(header::RETRY_AFTER).unwrap(),
            "1"
        );
        assert!(!down.body().to_string().contains("pool timeout"));
    }

    #[actix_web::test]
    async fn internal_errors_keep_their_cause_out_of_the_body() {
        let err = ApiError::internal("connection to 10.0.0.5 refused: password authentication failed");
        let response = err.error_response();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let bytes = to_bytes(response.into_body()).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                   "code": "internal_error", "detail": "an internal error occurred"})
        );
        assert!(
            err.to_string().contains("password authentication failed"),
            "the log keeps the cause"
        );
    }

    #[test]
    fn every_variant_has_its_own_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::MalformedJson("eof".into()), 400, "malformed_json"),
            (
                ApiError::BadRequest {
                    code: "invalid_redirect_uri",
                    detail: "x".into(),
                },
                400,
                "invalid_redirect_uri",
            ),
            (ApiError::not_found(), 404, "not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                ApiError::Conflict {
                    code: "email_taken",
                    detail: "x".into(),
                },
                409,
                "email_taken",
            ),
            (ApiError::PreconditionFailed, 412, "precondition_failed"),
            (
                ApiError::PayloadTooLarge { limit: 65536 },
                413,
                "payload_too_large",
            ),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type"),
            (
                ApiError::TooManyRequests {
                    code: "rate_limited",
                    retry_after_secs: 1,
                },
                429,
                "rate_limited",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err}");
            assert_eq!(err.body()["code"], code);
            assert_eq!(err.body()["status"], status);
        }
    }

    #[test]
    fn database_errors_map_to_404_503_and_500() {
        assert_eq!(ApiError::from(DbError::NotFound).status_code(), 404);
        assert_eq!(
            ApiError::from(DbError::Unavailable("timed out".into())).status_code(),
            503
        );
        assert_eq!(
            ApiError::from(DbError::Migration("boom".into())).status_code(),
            500
        );
    }
}

/// The problem document as the OpenAPI document describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// A stable snake_case code.
    pub code: String,
    /// A sentence for a person.
    pub detail: String,
    /// The request's id, as in `X-Request-Id`.
    pub request_id: String,
    /// One entry per problem, on validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The missing scope, on scope failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
}
