//! `portcullis-api` holds the tenant resources: tenants themselves, projects, API-key management and
//! the audit log. Every handler states the scope it needs first and passes the tenant id down to
//! `portcullis-db`, which filters every tenant-owned query by it.

use actix_web::web;

/// Registers the tenant resource routes under the `/api/v1` scope, together with those of
/// `portcullis-auth` and `portcullis-rbac`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    portcullis_auth::configure(cfg);
    portcullis_rbac::configure(cfg);
}
