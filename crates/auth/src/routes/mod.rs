//! The identity handlers, in small files. They are mounted by the router of `portcullis-api` from the
//! route table of `portcullis-rbac`.

pub mod account;
mod body;
pub use body::{TokenResponse, UserBody};
pub mod github;
pub mod login;
pub mod session_routes;
