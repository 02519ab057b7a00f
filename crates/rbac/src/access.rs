//! Tenant access: who the caller is in the tenant of the path. The route guard ([`crate::guard`])
//! checks the credentials; the handler's one unit of work ([`TenantCall`]) resolves and checks the
//! caller's standing in the blocking call (and, for most writes, the transaction) that does the work.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use portcullis_auth::tokens::hash_token;
use portcullis_auth::tokens::Claims;
use portcullis_auth::{api_keys, bearer, Auth, Principal};
use portcullis_db::api_keys as key_rows;
use portcullis_db::memberships::{SessionCaller, SessionStanding};
use portcullis_db::{memberships, roles, tenants, write_transaction, DbConn, DbError, Pool, TenantId};
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
    /// Whether the caller's sign-in included a second factor (never for an API key).
    pub second_factor: bool,
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
}

/// A tenant route's caller as the route guard left it: credentials checked without I/O (an access
/// token's signature and claims, an API key's form and checksum), the tenant id of the path, and what
/// the route needs. The rest (live session or key, membership, scope) is decided in the handler's one
/// unit of work, in the same blocking call and, for writes, in the same transaction and under the
/// same lock as the change: [`TenantCall::read`], [`TenantCall::write`], [`TenantCall::write_locked`]
/// (or just before a change that is atomic on its own: [`TenantCall::write_atomic`]). A handler gets
/// a [`TenantAccess`] only through them, so it cannot act without the check.
#[derive(Debug)]
pub struct TenantCall {
    tenant: Result<TenantId, ApiError>,
    credential: Credential,
    scope: &'static str,
    acting_on: Option<String>,
}

#[derive(Debug)]
enum Credential {
    Token(Claims),
    Key(String),
    /// A browser session of the hosted pages: its id, user and sign-in methods (the cookie was
    /// opened and checked by the pages; the session row is checked here like a token's).
    Browser {
        sid: String,
        sub: String,
        amr: Vec<String>,
    },
}

impl TenantCall {
    /// The guard's part: 401 without a bearer token, with a bad access token or a malformed API key.
    /// A `{tid}` that is no UUID names no tenant: it is answered later, where an unknown tenant would
    /// be (after the credentials are checked), with the same 404, and never reaches a query.
    pub fn prepare(
        req: &HttpRequest,
        scope: &'static str,
        or_self: Option<&'static str>,
    ) -> Result<TenantCall, ApiError> {
        let auth = req
            .app_data::<web::Data<Auth>>()
            .ok_or_else(|| ApiError::internal("identity state is not registered"))?;
        let token = bearer(req).ok_or(ApiError::Unauthorized {
            code: "unauthorized",
            detail: "a bearer token is required",
            token_sent: false,
        })?;
        let credential = if api_keys::is_api_key(&token) {
            if !api_keys::is_well_formed(&token) {
                return Err(invalid_key());
            }
            Credential::Key(token)
        } else {
            Credential::Token(Principal::verify(auth, &token)?)
        };
        let tenant = match req.match_info().get("tid") {
            Some(tid) => path_id(tid.to_owned()).map(TenantId::new),
            None => return Err(ApiError::internal("a tenant guard on a route without {tid}")),
        };
        let acting_on = or_self
            .and_then(|name| req.match_info().get(name))
            .map(str::to_owned);
        Ok(TenantCall {
            tenant,
            credential,
            scope,
            acting_on,
        })
    }

    /// The caller of a console page: the browser session `sid` of `user_id`, acting in `tenant` with
    /// what `scope` allows. The same checks as an API call follow in [`read`](Self::read) and
    /// [`write`](Self::write): live session, membership, tenant MFA policy, scope.
    pub fn for_browser(
        tenant: &str,
        user_id: &str,
        session_id: &str,
        amr: Vec<String>,
        scope: crate::scopes::Scope,
    ) -> TenantCall {
        TenantCall {
            tenant: path_id(tenant.to_owned()).map(TenantId::new),
            credential: Credential::Browser {
                sid: session_id.to_owned(),
                sub: user_id.to_owned(),
                amr,
            },
            scope: scope.name(),
            acting_on: None,
        }
    }

    /// Authorizes and runs `work` on one pooled connection in one blocking call.
    pub async fn read<T: Send + 'static>(
        self,
        pool: &Pool,
        work: impl FnOnce(&mut DbConn, &TenantAccess) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        with_conn(pool, move |conn| {
            let access = self.authorize(conn)?;
            work(conn, &access)
        })
        .await
    }

    /// Like [`read`](Self::read), for a one-row read that can ride on the standing statement: for a
    /// signed-in member, `joined` reads the standing and the row `key` names in one statement (as
    /// `projects::find_with_standing` does), and the row is returned only once that standing
    /// authorizes the call, with the same answers in the same order as [`read`](Self::read) (no row
    /// is 404). An API key, a tenant id that is no UUID or a `key` that is already an error
    /// take the two-step way: authorize, then `alone`.
    pub async fn read_joined<K, T>(
        self,
        pool: &Pool,
        key: Result<K, ApiError>,
        joined: impl FnOnce(&mut DbConn, &SessionCaller<'_>, &K) -> Result<(SessionStanding, Option<T>), DbError>
            + Send
            + 'static,
        alone: impl FnOnce(&mut DbConn, &TenantAccess, &K) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        K: Send + 'static,
        T: Send + 'static,
    {
        with_conn(pool, move |conn| {
            let key = match key {
                Ok(key) => key,
                Err(refused) => {
                    self.authorize(conn)?;
                    return Err(refused);
                }
            };
            let (principal, tenant) = match (self.credential, self.tenant) {
                (Credential::Token(claims), Ok(tenant)) => (Principal::of_live_session(claims), tenant),
                (Credential::Browser { sid, sub, amr }, Ok(tenant)) => (
                    Principal {
                        user_id: sub,
                        session_id: sid,
                        amr,
                    },
                    tenant,
                ),
                (credential, tenant) => {
                    let call = TenantCall {
                        credential,
                        tenant,
                        ..self
                    };
                    let access = call.authorize(conn)?;
                    return alone(conn, &access, &key);
                }
            };
            let (standing, row) = joined(conn, &principal.caller(&tenant), &key)?;
            let access = access_of_standing(conn, tenant, principal, standing)?;
            access.authorize(self.scope, self.acting_on.as_deref())?;
            row.ok_or_else(ApiError::not_found)
        })
        .await
    }

    /// Authorizes and runs `work` in one write transaction: the authority decision sees what the
    /// change sees, and the audit row the change writes commits with it.
    pub async fn write<T: Send + 'static>(
        self,
        pool: &Pool,
        work: impl FnOnce(&mut DbConn, &TenantAccess) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        with_conn(pool, move |conn| {
            write_transaction(conn, |conn| {
                let access = self.authorize(conn)?;
                work(conn, &access)
            })
        })
        .await
    }

    /// Like [`write`](Self::write), for work whose writes are one atomic call of its own (one
    /// statement, or a write transaction the call opens itself, such as
    /// `projects::insert_audited` storing a row and its audit event): the standing is read just
    /// before, in the same blocking call, with no transaction around both. That saves PostgreSQL
    /// the `BEGIN` and `COMMIT` round trips, and SQLite holding its writer lock for the read. The
    /// decision is as current as inside a transaction on PostgreSQL, where a read under READ
    /// COMMITTED locks nothing, so a role removed between the read and the write could be removed
    /// there too; only for changes whose rules depend on authority no concurrent change may alter
    /// (memberships, roles) does that matter, and those use [`write_locked`](Self::write_locked).
    /// An API key's use is recorded with the read (as on every route), so it stays recorded when
    /// the work is then refused.
    pub async fn write_atomic<T: Send + 'static>(
        self,
        pool: &Pool,
        work: impl FnOnce(&mut DbConn, &TenantAccess) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.read(pool, work).await
    }

    /// Like [`write`](Self::write), but the tenant's row is locked before the caller's standing is
    /// read: for changes to memberships and roles, whose rules (no escalation, the last owner) must
    /// be decided on authority that no concurrent change can alter before the commit.
    pub async fn write_locked<T: Send + 'static>(
        self,
        pool: &Pool,
        work: impl FnOnce(&mut DbConn, &TenantAccess) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        with_conn(pool, move |conn| {
            write_transaction(conn, |conn| {
                // The lock is an UPDATE; for a caller refused below, the transaction rolls it back.
                if let Ok(tenant) = &self.tenant {
                    match tenants::lock(conn, tenant, portcullis_db::now()) {
                        Ok(()) | Err(DbError::NotFound) => {}
                        Err(other) => return Err(other.into()),
                    }
                }
                let access = self.authorize(conn)?;
                work(conn, &access)
            })
        })
        .await
    }

    /// The session or key is live, the caller belongs to the tenant (404 otherwise, as for a tenant
    /// that does not exist), and holds the route's scope (403 naming it) unless acting on themself
    /// where the route allows it.
    fn authorize(self, conn: &mut DbConn) -> Result<TenantAccess, ApiError> {
        let access = match self.credential {
            Credential::Key(key) => key_access(conn, self.tenant, &key)?,
            Credential::Token(claims) => {
                let principal = Principal::of_live_session(claims);
                member_access(conn, self.tenant, principal)?
            }
            Credential::Browser { sid, sub, amr } => {
                let principal = Principal {
                    user_id: sub,
                    session_id: sid,
                    amr,
                };
                member_access(conn, self.tenant, principal)?
            }
        };
        access.authorize(self.scope, self.acting_on.as_deref())?;
        Ok(access)
    }
}

/// A signed-in member's access: the session is live, the caller belongs to the tenant (404 otherwise,
/// as for a tenant that does not exist) and meets its MFA policy. `principal` comes from credentials
/// already checked; whether its session still lives is decided here, with the standing.
fn member_access(
    conn: &mut DbConn,
    tenant: Result<TenantId, ApiError>,
    principal: Principal,
) -> Result<TenantAccess, ApiError> {
    let tenant = match tenant {
        Ok(tenant) => tenant,
        Err(not_found) => {
            // A dead session is 401 whatever the path says.
            if !portcullis_db::sessions::is_active(conn, &principal.session_id, &principal.user_id)? {
                return Err(Principal::session_ended());
            }
            return Err(not_found);
        }
    };
    // The session check and the standing in one statement.
    let standing = memberships::session_standing(conn, &principal.caller(&tenant))?;
    access_of_standing(conn, tenant, principal, standing)
}

/// What a signed-in caller may do in `tenant`, from what the standing statement found: 401 for a
/// session that ended, 404 for a non-member (as for a tenant that does not exist), 403 when the
/// tenant's MFA policy is not met.
fn access_of_standing(
    conn: &mut DbConn,
    tenant: TenantId,
    principal: Principal,
    standing: SessionStanding,
) -> Result<TenantAccess, ApiError> {
    let standing = match standing {
        SessionStanding::SessionGone => return Err(Principal::session_ended()),
        SessionStanding::NotMember => return Err(ApiError::not_found()),
        SessionStanding::Member(standing) => standing,
    };
    // The tenant's policy, before any scope: a member without a second factor is told what to do
    // rather than which scope they lack.
    if standing.require_mfa && !principal.has_second_factor() {
        return Err(mfa_required_by_tenant());
    }
    let authority = authority_of(conn, &tenant, &standing.roles)?;
    Ok(TenantAccess {
        tenant,
        second_factor: principal.has_second_factor(),
        user_id: principal.user_id,
        api_key: None,
        roles: standing.roles,
        authority,
    })
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

/// The caller of a tenant route, from its route guard. Only routes whose guard is a tenant scope
/// have one; elsewhere this is a 500, never an unchecked caller.
impl FromRequest for TenantCall {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions_mut()
                .remove::<TenantCall>()
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
        second_factor: false,
    })
}

/// 403 `mfa_required_by_tenant`: the tenant requires members to sign in with a second factor.
pub fn mfa_required_by_tenant() -> ApiError {
    ApiError::Forbidden {
        code: "mfa_required_by_tenant",
        detail: "this tenant requires two-factor sign-in: turn it on for your account and sign in again \
                 with a code"
            .into(),
        required_scope: None,
    }
}
