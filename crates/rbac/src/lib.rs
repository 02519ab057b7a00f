//! `portcullis-rbac` is authorization: what a caller may do inside a tenant.
//!
//! It owns the scope catalog and the built-in roles ([`scopes`]), the grant rules that stop anyone
//! from granting more than they hold ([`grants`], pure functions tested exhaustively), the route
//! guard that enforces each route's declared caller and scope before its handler runs ([`guard`]), the
//! [`TenantAccess`] it resolves in the tenant of the path, the audit-log writer, and the members,
//! invitations and roles routes.

mod access;
pub mod audit;
pub mod grants;
pub mod guard;
pub mod routes;
pub mod scopes;

pub use access::{authority_of, mfa_required_by_tenant, resolve, TenantAccess, TenantCall};
