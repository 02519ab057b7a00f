//! `portcullis-rbac` is authorization: what a caller may do inside a tenant.
//!
//! It owns the scope catalog, the built-in roles, the grant rules that stop anyone from granting more
//! than they hold (pure functions, tested exhaustively), the tenant-access extractor that resolves a
//! principal's scopes in the tenant of the path, and the members, invitations and roles routes.

use actix_web::web;

/// Registers the membership and role routes under the `/api/v1` scope.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
