//! `portcullis-api` holds the tenant resources: tenants themselves, projects, API-key management and
//! the audit log, and their one route list ([`routes`]). Every query goes through `portcullis-db`, which
//! filters every tenant-owned table by the tenant id; the scope each route needs is stated once, in
//! its route definition, and enforced before the handler runs.

pub mod audit_log;
pub mod keys;
pub mod projects;
pub mod tenants;

use actix_web::http::Method;
use portcullis_rbac::routes::invitations::TenantBody;
use portcullis_rbac::scopes::Scope;
use portcullis_web::{op, route, Guard, RouteDef, LIST_QUERY};
use utoipa::openapi::Type;

/// Every tenant-resource route under `/api/v1`.
pub fn routes() -> Vec<RouteDef> {
    use audit_log::AuditEventBody;
    use keys::{CreateKey, KeyBody};
    use projects::{CreateProject, ProjectBody, UpdateProject};
    use tenants::{CreateTenant, UpdateTenant};
    vec![
        route(
            "CreateTenant",
            Method::POST,
            "/tenants",
            Guard::User,
            |r| r.to(tenants::create),
            |s| {
                op("Create a tenant (the caller becomes its owner)", "tenants", 201)
                    .body(s.of::<CreateTenant>())
                    .returns(s.of::<TenantBody>())
                    .errors(&[409])
            },
        ),
        route(
            "ListTenants",
            Method::GET,
            "/tenants",
            Guard::User,
            |r| r.to(tenants::list),
            |s| {
                op("The caller's tenants", "tenants", 200)
                    .returns(s.page::<TenantBody>())
                    .query(LIST_QUERY)
            },
        ),
        route(
            "GetTenant",
            Method::GET,
            "/tenants/{tid}",
            Scope::TenantRead.guard(),
            |r| r.to(tenants::get),
            |s| op("Read the tenant", "tenants", 200).returns(s.of::<TenantBody>()),
        ),
        route(
            "UpdateTenant",
            Method::PATCH,
            "/tenants/{tid}",
            Scope::TenantUpdate.guard(),
            |r| r.to(tenants::update),
            |s| {
                op("Rename the tenant", "tenants", 200)
                    .body(s.of::<UpdateTenant>())
                    .returns(s.of::<TenantBody>())
            },
        ),
        route(
            "DeleteTenant",
            Method::DELETE,
            "/tenants/{tid}",
            Scope::TenantDelete.guard(),
            |r| r.to(tenants::delete),
            |_| op("Delete the tenant and all its rows", "tenants", 204),
        ),
        route(
            "ListProjects",
            Method::GET,
            "/tenants/{tid}/projects",
            Scope::ProjectsRead.guard(),
            |r| r.to(projects::list),
            |s| {
                op("List projects", "projects", 200)
                    .returns(s.page::<ProjectBody>())
                    .query(&[
                        ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
                        ("cursor", Type::String, "next_cursor of the previous page"),
                        ("q", Type::String, "case-insensitive substring of the name"),
                    ])
            },
        ),
        route(
            "CreateProject",
            Method::POST,
            "/tenants/{tid}/projects",
            Scope::ProjectsWrite.guard(),
            |r| r.to(projects::create),
            |s| {
                op("Create a project", "projects", 201)
                    .body(s.of::<CreateProject>())
                    .returns(s.of::<ProjectBody>())
            },
        ),
        route(
            "GetProject",
            Method::GET,
            "/tenants/{tid}/projects/{pid}",
            Scope::ProjectsRead.guard(),
            |r| r.to(projects::get),
            |s| op("Read a project", "projects", 200).returns(s.of::<ProjectBody>()),
        ),
        route(
            "UpdateProject",
            Method::PATCH,
            "/tenants/{tid}/projects/{pid}",
            Scope::ProjectsWrite.guard(),
            |r| r.to(projects::update),
            |s| {
                op("Change a project (If-Match optional)", "projects", 200)
                    .body(s.of::<UpdateProject>())
                    .returns(s.of::<ProjectBody>())
                    .errors(&[412])
            },
        ),
        route(
            "DeleteProject",
            Method::DELETE,
            "/tenants/{tid}/projects/{pid}",
            Scope::ProjectsDelete.guard(),
            |r| r.to(projects::delete),
            |_| op("Delete a project", "projects", 204),
        ),
        route(
            "CreateApiKey",
            Method::POST,
            "/tenants/{tid}/api-keys",
            Scope::ApiKeysManage.guard(),
            |r| r.to(keys::create),
            |s| {
                op("Create an API key (shown once)", "api-keys", 201)
                    .body(s.of::<CreateKey>())
                    .returns(s.of::<KeyBody>())
            },
        ),
        route(
            "ListApiKeys",
            Method::GET,
            "/tenants/{tid}/api-keys",
            Scope::ApiKeysManage.guard(),
            |r| r.to(keys::list),
            |s| {
                op("List API keys", "api-keys", 200)
                    .returns(s.page::<KeyBody>())
                    .query(LIST_QUERY)
            },
        ),
        route(
            "RevokeApiKey",
            Method::DELETE,
            "/tenants/{tid}/api-keys/{id}",
            Scope::ApiKeysManage.guard(),
            |r| r.to(keys::revoke),
            |_| op("Revoke an API key", "api-keys", 204),
        ),
        route(
            "ListAuditEvents",
            Method::GET,
            "/tenants/{tid}/audit-events",
            Scope::AuditRead.guard(),
            |r| r.to(audit_log::list),
            |s| {
                op("The audit log, newest first", "audit", 200)
                    .returns(s.page::<AuditEventBody>())
                    .query(&[
                        ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
                        ("cursor", Type::String, "next_cursor of the previous page"),
                        (
                            "action",
                            Type::String,
                            "only this action, such as project.created",
                        ),
                    ])
            },
        ),
    ]
}
