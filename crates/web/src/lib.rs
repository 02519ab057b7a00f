//! `portcullis-web` is the HTTP plumbing every route crate shares.
//!
//! It holds the one error type at the edge ([`ApiError`], rendered as an RFC 9457 problem document),
//! the response middleware that gives every answer a request id, the security headers and a
//! problem+json body, the extractors and error handlers that turn bad input into clear 4xx answers
//! (validated JSON, query and path), the bridge that runs blocking database work off the async
//! workers, the per-client rate limits (in memory, or shared through Redis) and the request metrics
//! the response middleware records. It knows no route of its own except the fallback 404.

mod blocking;
mod client;
mod email;
mod error;
mod extract;
pub mod metrics;
mod middleware;
mod page;
mod rate_limit;
pub mod routes;
mod text;
mod time;

pub use blocking::with_conn;
pub use client::{client_ip, ClientInfo, TrustedProxies};
pub use email::{lookup_form, parse_email, Email, EmailProblem, EMAIL_MAX};
pub use error::{problem_body, ApiError, FieldError, Problem};
pub use extract::{
    field_errors, path_config, path_id, query_config, JsonBody, OptionalJson, ValidJson, JSON_BODY_LIMIT,
};
pub use middleware::{current_request_id, finish_response, not_found, RequestId, SecurityPolicy};
pub use page::{respond_page, Page, PageRequest, CURSOR_PATTERN};
pub use rate_limit::{client_key, ClientGovernor, ClientKey, Quota, QuotaMiddleware, RateLimits, SharedTier};
pub use routes::{op, route, Guard, Op, QueryParam, RouteDef, Schemas, LIST_QUERY};
pub use text::TextRule;
pub use time::{double_option, rfc3339};
