//! Tenant access: who the caller is in the tenant of the path, resolved and checked by the route
//! guard ([`crate::guard`]) and handed to the handler as an extractor.

use std::future::{ready, Future, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use portcullis_auth::tokens::hash_token;
use portcullis_auth::{api_keys, bearer, Auth, Principal};
use portcullis_db::api_keys as key_rows;
use portcullis_db::{memberships, roles, Pool, TenantId};
use portcullis_web::{path_id, with_conn, ApiError};

use crate::grants::Authority;
use crate::scopes::Scopes;

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
    /// The route guard's check: 403 `forbidden` naming `scope` when the caller lacks it, unless the
    /// caller (a user, not a key) is the member the route acts on (`acting_on`) and the route allows
    /// that (leaving a tenant).
    pub fn authorize(&self, scope: &str, acting_on: Option<&str>) -> Result<(), ApiError> {
        if self.api_key.is_none() && acting_on == Some(self.user_id.as_str()) {
            return Ok(());
        }
        match Scopes::named(scope) {
            Some(held) if self.authority.scopes.contains(held) => Ok(()),
            _ => Err(ApiError::Forbidden {
                code: "forbidden",
                detail: format!("this action needs the `{scope}` scope").into(),
                required_scope: Some(scope.to_owned()),
            }),
        }
    }

    /// Resolves the caller's standing in the tenant of the path's `{tid}`: 401 without valid
    /// credentials, 404 for a tenant that does not exist or that the caller is not in.
    pub fn resolve(req: &HttpRequest) -> impl Future<Output = Result<TenantAccess, ApiError>> + 'static {
        // A `{tid}` that is no UUID names no tenant. It is answered where an unknown tenant would
        // be (after the credentials are checked), with the same 404, and never reaches a query.
        let tenant = req
            .match_info()
            .get("tid")
            .map(|t| path_id(t.to_owned()).map(TenantId::new));
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let token = bearer(req);
        async move {
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
        }
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

/// The standing the route guard resolved and checked. A handler can only get it on a route whose
/// guard is a tenant scope, so it cannot run unauthorized by forgetting a check.
impl FromRequest for TenantAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<TenantAccess>()
                .cloned()
                .ok_or_else(|| ApiError::internal("a tenant handler on a route without a tenant guard")),
        )
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
