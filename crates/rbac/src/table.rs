//! The one table of tenant routes and the scope each needs. The router is built from it, handlers
//! look their scope up in it, and the authorization and isolation tests iterate over it, so a route
//! cannot exist without a stated scope and a test.

use portcullis_web::Quota;

/// Every tenant-scoped route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// GET /tenants/{tid}
    GetTenant,
    /// PATCH /tenants/{tid}
    UpdateTenant,
    /// DELETE /tenants/{tid}
    DeleteTenant,
    /// GET /tenants/{tid}/members
    ListMembers,
    /// PUT /tenants/{tid}/members/{uid}/roles
    SetMemberRoles,
    /// DELETE /tenants/{tid}/members/{uid}
    RemoveMember,
    /// POST /tenants/{tid}/invitations
    CreateInvitation,
    /// GET /tenants/{tid}/invitations
    ListInvitations,
    /// DELETE /tenants/{tid}/invitations/{id}
    RevokeInvitation,
    /// GET /tenants/{tid}/roles
    ListRoles,
    /// POST /tenants/{tid}/roles
    CreateRole,
    /// PATCH /tenants/{tid}/roles/{name}
    UpdateRole,
    /// DELETE /tenants/{tid}/roles/{name}
    DeleteRole,
    /// GET /tenants/{tid}/projects
    ListProjects,
    /// POST /tenants/{tid}/projects
    CreateProject,
    /// GET /tenants/{tid}/projects/{pid}
    GetProject,
    /// PATCH /tenants/{tid}/projects/{pid}
    UpdateProject,
    /// DELETE /tenants/{tid}/projects/{pid}
    DeleteProject,
    /// POST /tenants/{tid}/api-keys
    CreateApiKey,
    /// GET /tenants/{tid}/api-keys
    ListApiKeys,
    /// DELETE /tenants/{tid}/api-keys/{id}
    RevokeApiKey,
    /// GET /tenants/{tid}/audit-events
    ListAuditEvents,
}

/// A tenant route: method, path under `/api/v1`, required scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantRoute {
    /// Which route.
    pub route: Route,
    /// HTTP method.
    pub method: &'static str,
    /// Path under `/api/v1`, with `{tid}` for the tenant.
    pub path: &'static str,
    /// The scope it needs.
    pub scope: &'static str,
    /// Whether a member may also do it to themself without the scope (leaving a tenant).
    pub self_service: bool,
}

const fn route(route: Route, method: &'static str, path: &'static str, scope: &'static str) -> TenantRoute {
    TenantRoute {
        route,
        method,
        path,
        scope,
        self_service: false,
    }
}

/// The table.
#[rustfmt::skip]
pub const TENANT_ROUTES: &[TenantRoute] = &[
    route(Route::GetTenant,        "GET",    "/tenants/{tid}",                    "tenant:read"),
    route(Route::UpdateTenant,     "PATCH",  "/tenants/{tid}",                    "tenant:update"),
    route(Route::DeleteTenant,     "DELETE", "/tenants/{tid}",                    "tenant:delete"),
    route(Route::ListMembers,      "GET",    "/tenants/{tid}/members",            "members:read"),
    route(Route::SetMemberRoles,   "PUT",    "/tenants/{tid}/members/{uid}/roles", "members:manage"),
    TenantRoute { self_service: true,
        ..route(Route::RemoveMember, "DELETE", "/tenants/{tid}/members/{uid}",    "members:manage") },
    route(Route::CreateInvitation, "POST",   "/tenants/{tid}/invitations",        "members:invite"),
    route(Route::ListInvitations,  "GET",    "/tenants/{tid}/invitations",        "members:invite"),
    route(Route::RevokeInvitation, "DELETE", "/tenants/{tid}/invitations/{id}",   "members:invite"),
    route(Route::ListRoles,        "GET",    "/tenants/{tid}/roles",              "roles:read"),
    route(Route::CreateRole,       "POST",   "/tenants/{tid}/roles",              "roles:manage"),
    route(Route::UpdateRole,       "PATCH",  "/tenants/{tid}/roles/{name}",       "roles:manage"),
    route(Route::DeleteRole,       "DELETE", "/tenants/{tid}/roles/{name}",       "roles:manage"),
    route(Route::ListProjects,     "GET",    "/tenants/{tid}/projects",           "projects:read"),
    route(Route::CreateProject,    "POST",   "/tenants/{tid}/projects",           "projects:write"),
    route(Route::GetProject,       "GET",    "/tenants/{tid}/projects/{pid}",     "projects:read"),
    route(Route::UpdateProject,    "PATCH",  "/tenants/{tid}/projects/{pid}",     "projects:write"),
    route(Route::DeleteProject,    "DELETE", "/tenants/{tid}/projects/{pid}",     "projects:delete"),
    route(Route::CreateApiKey,     "POST",   "/tenants/{tid}/api-keys",           "api_keys:manage"),
    route(Route::ListApiKeys,      "GET",    "/tenants/{tid}/api-keys",           "api_keys:manage"),
    route(Route::RevokeApiKey,     "DELETE", "/tenants/{tid}/api-keys/{id}",      "api_keys:manage"),
    route(Route::ListAuditEvents,  "GET",    "/tenants/{tid}/audit-events",       "audit:read"),
];

/// The table entry of a route.
pub fn spec(route: Route) -> &'static TenantRoute {
    // Every variant is in the table: the unit test below checks it.
    TENANT_ROUTES
        .iter()
        .find(|r| r.route == route)
        .unwrap_or(&TENANT_ROUTES[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scopes::Scopes;

    #[test]
    fn every_route_is_in_the_table_once_with_a_known_scope() {
        let all = [
            Route::GetTenant,
            Route::UpdateTenant,
            Route::DeleteTenant,
            Route::ListMembers,
            Route::SetMemberRoles,
            Route::RemoveMember,
            Route::CreateInvitation,
            Route::ListInvitations,
            Route::RevokeInvitation,
            Route::ListRoles,
            Route::CreateRole,
            Route::UpdateRole,
            Route::DeleteRole,
            Route::ListProjects,
            Route::CreateProject,
            Route::GetProject,
            Route::UpdateProject,
            Route::DeleteProject,
            Route::CreateApiKey,
            Route::ListApiKeys,
            Route::RevokeApiKey,
            Route::ListAuditEvents,
        ];
        assert_eq!(all.len(), TENANT_ROUTES.len());
        for route in all {
            assert_eq!(
                TENANT_ROUTES.iter().filter(|r| r.route == route).count(),
                1,
                "{route:?}"
            );
            assert!(Scopes::named(spec(route).scope).is_some(), "{route:?}");
            assert!(spec(route).path.starts_with("/tenants/{tid}"));
        }
    }
}

/// Every route under `/api/v1` that is not tenant-scoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRoute {
    /// POST /auth/signup
    Signup,
    /// POST /auth/login
    Login,
    /// POST /auth/refresh
    Refresh,
    /// POST /auth/logout
    Logout,
    /// GET /auth/sessions
    ListSessions,
    /// DELETE /auth/sessions/{id}
    RevokeSession,
    /// POST /auth/password
    ChangePassword,
    /// GET /me
    GetMe,
    /// PATCH /me
    UpdateMe,
    /// DELETE /me
    DeleteMe,
    /// GET /me/security-events
    SecurityEvents,
    /// DELETE /me/identities/github
    UnlinkGithub,
    /// GET /auth/github/authorize
    GithubAuthorize,
    /// GET /auth/github/callback
    GithubCallback,
    /// POST /auth/github/link
    GithubLink,
    /// POST /auth/github/link/complete
    GithubLinkComplete,
    /// POST /auth/oauth/exchange
    OauthExchange,
    /// GET /scopes
    ListScopes,
    /// POST /invitations/accept
    AcceptInvitation,
    /// POST /tenants
    CreateTenant,
    /// GET /tenants
    ListTenants,
}

impl AccountRoute {
    /// The rate-limit quota of the route: the strict sign-in quota for the routes that check
    /// passwords or single-use secrets (API.md, "Abuse protection"), the general one otherwise.
    /// Exhaustive, so a new route cannot be added without deciding.
    pub const fn quota(self) -> Quota {
        match self {
            AccountRoute::Signup
            | AccountRoute::Login
            | AccountRoute::Refresh
            | AccountRoute::OauthExchange
            | AccountRoute::GithubAuthorize
            | AccountRoute::GithubCallback
            | AccountRoute::GithubLink
            | AccountRoute::GithubLinkComplete
            | AccountRoute::AcceptInvitation => Quota::Auth,
            AccountRoute::Logout
            | AccountRoute::ListSessions
            | AccountRoute::RevokeSession
            | AccountRoute::ChangePassword
            | AccountRoute::GetMe
            | AccountRoute::UpdateMe
            | AccountRoute::DeleteMe
            | AccountRoute::SecurityEvents
            | AccountRoute::UnlinkGithub
            | AccountRoute::ListScopes
            | AccountRoute::CreateTenant
            | AccountRoute::ListTenants => Quota::Api,
        }
    }
}

/// Who may call an account route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Anyone (sign-up, sign-in, the OAuth redirects).
    Anyone,
    /// A signed-in user with an access token (never an API key).
    User,
}

/// An account route: method, path under `/api/v1`, who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRouteSpec {
    /// Which route.
    pub route: AccountRoute,
    /// HTTP method.
    pub method: &'static str,
    /// Path under `/api/v1`.
    pub path: &'static str,
    /// Who may call it.
    pub caller: Caller,
}

const fn account(
    route: AccountRoute,
    method: &'static str,
    path: &'static str,
    caller: Caller,
) -> AccountRouteSpec {
    AccountRouteSpec {
        route,
        method,
        path,
        caller,
    }
}

/// The table of account routes.
#[rustfmt::skip]
pub const ACCOUNT_ROUTES: &[AccountRouteSpec] = &[
    account(AccountRoute::Signup,           "POST",   "/auth/signup",             Caller::Anyone),
    account(AccountRoute::Login,            "POST",   "/auth/login",              Caller::Anyone),
    account(AccountRoute::Refresh,          "POST",   "/auth/refresh",            Caller::Anyone),
    account(AccountRoute::Logout,           "POST",   "/auth/logout",             Caller::User),
    account(AccountRoute::ListSessions,     "GET",    "/auth/sessions",           Caller::User),
    account(AccountRoute::RevokeSession,    "DELETE", "/auth/sessions/{id}",      Caller::User),
    account(AccountRoute::ChangePassword,   "POST",   "/auth/password",           Caller::User),
    account(AccountRoute::GetMe,            "GET",    "/me",                      Caller::User),
    account(AccountRoute::UpdateMe,         "PATCH",  "/me",                      Caller::User),
    account(AccountRoute::DeleteMe,         "DELETE", "/me",                      Caller::User),
    account(AccountRoute::SecurityEvents,   "GET",    "/me/security-events",      Caller::User),
    account(AccountRoute::UnlinkGithub,     "DELETE", "/me/identities/github",    Caller::User),
    account(AccountRoute::GithubAuthorize,  "GET",    "/auth/github/authorize",   Caller::Anyone),
    account(AccountRoute::GithubCallback,   "GET",    "/auth/github/callback",    Caller::Anyone),
    account(AccountRoute::GithubLink,       "POST",   "/auth/github/link",        Caller::User),
    account(AccountRoute::GithubLinkComplete, "POST", "/auth/github/link/complete", Caller::User),
    account(AccountRoute::OauthExchange,    "POST",   "/auth/oauth/exchange",     Caller::Anyone),
    account(AccountRoute::ListScopes,       "GET",    "/scopes",                  Caller::User),
    account(AccountRoute::AcceptInvitation, "POST",   "/invitations/accept",      Caller::User),
    account(AccountRoute::CreateTenant,     "POST",   "/tenants",                 Caller::User),
    account(AccountRoute::ListTenants,      "GET",    "/tenants",                 Caller::User),
];
