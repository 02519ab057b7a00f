//! Members, invitations, roles and the scope catalog.

pub mod invitations;
pub mod members;
pub mod roles;

use actix_web::HttpResponse;
use portcullis_auth::Principal;
use portcullis_db::{DbConn, TenantId};
use portcullis_web::{ApiError, FieldError};

use crate::grants::{Authority, Denied};
use crate::scopes::{builtin, CATALOG};

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
    let items = CATALOG
        .iter()
        .map(|(name, description)| ScopeBody { name, description })
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
    crate::authority_of(conn, tenant, names)
}

/// Re-reads the caller's standing inside a write transaction, so a check cannot act on authority the
/// caller lost a moment ago.
pub(crate) fn caller_now(conn: &mut DbConn, tenant: &TenantId, user_id: &str) -> Result<Authority, ApiError> {
    crate::resolve(conn, tenant, user_id)?
        .map(|(_, authority)| authority)
        .ok_or_else(ApiError::not_found)
}
