//! The tenant router, built from `portcullis_rbac::table::TENANT_ROUTES`.

use actix_web::http::Method;
use actix_web::{web, Route as ActixRoute};
use portcullis_rbac::routes::{invitations, members, roles};
use portcullis_rbac::table::{Route, TENANT_ROUTES};

use crate::{audit_log, keys, projects, tenants};

/// The handler of each table entry. The match is exhaustive, so a route added to the table without a
/// handler does not compile, and a handler cannot be mounted without a table entry.
fn handler(route: Route, method: Method) -> ActixRoute {
    let base = web::method(method);
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

/// Mounts every tenant route: one resource per path (so a wrong method is 405), one route per entry.
pub fn register_tenant_routes(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&str> = Vec::new();
    for entry in TENANT_ROUTES {
        if !paths.contains(&entry.path) {
            paths.push(entry.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for entry in TENANT_ROUTES.iter().filter(|e| e.path == path) {
            let method = Method::from_bytes(entry.method.as_bytes()).unwrap_or(Method::GET);
            resource = resource.route(handler(entry.route, method));
        }
        cfg.service(resource);
    }
}
