//! The requests scenarios send: each a boxed future that says whether it succeeded.

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::Value;

fn ok(response: reqwest::Result<reqwest::Response>) -> bool {
    response.is_ok_and(|r| r.status().is_success())
}

/// A GET, with a bearer token when given.
pub fn get(http: &reqwest::Client, url: String, token: Option<String>) -> BoxFuture<'static, bool> {
    let request = http.get(url);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    async move { ok(request.send().await) }.boxed()
}

/// A JSON POST, with a bearer token when given.
pub fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<String>,
    body: Value,
) -> BoxFuture<'static, bool> {
    let request = http.post(url).json(&body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    async move { ok(request.send().await) }.boxed()
}
