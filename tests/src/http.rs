//! Requests that read like the scenario: an actor sends `get/post/put/patch/delete`, awaits a
//! [`Response`] whose body is already read, and states what it expects of it.
//!
//! ```text
//! let tenant = ada.create_tenant("acme").await;
//! ada.patch(&tenant.path(""), &json!({"name": "Acme Ltd"})).await.expect(200);
//! bob.delete(&tenant.path("")).await.expect_problem(403, "forbidden");
//! ```
//!
//! Every expectation that fails prints the method, the path and the body the server sent.

use std::fmt;
use std::future::{Future, IntoFuture};

use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::{action_names, Tenant, TestApp};

/// A request being built; awaiting it sends it (or call [`Request::send`], e.g. for `join`).
#[must_use = "a request is sent only when awaited"]
pub struct Request {
    method: Method,
    path: String,
    builder: reqwest::RequestBuilder,
}

impl Request {
    /// A request to `path` on `app`, with `token` as bearer token when there is one.
    pub fn new(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> Request {
        Request::from_builder(method.clone(), path, app.request(method, path, token))
    }

    /// A request already set up on some client; `target` names it in failure messages.
    pub fn from_builder(method: Method, target: &str, builder: reqwest::RequestBuilder) -> Request {
        Request {
            method,
            path: target.to_owned(),
            builder,
        }
    }

    /// Sends `body` as JSON.
    pub fn json(mut self, body: &Value) -> Request {
        self.builder = self.builder.json(body);
        self
    }

    /// Sends `body` as JSON when there is one.
    pub fn json_opt(self, body: Option<&Value>) -> Request {
        match body {
            Some(body) => self.json(body),
            None => self,
        }
    }

    /// Adds a header (`If-Match`, `X-Forwarded-For`, …).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sends `raw` as the body, byte for byte, with no content type of its own (malformed JSON,
    /// forms, …: set `content-type` with [`Request::header`]).
    pub fn body(mut self, raw: impl Into<String>) -> Request {
        self.builder = self.builder.body(raw.into());
        self
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> Response {
        let label = format!("{} {}", self.method, self.path);
        let response = self
            .builder
            .send()
            .await
            .unwrap_or_else(|err| panic!("{label}: request failed: {err}"));
        Response::read(label, response).await
    }
}

impl IntoFuture for Request {
    type Output = Response;
    type IntoFuture = BoxFuture<'static, Response>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response read in full: status, headers and body.
pub struct Response {
    label: String,
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    /// Reads `response` in full; `label` names the request in failure messages (`"GET /path"`).
    pub async fn read(label: impl Into<String>, response: reqwest::Response) -> Response {
        let label = label.into();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|err| panic!("{label}: reading the body failed: {err}"))
            .to_vec();
        Response {
            label,
            status,
            headers,
            body,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of header `name`; fails the test when it is missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        match self.headers.get(name).map(|value| value.to_str()) {
            Some(Ok(value)) => value,
            Some(Err(_)) => panic!("{self}\nheader {name} is not visible ASCII"),
            None => panic!("{self}\nno {name} header"),
        }
    }

    /// The body, byte for byte.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as text; fails the test when it is not UTF-8.
    #[track_caller]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|err| panic!("{self}\nthe body is not UTF-8: {err}"))
    }

    /// The body as JSON (`null` when the body is empty); fails the test when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("{self}\nthe body is not JSON: {err}"))
    }

    /// Asserts the status and returns the JSON body (`null` when empty).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert!(
            self.status == status,
            "{self}\nexpected status {status}, got {}",
            self.status
        );
        self.json()
    }

    /// Asserts a `302 Found` and returns where it points.
    #[track_caller]
    pub fn expect_redirect(&self) -> &str {
        assert!(
            self.status == 302,
            "{self}\nexpected a redirect (302), got {}",
            self.status
        );
        self.header("location")
    }

    /// Asserts a problem+json answer with this status and `code`, and returns its body.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> Value {
        assert!(
            self.status == status,
            "{self}\nexpected status {status} ({code}), got {}",
            self.status
        );
        let content_type = self.headers.get("content-type").map(|v| v.to_str());
        assert!(
            matches!(content_type, Some(Ok("application/problem+json"))),
            "{self}\nexpected content-type application/problem+json, got {content_type:?}"
        );
        let body = self.json();
        assert!(
            body["code"] == code,
            "{self}\nexpected problem code {code:?}, got {}",
            body["code"]
        );
        body
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}: ", self.label, self.status)?;
        if self.body.is_empty() {
            write!(f, "(empty body)")
        } else {
            write!(f, "{}", String::from_utf8_lossy(&self.body))
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Anything that sends requests to the test server as someone: a [`crate::User`], a
/// [`crate::Member`], an [`crate::ApiKey`], or a [`Caller`] with a raw token or none.
pub trait RequestHelper {
    /// The server the requests go to.
    fn app(&self) -> &TestApp;

    /// The bearer token sent with each request, if any.
    fn bearer(&self) -> Option<&str>;

    /// A request of any method; add a body or headers before awaiting it.
    fn request(&self, method: Method, path: &str) -> Request {
        Request::new(self.app(), method, path, self.bearer())
    }

    /// `GET path`.
    fn get(&self, path: &str) -> Request {
        self.request(Method::GET, path)
    }

    /// `DELETE path` (add a body with [`Request::json`]).
    fn delete(&self, path: &str) -> Request {
        self.request(Method::DELETE, path)
    }

    /// `POST path` with a JSON body (`&json!(…)`), or none (`None`).
    fn post<'b>(&self, path: &str, body: impl Into<Option<&'b Value>>) -> Request {
        self.request(Method::POST, path).json_opt(body.into())
    }

    /// `PUT path` with a JSON body (`&json!(…)`), or none (`None`).
    fn put<'b>(&self, path: &str, body: impl Into<Option<&'b Value>>) -> Request {
        self.request(Method::PUT, path).json_opt(body.into())
    }

    /// `PATCH path` with a JSON body (`&json!(…)`), or none (`None`).
    fn patch<'b>(&self, path: &str, body: impl Into<Option<&'b Value>>) -> Request {
        self.request(Method::PATCH, path).json_opt(body.into())
    }

    /// Replaces the roles of member `user_id` of `tenant`.
    fn set_member_roles(&self, tenant: &Tenant, user_id: &str, roles: &[&str]) -> Request {
        self.put(
            &tenant.path(&format!("/members/{user_id}/roles")),
            &serde_json::json!({ "roles": roles }),
        )
    }

    /// Removes member `user_id` from `tenant` (themselves: leaves it).
    fn remove_member(&self, tenant: &Tenant, user_id: &str) -> Request {
        self.delete(&tenant.path(&format!("/members/{user_id}")))
    }

    /// The actions of the newest 100 audit events of `tenant`, newest first; `filter` is appended to
    /// the query (`"&action=role.created"`, or `""`).
    fn audit_actions(&self, tenant: &Tenant, filter: &str) -> impl Future<Output = Vec<String>> {
        let request = self.get(&tenant.path(&format!("/audit-events?limit=100{filter}")));
        async move { action_names(&request.await.expect(200)) }
    }

    /// The actions of the caller's newest 100 security events, newest first.
    fn security_events(&self) -> impl Future<Output = Vec<String>> {
        let request = self.get("/api/v1/me/security-events?limit=100");
        async move { action_names(&request.await.expect(200)) }
    }
}

/// Someone known only by a token, or by none: `app.anonymous()`, `app.bearer(token)`.
pub struct Caller<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl RequestHelper for Caller<'_> {
    fn app(&self) -> &TestApp {
        self.app
    }

    fn bearer(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

impl TestApp {
    /// A caller without credentials.
    pub fn anonymous(&self) -> Caller<'_> {
        Caller {
            app: self,
            token: None,
        }
    }

    /// A caller presenting `token` (a hand-minted JWT, a made-up key, …).
    pub fn bearer(&self, token: &str) -> Caller<'_> {
        Caller {
            app: self,
            token: Some(token.to_owned()),
        }
    }
}

/// A browser: keeps its cookies, follows no redirect by itself, and goes to absolute URLs (the server,
/// the fake GitHub, wherever a redirect points).
pub struct Browser {
    client: reqwest::Client,
}

impl Browser {
    /// A browser with a cookie jar of its own.
    pub fn new() -> Browser {
        Browser::with(reqwest::Client::builder().cookie_store(true))
    }

    /// A client that keeps no cookies (to replay a copied `Cookie` header by hand).
    pub fn cookieless() -> Browser {
        Browser::with(reqwest::Client::builder())
    }

    fn with(builder: reqwest::ClientBuilder) -> Browser {
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Browser { client }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Request {
        Request::from_builder(Method::GET, url, self.client.get(url))
    }

    /// `POST url` with a JSON body.
    pub fn post(&self, url: &str, body: &Value) -> Request {
        Request::from_builder(Method::POST, url, self.client.post(url).json(body))
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}
