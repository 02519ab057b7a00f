//! `portcullis-api` holds the tenant resources: tenants themselves, projects, API-key management and
//! the audit log. Every handler states the scope it needs first and passes the tenant id down to
//! `portcullis-db`, which filters every tenant-owned query by it. It also builds the router of all
//! tenant routes from the one route table of `portcullis-rbac`.

mod audit_log;
mod keys;
mod projects;
mod router;
mod tenants;

use actix_web::web;

pub use router::register_tenant_routes;

/// Registers every route under the `/api/v1` scope: identity, membership, and tenant resources.
pub fn configure(cfg: &mut web::ServiceConfig) {
    portcullis_auth::configure(cfg);
    portcullis_rbac::routes::configure(cfg);
    cfg.service(web::resource("/tenants").post(tenants::create).get(tenants::list));
    register_tenant_routes(cfg);
}
