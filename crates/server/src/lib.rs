//! `portcullis-server` is the `portcullis` binary and the only crate that reads the environment.
//!
//! It loads and validates the configuration, migrates the database, and composes the application:
//! the routes of every other crate under `/api/v1`, the health endpoints, and the middleware in a fixed
//! order (access log, request id + security headers + problem bodies, CORS). [`Application::build`]
//! is what both `main` and the black-box tests start, so the tests run the real server.

mod app;
pub mod config;
mod docs;
mod health;
pub mod keys;
pub mod logging;
mod maintenance;
mod metrics;
pub mod openapi;
pub mod router;
mod tls;

pub use app::{Application, StartupError};
pub use config::{AppEnv, ConfigErrors, CorsOrigins, RateLimits, Settings, TlsFiles, TlsSettings};

/// Runs migrations on a single direct connection, so a connection failure carries the driver's own
/// message (a wrong PostgreSQL password says so) instead of a pool time-out.
pub fn migrate(settings: &Settings) -> Result<Vec<String>, portcullis_db::DbError> {
    let mut conn = portcullis_db::connect(&settings.database_url, &settings.pool)?;
    portcullis_db::run_migrations(&mut conn)
}
