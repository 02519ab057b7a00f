//! Helpers for the black-box tests: a fresh database per test (SQLite file, or a PostgreSQL database
//! created on `TEST_POSTGRES_URL` and dropped afterwards), the real server started in-process on a free
//! port, and a TCP proxy that can cut the server off from PostgreSQL.

// Test support: a failed set-up step should stop the test loudly, which is what `expect` does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;
mod db;
mod proxy;

pub use app::{
    access, base_vars, refresh, spawn_app, spawn_app_on, spawn_app_with, TestApp, JWT_SECRET, PASSWORD,
};
pub use db::{count_rows, execute_sql, postgres_admin_url, replace_database, sql_time, TestDb};
pub use proxy::TcpProxy;
