//! The router, built from the route tables of `portcullis-rbac` (`ACCOUNT_ROUTES`, `TENANT_ROUTES`).
//! The matches below are exhaustive, so a route added to a table without a handler does not compile,
//! and a handler cannot be mounted without a table entry (which the OpenAPI document and the
//! authorization tests are built from).

use actix_web::http::Method;
use actix_web::{web, Route as ActixRoute};
use portcullis_auth::routes::{account, github, login, session_routes};
use portcullis_rbac::routes::{invitations, list_scopes, members, roles};
use portcullis_rbac::table::{AccountRoute, Route, ACCOUNT_ROUTES, TENANT_ROUTES};
use portcullis_web::{Quota, RateLimits};

use crate::{audit_log, keys, projects, tenants};

fn account_handler(route: AccountRoute, base: ActixRoute) -> ActixRoute {
    match route {
        AccountRoute::Signup => base.to(login::signup),
        AccountRoute::Login => base.to(login::login),
        AccountRoute::Refresh => base.to(session_routes::refresh),
        AccountRoute::Logout => base.to(session_routes::logout),
        AccountRoute::ListSessions => base.to(session_routes::list),
        AccountRoute::RevokeSession => base.to(session_routes::revoke),
        AccountRoute::ChangePassword => base.to(account::change_password),
        AccountRoute::GetMe => base.to(account::me),
        AccountRoute::UpdateMe => base.to(account::update_me),
        AccountRoute::DeleteMe => base.to(account::delete_me),
        AccountRoute::SecurityEvents => base.to(account::security_events),
        AccountRoute::UnlinkGithub => base.to(github::unlink),
        AccountRoute::GithubAuthorize => base.to(github::authorize),
        AccountRoute::GithubCallback => base.to(github::callback),
        AccountRoute::GithubLink => base.to(github::start_link),
        AccountRoute::GithubLinkComplete => base.to(github::complete_link),
        AccountRoute::OauthExchange => base.to(github::exchange),
        AccountRoute::ListScopes => base.to(list_scopes),
        AccountRoute::AcceptInvitation => base.to(invitations::accept),
        AccountRoute::CreateTenant => base.to(tenants::create),
        AccountRoute::ListTenants => base.to(tenants::list),
    }
}

fn tenant_handler(route: Route, base: ActixRoute) -> ActixRoute {
    match route {
        Route::GetTenant => base.to(tenants::get),
        Route::UpdateTenant => base.to(tenants::update),
        Route::DeleteTenant => base.to(tenants::delete),
        Route::ListMembers => base.to(members::list),
        Route::SetMemberRoles => base.to(members::set_roles),
        Route::RemoveMember => base.to(members::remove),
        Route::CreateInvitation => base.to(invitations::create),
        Route::ListInvitations => base.to(invitations::list),
        Route::RevokeInvitation => base.to(invitations::revoke),
        Route::ListRoles => base.to(roles::list),
        Route::CreateRole => base.to(roles::create),
        Route::UpdateRole => base.to(roles::update),
        Route::DeleteRole => base.to(roles::delete),
        Route::ListProjects => base.to(projects::list),
        Route::CreateProject => base.to(projects::create),
        Route::GetProject => base.to(projects::get),
        Route::UpdateProject => base.to(projects::update),
        Route::DeleteProject => base.to(projects::delete),
        Route::CreateApiKey => base.to(keys::create),
        Route::ListApiKeys => base.to(keys::list),
        Route::RevokeApiKey => base.to(keys::revoke),
        Route::ListAuditEvents => base.to(audit_log::list),
    }
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

/// Mounts every route: one resource per path (so a wrong method is 405 with `Allow`), one route per
/// table entry. A resource with a sign-in route is wrapped in the sign-in quota, so the quota
/// follows the route the router matched.
pub fn register(cfg: &mut web::ServiceConfig, limits: &RateLimits) {
    let mut routes: Vec<(&str, Quota, ActixRoute)> = Vec::new();
    for entry in ACCOUNT_ROUTES {
        routes.push((
            entry.path,
            entry.route.quota(),
            account_handler(entry.route, web::method(method(entry.method))),
        ));
    }
    for entry in TENANT_ROUTES {
        routes.push((
            entry.path,
            Quota::Api,
            tenant_handler(entry.route, web::method(method(entry.method))),
        ));
    }
    let mut paths: Vec<&str> = routes.iter().map(|(path, _, _)| *path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let mut resource = web::resource(path);
        let mut quota = Quota::Api;
        for (_, route_quota, route) in routes.iter_mut().filter(|(p, _, _)| *p == path) {
            if *route_quota == Quota::Auth {
                quota = Quota::Auth;
            }
            resource = resource.route(std::mem::replace(route, web::route()));
        }
        cfg.service(resource.wrap(limits.for_routes(quota)));
    }
}
