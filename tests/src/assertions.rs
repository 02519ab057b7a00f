//! Assertions and body readers shared by the test files.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::Response;

/// Reading a JSON body without `unwrap` chains: a missing field fails the test and prints the body.
pub trait JsonExt {
    /// The string at `key` (a field name, or a JSON pointer such as `/user/id`).
    fn str_at(&self, key: &str) -> &str;

    /// The array at `key` (a field name, or a JSON pointer).
    fn array_at(&self, key: &str) -> &[Value];

    /// The `items` array of a list response.
    #[track_caller]
    fn items(&self) -> &[Value] {
        self.array_at("items")
    }
}

impl JsonExt for Value {
    #[track_caller]
    fn str_at(&self, key: &str) -> &str {
        let found = if key.starts_with('/') {
            self.pointer(key)
        } else {
            self.get(key)
        };
        found
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {key:?} in {self}"))
    }

    #[track_caller]
    fn array_at(&self, key: &str) -> &[Value] {
        let found = if key.starts_with('/') {
            self.pointer(key)
        } else {
            self.get(key)
        };
        found
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no array at {key:?} in {self}"))
    }
}

/// Asserts that `response` is a problem+json answer with `status` and `code`, and returns its body.
///
/// For tests that still send through the `reqwest` helpers of [`crate::TestApp`]; actors' requests
/// have [`Response::expect_problem`].
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let label = response.url().path().to_owned();
    Response::read(label, response).await.expect_problem(status, code)
}

/// The `(field, code)` pairs of a `validation_failed` problem, in the order the server listed them.
pub fn field_codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_owned(),
                        e["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `action` of each item of an event list (audit events, security events), in order.
pub fn action_names(list: &Value) -> Vec<String> {
    list.items()
        .iter()
        .map(|event| event.str_at("action").to_owned())
        .collect()
}

/// Asserts the headers API.md requires on every response, and returns the request id.
#[track_caller]
pub fn assert_security_headers(headers: &HeaderMap) -> String {
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    for (name, value) in expected {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "header {name}"
        );
    }
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS outside production"
    );
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned()
}
