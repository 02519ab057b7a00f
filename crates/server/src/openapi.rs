//! The OpenAPI 3.1 document, generated from the route tables the router is built from
//! (`portcullis_rbac::table`) and the `ToSchema` derives of the request and response bodies. Every
//! route gets its success response and every error status it can answer, as problem+json.

use portcullis_api::audit_log::AuditEventBody;
use portcullis_api::keys::{CreateKey, KeyBody};
use portcullis_api::projects::{CreateProject, ProjectBody, UpdateProject};
use portcullis_api::tenants::{CreateTenant, UpdateTenant};
use portcullis_auth::routes::account::{ChangePassword, DeleteMe, EventBody, MeBody, UpdateMe};
use portcullis_auth::routes::github::{AuthorizeUrl, CompleteLink, Exchange, LinkedIdentities};
use portcullis_auth::routes::login::{LoginRequest, SignupRequest};
use portcullis_auth::routes::session_routes::{RefreshRequest, SessionList};
use portcullis_auth::routes::{TokenResponse, UserBody};
use portcullis_rbac::routes::invitations::{AcceptInvitation, CreateInvitation, InvitationBody, TenantBody};
use portcullis_rbac::routes::members::{MemberBody, SetRoles};
use portcullis_rbac::routes::roles::{CreateRole, RoleBody, RoleList, UpdateRole};
use portcullis_rbac::routes::ScopeList;
use portcullis_rbac::table::{AccountRoute, Caller, Route, ACCOUNT_ROUTES, TENANT_ROUTES};
use portcullis_web::{Page, Problem, CURSOR_PATTERN};
use serde_json::json;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Paths, Ref,
    RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::ToSchema;

/// Collects the component schemas while operations refer to them.
#[derive(Default)]
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, registering it (and what it refers to).
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        T::schemas(&mut self.0);
        self.0.push((T::name().into_owned(), T::schema()));
        RefOr::Ref(Ref::from_schema_name(T::name()))
    }

    /// A page of `T` written inline (generic pages), with `T` registered.
    fn page<T: ToSchema>(&mut self) -> RefOr<Schema>
    where
        Page<T>: ToSchema,
    {
        self.of::<T>();
        <Page<T> as ToSchema>::schemas(&mut self.0);
        <Page<T> as utoipa::PartialSchema>::schema()
    }
}

/// What the document says about one operation.
struct Op {
    summary: &'static str,
    tag: &'static str,
    body: Option<RefOr<Schema>>,
    ok: u16,
    ok_body: Option<RefOr<Schema>>,
    errors: &'static [u16],
    query: &'static [(&'static str, Type, &'static str)],
}

const LIST_QUERY: &[(&str, Type, &str)] = &[
    ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
    ("cursor", Type::String, "next_cursor of the previous page"),
];

fn op(summary: &'static str, tag: &'static str, ok: u16) -> Op {
    Op {
        summary,
        tag,
        body: None,
        ok,
        ok_body: None,
        errors: &[],
        query: &[],
    }
}

impl Op {
    fn body(mut self, body: RefOr<Schema>) -> Self {
        self.body = Some(body);
        self
    }
    fn returns(mut self, body: RefOr<Schema>) -> Self {
        self.ok_body = Some(body);
        self
    }
    fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    fn query(mut self, query: &'static [(&'static str, Type, &'static str)]) -> Self {
        self.query = query;
        self
    }
}

fn account_op(route: AccountRoute, s: &mut Schemas) -> Op {
    match route {
        AccountRoute::Signup => op("Sign up with email and password", "identity", 201)
            .body(s.of::<SignupRequest>())
            .returns(s.of::<TokenResponse>())
            .errors(&[409]),
        AccountRoute::Login => op("Sign in with email and password", "identity", 200)
            .body(s.of::<LoginRequest>())
            .returns(s.of::<TokenResponse>())
            .errors(&[401]),
        AccountRoute::Refresh => op("Rotate a refresh token", "identity", 200)
            .body(s.of::<RefreshRequest>())
            .returns(s.of::<TokenResponse>())
            .errors(&[401]),
        AccountRoute::Logout => op("Sign out: revoke the current session", "identity", 204),
        AccountRoute::ListSessions => {
            op("The caller's live sessions", "identity", 200).returns(s.of::<SessionList>())
        }
        AccountRoute::RevokeSession => {
            op("Revoke one of the caller's sessions", "identity", 204).errors(&[404])
        }
        AccountRoute::ChangePassword => {
            op("Change the password; other sessions are revoked", "identity", 204)
                .body(s.of::<ChangePassword>())
                .errors(&[409])
        }
        AccountRoute::GetMe => {
            op("The caller, their identities and tenants", "identity", 200).returns(s.of::<MeBody>())
        }
        AccountRoute::UpdateMe => op("Change the display name", "identity", 200)
            .body(s.of::<UpdateMe>())
            .returns(s.of::<UserBody>()),
        AccountRoute::DeleteMe => op(
            "Delete the account (password required when it has one)",
            "identity",
            204,
        )
        .body(s.of::<DeleteMe>())
        .errors(&[409]),
        AccountRoute::SecurityEvents => op("The caller's security events, newest first", "identity", 200)
            .returns(s.page::<EventBody>())
            .query(LIST_QUERY),
        AccountRoute::UnlinkGithub => op("Unlink GitHub", "github", 204).errors(&[404, 409]),
        AccountRoute::GithubAuthorize => op("Start GitHub sign-in (redirects to GitHub)", "github", 302)
            .errors(&[400, 404, 422])
            .query(&[
                (
                    "redirect_uri",
                    Type::String,
                    "an entry of OAUTH_REDIRECT_ALLOWLIST",
                ),
                (
                    "code_challenge",
                    Type::String,
                    "BASE64URL(SHA256(code_verifier)) of a verifier of 43 to 128 characters that the \
                     application keeps for POST /auth/oauth/exchange; required for a sign-in (422 \
                     without it), not for the URL of POST /auth/github/link",
                ),
                (
                    "code_challenge_method",
                    Type::String,
                    "S256 (the only method; required with code_challenge)",
                ),
                (
                    "link_ticket",
                    Type::String,
                    "set in the authorize_url of POST /auth/github/link",
                ),
            ]),
        AccountRoute::GithubCallback => op(
            "GitHub's redirect back (redirects to redirect_uri)",
            "github",
            302,
        )
        .errors(&[400, 404])
        .query(&[
            ("code", Type::String, "authorization code"),
            ("state", Type::String, "the flow's state"),
            ("error", Type::String, "set by GitHub on refusal"),
        ]),
        AccountRoute::GithubLink => op(
            "Start linking GitHub to the caller's account (the flow ends at redirect_uri?link_code=…)",
            "github",
            200,
        )
        .returns(s.of::<AuthorizeUrl>())
        .errors(&[400, 404])
        .query(&[(
            "redirect_uri",
            Type::String,
            "an entry of OAUTH_REDIRECT_ALLOWLIST",
        )]),
        AccountRoute::GithubLinkComplete => op(
            "Link the GitHub account of a finished link flow; only its starting user may (403 \
             link_user_mismatch otherwise, and the code is spent)",
            "github",
            200,
        )
        .body(s.of::<CompleteLink>())
        .returns(s.of::<LinkedIdentities>())
        .errors(&[400, 403, 404, 409]),
        AccountRoute::OauthExchange => op(
            "Exchange a login code and the application's code_verifier for tokens (any attempt spends \
             the code)",
            "github",
            200,
        )
        .body(s.of::<Exchange>())
        .returns(s.of::<TokenResponse>())
        .errors(&[401]),
        AccountRoute::ListScopes => op("The scope catalog", "tenants", 200).returns(s.of::<ScopeList>()),
        AccountRoute::AcceptInvitation => op("Accept an invitation", "members", 200)
            .body(s.of::<AcceptInvitation>())
            .returns(s.of::<TenantBody>())
            .errors(&[404, 409]),
        AccountRoute::CreateTenant => op("Create a tenant (the caller becomes its owner)", "tenants", 201)
            .body(s.of::<CreateTenant>())
            .returns(s.of::<TenantBody>())
            .errors(&[409]),
        AccountRoute::ListTenants => op("The caller's tenants", "tenants", 200)
            .returns(s.page::<TenantBody>())
            .query(LIST_QUERY),
    }
}

fn tenant_op(route: Route, s: &mut Schemas) -> Op {
    match route {
        Route::GetTenant => op("Read the tenant", "tenants", 200).returns(s.of::<TenantBody>()),
        Route::UpdateTenant => op("Rename the tenant", "tenants", 200)
            .body(s.of::<UpdateTenant>())
            .returns(s.of::<TenantBody>()),
        Route::DeleteTenant => op("Delete the tenant and all its rows", "tenants", 204),
        Route::ListMembers => op("List members", "members", 200)
            .returns(s.page::<MemberBody>())
            .query(LIST_QUERY),
        Route::SetMemberRoles => op("Replace a member's roles", "members", 200)
            .body(s.of::<SetRoles>())
            .returns(s.of::<MemberBody>())
            .errors(&[409]),
        Route::RemoveMember => op("Remove a member (or leave)", "members", 204).errors(&[409]),
        Route::CreateInvitation => op("Invite someone (the token is shown once)", "members", 201)
            .body(s.of::<CreateInvitation>())
            .returns(s.of::<InvitationBody>()),
        Route::ListInvitations => op("Pending invitations", "members", 200)
            .returns(s.page::<InvitationBody>())
            .query(LIST_QUERY),
        Route::RevokeInvitation => op("Revoke an invitation", "members", 204),
        Route::ListRoles => op("Built-in and custom roles", "roles", 200).returns(s.of::<RoleList>()),
        Route::CreateRole => op("Create a custom role", "roles", 201)
            .body(s.of::<CreateRole>())
            .returns(s.of::<RoleBody>())
            .errors(&[409]),
        Route::UpdateRole => op("Change a custom role", "roles", 200)
            .body(s.of::<UpdateRole>())
            .returns(s.of::<RoleBody>())
            .errors(&[409]),
        Route::DeleteRole => op("Delete a custom role", "roles", 204).errors(&[409]),
        Route::ListProjects => op("List projects", "projects", 200)
            .returns(s.page::<ProjectBody>())
            .query(&[
                ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
                ("cursor", Type::String, "next_cursor of the previous page"),
                ("q", Type::String, "case-insensitive substring of the name"),
            ]),
        Route::CreateProject => op("Create a project", "projects", 201)
            .body(s.of::<CreateProject>())
            .returns(s.of::<ProjectBody>()),
        Route::GetProject => op("Read a project", "projects", 200).returns(s.of::<ProjectBody>()),
        Route::UpdateProject => op("Change a project (If-Match optional)", "projects", 200)
            .body(s.of::<UpdateProject>())
            .returns(s.of::<ProjectBody>())
            .errors(&[412]),
        Route::DeleteProject => op("Delete a project", "projects", 204),
        Route::CreateApiKey => op("Create an API key (shown once)", "api-keys", 201)
            .body(s.of::<CreateKey>())
            .returns(s.of::<KeyBody>()),
        Route::ListApiKeys => op("List API keys", "api-keys", 200)
            .returns(s.page::<KeyBody>())
            .query(LIST_QUERY),
        Route::RevokeApiKey => op("Revoke an API key", "api-keys", 204),
        Route::ListAuditEvents => op("The audit log, newest first", "audit", 200)
            .returns(s.page::<AuditEventBody>())
            .query(&[
                ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
                ("cursor", Type::String, "next_cursor of the previous page"),
                (
                    "action",
                    Type::String,
                    "only this action, such as project.created",
                ),
            ]),
    }
}

fn reason(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Response")
}

fn method(name: &str) -> HttpMethod {
    match name {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// Links from a creating operation to the operations that use what it created, so schemathesis's
/// stateful phase works on real tenants, projects, roles, invitations and keys instead of random ids.
fn links(method: &str, path: &str) -> Vec<(String, Link)> {
    if method != "POST" {
        return Vec::new();
    }
    let id_field = if path.ends_with("/roles") { "name" } else { "id" };
    let mut found = Vec::new();
    for entry in TENANT_ROUTES {
        let link = if path == "/tenants" {
            // A new tenant: every operation that needs only its id.
            (entry.path.matches('{').count() == 1).then(|| {
                LinkBuilder::new()
                    .operation_id(format!("{:?}", entry.route))
                    .parameter("tid", "$response.body#/id")
            })
        } else {
            // A new child resource: the operations on it, in the same tenant.
            let child = entry
                .path
                .strip_prefix(path)
                .and_then(|rest| rest.strip_prefix("/{"))
                .and_then(|rest| rest.strip_suffix('}'));
            child.map(|param| {
                LinkBuilder::new()
                    .operation_id(format!("{:?}", entry.route))
                    .parameter("tid", "$request.path.tid")
                    .parameter(param, format!("$response.body#/{id_field}"))
            })
        };
        if let Some(link) = link {
            found.push((format!("{:?}", entry.route), link.build()));
        }
    }
    found
}

/// Builds one operation: parameters, body, success and every error status.
fn operation(
    id: String,
    path: &str,
    authenticated: bool,
    tenant: bool,
    op: Op,
    links: Vec<(String, Link)>,
) -> Operation {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(op.summary))
        .tag(op.tag);
    for name in path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64));
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    for (name, kind, description) in op.query {
        let schema = ObjectBuilder::new().schema_type(kind.clone());
        // The server's own rules for each parameter, so generated requests know what is valid.
        let schema = match *name {
            "limit" => schema.minimum(Some(1)).maximum(Some(100)),
            "cursor" => schema.pattern(Some(CURSOR_PATTERN)),
            "q" => schema.max_length(Some(200)),
            "action" => schema.pattern(Some("^[a-z._]{1,64}$")),
            "code_challenge" => schema.pattern(Some("^[A-Za-z0-9_-]{43}$")),
            "code_challenge_method" => schema.pattern(Some("^S256$")),
            _ => schema,
        };
        let required = if *name == "redirect_uri" {
            Required::True
        } else {
            Required::False
        };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(required)
                .description(Some(*description))
                .schema(Some(schema)),
        );
    }
    let has_body = op.body.is_some();
    if let Some(body) = op.body {
        let content = ContentBuilder::new().schema(Some(body)).build();
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", content)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let success = match (op.ok, op.ok_body) {
        (302, _) => ResponseBuilder::new().description("Redirect; see Location"),
        (status, Some(body)) => ResponseBuilder::new().description(reason(status)).content(
            "application/json",
            ContentBuilder::new().schema(Some(body)).build(),
        ),
        (status, None) => ResponseBuilder::new().description(reason(status)),
    };
    let success = links
        .into_iter()
        .fold(success, |response, (name, link)| response.link(name, link));
    builder = builder.response(op.ok.to_string(), success.build());
    let mut errors: Vec<u16> = vec![429, 503];
    if has_body {
        errors.extend([400, 413, 415, 422]);
    }
    if !op.query.is_empty() || path.contains('{') {
        errors.push(422);
    }
    if authenticated {
        errors.extend([401, 403]);
    }
    if tenant || path.contains('{') {
        errors.push(404);
    }
    errors.extend(op.errors);
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let problem = ContentBuilder::new()
            .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
            .build();
        builder = builder.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(reason(status))
                .content("application/problem+json", problem)
                .build(),
        );
    }
    if authenticated {
        builder = builder.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    builder.build()
}

fn plain_json(description: &str, example: serde_json::Value) -> ResponseBuilder {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("status", ObjectBuilder::new().schema_type(Type::String))
        .required("status");
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(schema))
            .example(Some(example))
            .build(),
    )
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    for entry in ACCOUNT_ROUTES {
        let op = account_op(entry.route, &mut schemas);
        let authenticated = entry.caller == Caller::User;
        let id = format!("{:?}", entry.route);
        let links = links(entry.method, entry.path);
        paths.add_path_operation(
            format!("/api/v1{}", entry.path),
            vec![method(entry.method)],
            operation(id, entry.path, authenticated, false, op, links),
        );
    }
    for entry in TENANT_ROUTES {
        let op = tenant_op(entry.route, &mut schemas);
        let id = format!("{:?}", entry.route);
        let mut operation = operation(id, entry.path, true, true, op, links(entry.method, entry.path));
        operation.description = Some(format!("Needs the `{}` scope.", entry.scope));
        paths.add_path_operation(
            format!("/api/v1{}", entry.path),
            vec![method(entry.method)],
            operation,
        );
    }
    let health = OperationBuilder::new()
        .operation_id(Some("Healthz"))
        .summary(Some("Liveness"))
        .tag("health")
        .response(
            "200",
            plain_json("The process serves", json!({"status": "ok"})).build(),
        )
        .build();
    let ready = OperationBuilder::new()
        .operation_id(Some("Readyz"))
        .summary(Some("Readiness: the database answers"))
        .tag("health")
        .response("200", plain_json("Ready", json!({"status": "ready"})).build())
        .response(
            "503",
            plain_json("The database does not answer", json!({"status": "unavailable"})).build(),
        )
        .build();
    let document = OperationBuilder::new()
        .operation_id(Some("OpenApi"))
        .summary(Some("This document"))
        .tag("health")
        .response(
            "200",
            ResponseBuilder::new()
                .description("OpenAPI 3.1")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
                .build(),
        )
        .build();
    let docs = OperationBuilder::new()
        .operation_id(Some("Docs"))
        .summary(Some("Interactive documentation (Swagger UI)"))
        .tag("health")
        .response(
            "200",
            ResponseBuilder::new()
                .description("HTML page")
                .content(
                    "text/html",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build(),
        )
        .build();
    paths.add_path_operation("/healthz", vec![HttpMethod::Get], health);
    paths.add_path_operation("/readyz", vec![HttpMethod::Get], ready);
    paths.add_path_operation("/openapi.json", vec![HttpMethod::Get], document);
    paths.add_path_operation("/docs", vec![HttpMethod::Get], docs);

    schemas.of::<Problem>();
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT access token, or an API key (pcs_…)")
                .build(),
        ),
    );
    let mut seen = std::collections::HashSet::new();
    for (name, schema) in schemas.0 {
        if seen.insert(name.clone()) {
            components = components.schema(name, schema);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Portcullis")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Multi-tenant SaaS backend with a complete auth service. Errors are RFC 9457 problem \
                     documents. A JSON body must name each key of an object once: a repeated key is \
                     refused with 422 `validation_failed` (field error `duplicate_key`). An id in a path \
                     that is not a UUID (or a role name the role-name pattern refuses) is answered 404 \
                     `not_found`, exactly like an id that does not exist.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
