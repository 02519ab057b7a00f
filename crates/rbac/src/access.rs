//! The tenant access extractor: who the caller is in the tenant of the path.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use portcullis_auth::tokens::hash_token;
use portcullis_auth::{api_keys, bearer, Auth, Principal};
use portcullis_db::api_keys as key_rows;
use portcullis_db::{memberships, roles, Pool, TenantId};
use portcullis_web::{path_id, with_conn, ApiError};

use crate::grants::Authority;
use crate::scopes::Scopes;
use crate::table::{spec, Route};

/// A member, or an API key of the tenant, acting in the tenant named by the path's `{tid}`, with the
/// scopes it holds as of this request (so role changes and removals bite on the next request).
#[derive(Debug, Clone)]
pub struct TenantAccess {
    /// The tenant of the path.
    pub tenant: TenantId,
    /// The acting user: the signed-in member, or the creator of the API key.
    pub user_id: String,
    /// The API key acting, if it is one.
    pub api_key: Option<String>,
    /// The user's role names in the tenant.
    pub roles: Vec<String>,
    /// What the caller may do: the roles' scopes, intersected with the key's own scopes for a key.
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
        if spec(route).self_service && self.api_key.is_none() && self.user_id == user_id {
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

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // A `{tid}` that is no UUID names no tenant. It is answered where an unknown tenant would
        // be (after the credentials are checked), with the same 404, and never reaches a query.
        let tenant = req
            .match_info()
            .get("tid")
            .map(|t| path_id(t.to_owned()).map(TenantId::new));
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let (Some(tenant), Some(pool), Some(auth)) = (tenant, pool, auth) else {
                return Err(ApiError::internal("tenant access used on a route without {tid}"));
            };
            let Some(token) = token else {
                return Err(ApiError::Unauthorized {
                    code: "unauthorized",
                    detail: "a bearer token is required",
                    token_sent: false,
                });
            };
            if api_keys::is_api_key(&token) {
                return with_conn(&pool, move |conn| key_access(conn, tenant, &token)).await;
            }
            let claims = Principal::verify(&auth, &token)?;
            // The session check and the membership lookup share one connection and one blocking call.
            with_conn(&pool, move |conn| {
                let principal = Principal::confirm(conn, claims)?;
                let tenant = tenant?;
                // Not a member, or no such tenant: the same 404, so tenant ids leak nothing.
                let (roles, authority) =
                    resolve(conn, &tenant, &principal.user_id)?.ok_or_else(ApiError::not_found)?;
                Ok(TenantAccess {
                    tenant,
                    user_id: principal.user_id,
                    api_key: None,
                    roles,
                    authority,
                })
            })
            .await
        })
    }
}

fn invalid_key() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_token",
        detail: "the API key is invalid, expired or revoked",
        token_sent: true,
    }
}

/// Resolves an API key: live, of this tenant, with its scopes cut down to what its creator holds in
/// the tenant right now (a creator who lost a scope or left takes it from the key).
fn key_access(
    conn: &mut portcullis_db::DbConn,
    tenant: Result<TenantId, ApiError>,
    key: &str,
) -> Result<TenantAccess, ApiError> {
    if !api_keys::is_well_formed(key) {
        return Err(invalid_key());
    }
    let now = portcullis_db::now();
    let stored = key_rows::find_live(conn, &hash_token(key), now)?.ok_or_else(invalid_key)?;
    // Another tenant's id, or a malformed one: the key's tenant is the only one it can reach.
    let tenant = match tenant {
        Ok(tenant) if tenant.as_str() == stored.tenant_id => tenant,
        _ => return Err(ApiError::not_found()),
    };
    let creator = resolve(conn, &tenant, &stored.created_by)?;
    let (roles, creator_authority) = creator.unwrap_or_default();
    let scopes = Scopes::from_stored(&stored.scopes).intersect(creator_authority.scopes);
    // Recording every use would turn each read into a write; once a minute is plenty for "last used".
    if stored
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::seconds(60))
    {
        key_rows::touch(conn, &stored.id, now)?;
    }
    Ok(TenantAccess {
        tenant,
        user_id: stored.created_by,
        api_key: Some(stored.id),
        roles,
        authority: Authority { scopes, owner: false },
    })
}
