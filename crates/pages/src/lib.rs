//! The hosted pages: what end users and tenant admins touch in a browser. Sign-in (also for
//! applications, `/login?redirect_uri=…`), sign-up, sign-out, the account page with its sessions, and
//! the console (tenants, members and their roles, invitations, custom roles, API keys, audit log).
//!
//! What belongs here: HTML forms and pages, the browser session ([`browser`]) and its CSRF check. What
//! does not: any rule about who may do what. Every form calls the operation its API route calls (a
//! function of the `auth`, `rbac` or `api` crate taking the connection and the caller), through the
//! same [`portcullis_rbac::TenantCall`] checks, so scopes, no-escalation, the last owner, the tenant's
//! MFA policy and the audit log hold here exactly as over the API.
//!
//! Pages are server-rendered (askama, checked at compile time, every value escaped), with one
//! stylesheet from this binary and no script, so the CSP allows nothing inline and nothing from
//! another origin. Errors show as sentences next to the form, never as JSON.

mod account;
mod browser;
mod console;
mod form;
mod mail_links;
mod render;
mod sign_in;

use actix_web::{web, Resource};
use portcullis_web::Quota;

/// The stylesheet of every page.
const STYLE: &str = include_str!("../assets/pages.css");

/// Every page with its rate-limit quota, one resource per path (so a wrong method is 405). A page is
/// a root path, outside `/api`; none of them is in the OpenAPI document. The pages that check a
/// password or create an account are on the sign-in quota, the rest on the general one.
pub fn resources() -> Vec<(Quota, Resource)> {
    let sign_in = [
        web::resource("/login")
            .get(sign_in::login_page)
            .post(sign_in::login),
        web::resource("/signup")
            .get(sign_in::signup_page)
            .post(sign_in::signup),
        web::resource("/mfa").get(sign_in::mfa_page).post(sign_in::mfa),
        web::resource("/login/github").get(sign_in::github_start),
        web::resource("/login/github/done").get(sign_in::github_done),
        web::resource("/account/password").post(account::change_password),
        web::resource("/forgot-password")
            .get(mail_links::forgot_page)
            .post(mail_links::forgot),
        web::resource("/reset-password")
            .get(mail_links::reset_page)
            .post(mail_links::reset),
    ];
    let general = [
        web::resource("/").get(sign_in::home),
        web::resource("/assets/pages.css").get(stylesheet),
        web::resource("/logout").post(sign_in::logout),
        web::resource("/verify-email")
            .get(mail_links::verify_page)
            .post(mail_links::verify_email),
        web::resource("/confirm-email")
            .get(mail_links::confirm_page)
            .post(mail_links::confirm_email),
        web::resource("/account").get(account::show),
        web::resource("/account/sessions/{id}/revoke").post(account::revoke_session),
        web::resource("/account/profile").post(account::update_profile),
        web::resource("/account/email").post(account::change_email),
        web::resource("/account/mfa/enrol").post(account::enrol_mfa),
        web::resource("/account/mfa/confirm").post(account::confirm_mfa),
        web::resource("/account/mfa/disable").post(account::disable_mfa),
        web::resource("/account/github/link").post(account::link_github),
        web::resource("/account/github/linked").get(account::github_linked),
        web::resource("/account/github/unlink").post(account::unlink_github),
        web::resource("/invitation")
            .get(console::invitation_page)
            .post(console::accept_invitation),
        web::resource("/console")
            .get(console::tenants_page)
            .post(console::create_tenant),
        web::resource("/console/{tid}").get(console::tenant_page),
        web::resource("/console/{tid}/members/{uid}/roles").post(console::set_roles),
        web::resource("/console/{tid}/invitations").post(console::invite),
        web::resource("/console/{tid}/roles").post(console::create_role),
        web::resource("/console/{tid}/api-keys").post(console::create_key),
        web::resource("/console/{tid}/projects").post(console::create_project),
        web::resource("/console/{tid}/audit").get(console::audit_page),
    ];
    sign_in
        .into_iter()
        .map(|page| (Quota::Auth, page))
        .chain(general.into_iter().map(|page| (Quota::Api, page)))
        .collect()
}

async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(STYLE)
}
