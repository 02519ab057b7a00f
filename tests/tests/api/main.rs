//! The whole server over real HTTP. Runs on SQLite, or on PostgreSQL when `TEST_POSTGRES_URL` is set.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod account;
mod api_keys;
mod audit;
mod browser;
mod cors;
mod email;
mod github;
mod headers;
mod housekeeping;
mod instances;
mod isolation;
mod json_bodies;
mod login;
mod matrix;
mod metrics;
mod mfa;
mod migrations;
mod names;
mod openapi;
mod pages;
mod path_ids;
mod projects;
mod readiness;
mod refresh;
mod sessions;
mod shutdown;
mod signing_keys;
mod signup;
mod tenancy;
mod throttle;
