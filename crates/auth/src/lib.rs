//! `portcullis-auth` is identity: who is calling.
//!
//! It owns password hashing (argon2id on its own bounded pool), access tokens (JWT), refresh sessions
//! and their rotation, GitHub sign-in, API-key authentication, the `Principal` extractor that resolves
//! a caller once per request, and the `/api/v1/auth` and `/api/v1/me` routes. It decides who a caller
//! is, never what they may do in a tenant: that is `portcullis-rbac`.

use actix_web::web;

/// Registers the identity routes under the `/api/v1` scope.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
