//! Members, invitations, roles and the scope catalog: their one route list ([`list`]) and handlers.

pub mod invitations;
pub mod members;
pub mod roles;

use actix_web::http::Method;
use actix_web::HttpResponse;
use portcullis_auth::Principal;
use portcullis_db::{DbConn, TenantId};
use portcullis_web::{op, route, Guard, RouteDef, LIST_QUERY};
use portcullis_web::{ApiError, FieldError};

use crate::grants::{Authority, Denied};
use crate::scopes::{builtin, Scope};

/// Every authorization route under `/api/v1`.
pub fn list() -> Vec<RouteDef> {
    use invitations::{AcceptInvitation, CreateInvitation, InvitationBody, TenantBody};
    use members::{MemberBody, SetRoles};
    use roles::{CreateRole, RoleBody, RoleList, UpdateRole};
    vec![
        route(
            "ListScopes",
            Method::GET,
            "/scopes",
            Guard::User,
            |r| r.to(list_scopes),
            |s| op("The scope catalog", "tenants", 200).returns(s.of::<ScopeList>()),
        ),
        route(
            "AcceptInvitation",
            Method::POST,
            "/invitations/accept",
            Guard::User,
            |r| r.to(invitations::accept),
            |s| {
                op("Accept an invitation", "members", 200)
                    .body(s.of::<AcceptInvitation>())
                    .returns(s.of::<TenantBody>())
                    .errors(&[404, 409])
            },
        )
        .sign_in(),
        route(
            "ListMembers",
            Method::GET,
            "/tenants/{tid}/members",
            Scope::MembersRead.guard(),
            |r| r.to(members::list),
            |s| {
                op("List members", "members", 200)
                    .returns(s.page::<MemberBody>())
                    .query(LIST_QUERY)
            },
        ),
        route(
            "SetMemberRoles",
            Method::PUT,
            "/tenants/{tid}/members/{uid}/roles",
            Scope::MembersManage.guard(),
            |r| r.to(members::set_roles),
            |s| {
                op("Replace a member's roles", "members", 200)
                    .body(s.of::<SetRoles>())
                    .returns(s.of::<MemberBody>())
                    .errors(&[409])
            },
        ),
        route(
            "RemoveMember",
            Method::DELETE,
            "/tenants/{tid}/members/{uid}",
            Guard::Tenant {
                scope: "members:manage",
                or_self: Some("uid"),
            },
            |r| r.to(members::remove),
            |_| op("Remove a member (or leave)", "members", 204).errors(&[409]),
        ),
        route(
            "CreateInvitation",
            Method::POST,
            "/tenants/{tid}/invitations",
            Scope::MembersInvite.guard(),
            |r| r.to(invitations::create),
            |s| {
                op("Invite someone (the token is shown once)", "members", 201)
                    .body(s.of::<CreateInvitation>())
                    .returns(s.of::<InvitationBody>())
            },
        ),
        route(
            "ListInvitations",
            Method::GET,
            "/tenants/{tid}/invitations",
            Scope::MembersInvite.guard(),
            |r| r.to(invitations::list),
            |s| {
                op("Pending invitations", "members", 200)
                    .returns(s.page::<InvitationBody>())
                    .query(LIST_QUERY)
            },
        ),
        route(
            "RevokeInvitation",
            Method::DELETE,
            "/tenants/{tid}/invitations/{id}",
            Scope::MembersInvite.guard(),
            |r| r.to(invitations::revoke),
            |_| op("Revoke an invitation", "members", 204),
        ),
        route(
            "ListRoles",
            Method::GET,
            "/tenants/{tid}/roles",
            Scope::RolesRead.guard(),
            |r| r.to(roles::list),
            |s| op("Built-in and custom roles", "roles", 200).returns(s.of::<RoleList>()),
        ),
        route(
            "CreateRole",
            Method::POST,
            "/tenants/{tid}/roles",
            Scope::RolesManage.guard(),
            |r| r.to(roles::create),
            |s| {
                op("Create a custom role", "roles", 201)
                    .body(s.of::<CreateRole>())
                    .returns(s.of::<RoleBody>())
                    .errors(&[409])
            },
        ),
        route(
            "UpdateRole",
            Method::PATCH,
            "/tenants/{tid}/roles/{name}",
            Scope::RolesManage.guard(),
            |r| r.to(roles::update),
            |s| {
                op("Change a custom role", "roles", 200)
                    .body(s.of::<UpdateRole>())
                    .returns(s.of::<RoleBody>())
                    .errors(&[409])
            },
        ),
        route(
            "DeleteRole",
            Method::DELETE,
            "/tenants/{tid}/roles/{name}",
            Scope::RolesManage.guard(),
            |r| r.to(roles::delete),
            |_| op("Delete a custom role", "roles", 204).errors(&[409]),
        ),
    ]
}

/// One scope of the catalog.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScopeBody {
    name: &'static str,
    description: &'static str,
}

/// The scope catalog.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScopeList {
    items: Vec<ScopeBody>,
}

/// GET /scopes
pub async fn list_scopes(_principal: Principal) -> HttpResponse {
    let items = Scope::ALL
        .iter()
        .map(|scope| ScopeBody {
            name: scope.name(),
            description: scope.description(),
        })
        .collect();
    HttpResponse::Ok().json(ScopeList { items })
}

/// 403 for a refused grant (naming the scope when the act itself needs one the caller lacks).
pub(crate) fn forbidden(denied: Denied) -> ApiError {
    let required_scope = match denied {
        Denied::MissingScope(scope) => Some(scope.names().join(" ")),
        Denied::ScopesBeyondCaller(_) | Denied::OwnerOnly | Denied::TargetOutranksCaller => None,
    };
    ApiError::Forbidden {
        code: "forbidden",
        detail: denied.explain().into(),
        required_scope,
    }
}

/// Checks that every role name exists in the tenant (built-in or custom) and is listed once, and
/// returns what they confer together; unknown names are 422 on `roles[i]`.
pub(crate) fn known_roles(
    conn: &mut DbConn,
    tenant: &TenantId,
    names: &[String],
) -> Result<Authority, ApiError> {
    let custom_names: Vec<String> = names.iter().filter(|n| builtin(n).is_none()).cloned().collect();
    let custom = portcullis_db::roles::find_many(conn, tenant, &custom_names)?;
    let mut errors = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if builtin(name).is_none() && !custom.iter().any(|r| &r.name == name) {
            errors.push(FieldError::new(
                format!("roles[{i}]"),
                "unknown_role",
                format!("no role named {name:?} in this tenant"),
            ));
        } else if names[..i].contains(name) {
            errors.push(FieldError::new(
                format!("roles[{i}]"),
                "duplicate",
                "is listed twice",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // From the rows just read: asking `authority_of` would read the same custom roles again.
    Ok(Authority::of(names.iter().map(String::as_str), |name| {
        custom
            .iter()
            .find(|r| r.name == name)
            .map(|r| crate::scopes::Scopes::from_stored(&r.scopes))
    }))
}
