//! `portcullis-db` is the persistence layer and the only crate that knows diesel.
//!
//! It holds the [`DbConn`] enum that lets one code base run on SQLite (the embedded default) and
//! PostgreSQL (production), the r2d2 pool and its connection manager, the embedded migrations of both
//! backends, `schema.rs`, and one module per table with its row structs and query functions. Query
//! functions take `&mut DbConn`; every query on a tenant-owned table takes the tenant id and filters by
//! it. Nothing here knows HTTP: errors are [`DbError`], which the web layer maps to responses.
//! Values that must not be stored in the clear but must be read again are sealed with [`Sealer`].

pub mod api_keys;
pub mod audit;
mod checkpoint;
mod conn;
pub mod email_tokens;
mod error;
mod fixed;
pub mod identities;
mod ids;
pub mod invitations;
pub mod login_throttles;
pub mod maintenance;
pub mod memberships;
pub mod mfa;
mod migrations;
pub mod oauth;
pub mod outbox;
mod pool;
pub mod projects;
pub mod refresh_tokens;
pub mod roles;
pub mod schema;
mod sealed;
pub mod security_events;
pub mod sessions;
pub mod signing_keys;
pub mod tenants;
mod time;
mod tx;
pub mod users;

pub use conn::{Backend, DatabaseUrl, DbConn};
pub use error::DbError;
pub use ids::TenantId;
pub use migrations::{applied_versions, migration_versions, revert_all_migrations, run_migrations};
pub use pool::{
    build_observed_pool, build_pool, check_ready, connect, ping, Manager, Pool, PoolOptions, PoolWaits,
};
pub use sealed::{Sealer, Unsealable};
pub use time::now;
pub use tx::{lock_writes, write_transaction, WriteLock};
