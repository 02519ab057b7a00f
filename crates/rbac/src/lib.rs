//! `portcullis-rbac` is authorization: what a caller may do inside a tenant.
//!
//! It owns the scope catalog and the built-in roles ([`scopes`]), the grant rules that stop anyone
//! from granting more than they hold ([`grants`], pure functions tested exhaustively), the table of
//! tenant routes and the scope each needs ([`table`]), the [`TenantAccess`] extractor that resolves a
//! principal's scopes in the tenant of the path, the audit-log writer, and the members, invitations
//! and roles routes.

mod access;
pub mod audit;
pub mod grants;
pub mod routes;
pub mod scopes;
pub mod table;

pub use access::{authority_of, resolve, TenantAccess};
