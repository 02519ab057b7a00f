//! The tenant access extractor: who the caller is in the tenant of the path.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use portcullis_auth::Principal;
use portcullis_db::{memberships, roles, Pool, TenantId};
use portcullis_web::{with_conn, ApiError};

use crate::grants::Authority;
use crate::scopes::Scopes;
use crate::table::{spec, Route};

/// A member acting in the tenant named by the path's `{tid}`, with the union of their roles' scopes
/// as of this request (so role changes and removals bite on the next request).
#[derive(Debug, Clone)]
pub struct TenantAccess {
    /// The tenant of the path.
    pub tenant: TenantId,
    /// The caller.
    pub principal: Principal,
    /// The caller's role names in the tenant.
    pub roles: Vec<String>,
    /// What those roles confer.
    pub authority: Authority,
}

impl TenantAccess {
    /// The first line of every tenant handler: 403 `forbidden` naming the scope when the caller lacks
    /// the route's scope.
    pub fn require(&self, route: Route) -> Result<(), ApiError> {
        let needed = spec(route).scope;
        match Scopes::named(needed) {
            Some(scope) if self.authority.scopes.contains(scope) => Ok(()),
            _ => Err(ApiError::Forbidden {
                code: "forbidden",
                detail: format!("this action needs the `{needed}` scope").into(),
                required_scope: Some(needed.to_owned()),
            }),
        }
    }

    /// Like [`require`](Self::require), but a self-service route is also open to the member acting
    /// on themself.
    pub fn require_or_self(&self, route: Route, user_id: &str) -> Result<(), ApiError> {
        if spec(route).self_service && self.principal.user_id == user_id {
            return Ok(());
        }
        self.require(route)
    }
}

/// Resolves a user's standing in a tenant: `None` when they are not a member.
pub fn resolve(
    conn: &mut portcullis_db::DbConn,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Option<(Vec<String>, Authority)>, ApiError> {
    let Some(held) = memberships::roles_of(conn, tenant, user_id)? else {
        return Ok(None);
    };
    let authority = authority_of(conn, tenant, &held)?;
    Ok(Some((held, authority)))
}

/// What a list of role names confers in a tenant (custom roles are read from the database).
pub fn authority_of(
    conn: &mut portcullis_db::DbConn,
    tenant: &TenantId,
    names: &[String],
) -> Result<Authority, ApiError> {
    let custom_names: Vec<String> = names
        .iter()
        .filter(|n| crate::scopes::builtin(n).is_none())
        .cloned()
        .collect();
    let custom = roles::find_many(conn, tenant, &custom_names)?;
    Ok(Authority::of(names.iter().map(String::as_str), |name| {
        custom
            .iter()
            .find(|r| r.name == name)
            .map(|r| Scopes::from_stored(&r.scopes))
    }))
}

impl FromRequest for TenantAccess {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        let tenant = req.match_info().get("tid").map(|t| TenantId::new(t.to_owned()));
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        Box::pin(async move {
            let principal = principal.await?;
            let (Some(tenant), Some(pool)) = (tenant, pool) else {
                return Err(ApiError::internal("tenant access used on a route without {tid}"));
            };
            let (lookup_tenant, user_id) = (tenant.clone(), principal.user_id.clone());
            let standing = with_conn(&pool, move |conn| resolve(conn, &lookup_tenant, &user_id)).await?;
            // Not a member, or no such tenant: the same 404, so tenant ids leak nothing.
            let (roles, authority) = standing.ok_or_else(ApiError::not_found)?;
            Ok(TenantAccess {
                tenant,
                principal,
                roles,
                authority,
            })
        })
    }
}
