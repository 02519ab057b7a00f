//! `portcullis-api` holds the tenant resources: tenants themselves, projects, API-key management and
//! the audit log. Every handler states the scope it needs first and passes the tenant id down to
//! `portcullis-db`, which filters every tenant-owned query by it. It also builds the router of all
//! tenant routes from the one route table of `portcullis-rbac`.

pub mod audit_log;
pub mod keys;
pub mod projects;
mod router;
pub mod tenants;

use actix_web::web;

/// Registers every route under the `/api/v1` scope from the route tables of `portcullis-rbac`, each
/// sign-in route behind the sign-in quota of `limits`.
pub fn configure(limits: &portcullis_web::RateLimits) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| router::register(cfg, limits)
}
