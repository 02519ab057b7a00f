//! Helpers for the black-box tests: a fresh database per test (SQLite file, or a PostgreSQL database
//! created on `TEST_POSTGRES_URL` and dropped afterwards), the real server started in-process on a free
//! port, a TCP proxy that can cut the server off from PostgreSQL, and Redis (shared or private).
//!
//! Tests act through typed actors ([`User`], [`Member`], [`ApiKey`], [`Caller`]) whose
//! `get/post/put/patch/delete` ([`RequestHelper`]) return a [`Response`] read in full, with
//! `expect(status)` and `expect_problem(status, code)` that print the request and body on a mismatch.

// Test support: a failed set-up step should stop the test loudly, which is what `expect` does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod actors;
mod app;
mod assertions;
mod browser;
mod db;
mod http;
mod proxy;
mod redis;
mod smtp;
mod totp;

pub use actors::{ApiKey, Member, Tenant, User};
pub use app::{
    access, base_vars, refresh, spawn_app, spawn_app_on, spawn_app_with, TestApp, JWT_SECRET, PASSWORD,
};
pub use assertions::{action_names, assert_security_headers, field_codes, problem, JsonExt};
pub use browser::Chrome;
pub use db::{count_rows, execute_sql, postgres_admin_url, replace_database, sql_time, TestDb};
pub use http::{Browser, Caller, Request, RequestHelper, Response};
pub use proxy::TcpProxy;
pub use redis::{redis_url, unique_prefix, PrivateRedis};
pub use smtp::{ReceivedMail, SmtpSink};
pub use totp::{amr, fresh_step, totp_code, wrong_totp_code};
