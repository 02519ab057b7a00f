//! The admin console: the caller's tenants, and in one tenant its members and their roles,
//! invitations, custom roles, API keys and audit log. Every form calls the operation of its API route
//! through [`TenantCall`], so the console can do exactly what the same person could do over the API.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use portcullis_api::audit_log::{self, AuditQuery};
use portcullis_api::keys::create_key as store_key;
use portcullis_api::projects::create_project as store_project;
use portcullis_api::tenants::{create_tenant as store_tenant, CreateTenant};
use portcullis_auth::api_keys::{display_prefix, generate};
use portcullis_auth::tokens::{hash_token, random_token};
use portcullis_auth::Auth;
use portcullis_db::{api_keys, invitations, memberships, projects, roles, tenants, Pool};
use portcullis_rbac::routes::invitations::{accept_invitation as accept, invite as store_invitation};
use portcullis_rbac::routes::members::set_member_roles;
use portcullis_rbac::routes::roles::create_role as store_role;
use portcullis_rbac::scopes::{builtin_roles, Scope, Scopes};
use portcullis_rbac::{TenantAccess, TenantCall};
use portcullis_web::{rfc3339, with_conn, ApiError, ClientInfo, JsonBody};
use serde::Deserialize;
use serde_json::json;

use crate::account::require;
use crate::browser::{self, csrf_token, SignedIn};
use crate::form::Form;
use crate::render::{explain, message, page, see_other, status_of};
use crate::sign_in::{failed, forged, signed_in_nav, PageNav};

struct TenantRow {
    id: String,
    name: String,
    slug: String,
    roles: String,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    nav: PageNav,
    csrf: String,
    errors: Vec<String>,
    tenants: Vec<TenantRow>,
    name: String,
    slug: String,
}

struct MemberRow {
    user_id: String,
    email: String,
    roles: Vec<String>,
}

struct RoleRow {
    name: String,
    description: String,
    scopes: String,
}

struct KeyRow {
    name: String,
    prefix: String,
    scopes: String,
}

struct ProjectRow {
    name: String,
    description: String,
    created_at: String,
}

struct InvitationRow {
    email: String,
    roles: String,
    expires_at: String,
}

/// What the tenant page shows; each part only when the caller holds the scope that reads it.
#[derive(Template)]
#[template(path = "tenant.html")]
struct TenantPage {
    nav: PageNav,
    csrf: String,
    /// Errors of the form just sent (shown in its section, `errors_at`), and what it made (a key or
    /// an invitation link, shown once).
    errors: Vec<String>,
    errors_at: &'static str,
    notice: Option<(String, String)>,
    tenant_id: String,
    name: String,
    my_roles: String,
    /// Role names the caller may pick from (built-in and custom).
    role_names: Vec<String>,
    /// The scopes the caller holds: the only ones the role and key forms offer.
    held_scopes: Vec<&'static str>,
    members: Option<Vec<MemberRow>>,
    can_manage_members: bool,
    can_invite: bool,
    invitations: Option<Vec<InvitationRow>>,
    roles: Option<Vec<RoleRow>>,
    can_manage_roles: bool,
    keys: Option<Vec<KeyRow>>,
    can_read_audit: bool,
    projects: Option<Vec<ProjectRow>>,
    can_write_projects: bool,
    /// The caller's other tenants, to switch to.
    others: Vec<(String, String)>,
}

struct EventRow {
    at: String,
    action: String,
    actor: String,
    target: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: PageNav,
    tenant_id: String,
    action: String,
    events: Vec<EventRow>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    nav: PageNav,
    csrf: String,
    token: String,
    errors: Vec<String>,
}

/// A console form's operation, run in the tenant transaction by [`tenant_form`].
type Work<T> = Box<dyn FnOnce(&mut portcullis_db::DbConn, &TenantAccess) -> Result<T, ApiError> + Send>;

/// A console form: the request parts every one of them reads.
struct Posted {
    /// The page section of the form, where its errors are shown.
    section: &'static str,
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    tid: String,
    body: web::Bytes,
}

fn holds(access: &TenantAccess, scope: Scope) -> bool {
    access.authority.scopes.contains(scope.bit())
}

/// A console call on behalf of the signed-in browser, needing `scope` in tenant `tid`.
fn call(user: &SignedIn, tid: &str, scope: Scope) -> TenantCall {
    TenantCall::for_browser(tid, &user.user_id, &user.session_id, user.amr.clone(), scope)
}

/// GET /console
pub async fn tenants_page(session: Session, pool: web::Data<Pool>) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    tenants_form(
        &session,
        &pool,
        &user,
        Vec::new(),
        Default::default(),
        StatusCode::OK,
    )
    .await
}

async fn tenants_form(
    session: &Session,
    pool: &Pool,
    user: &SignedIn,
    errors: Vec<String>,
    (name, slug): (String, String),
    status: StatusCode,
) -> HttpResponse {
    let user_id = user.user_id.clone();
    let rows = with_conn(pool, move |conn| {
        let list = tenants::all_for_user(conn, &user_id)?;
        let held = memberships::roles_by_tenant(conn, &user_id)?;
        Ok((list, held))
    })
    .await;
    let (list, held) = match rows {
        Ok(rows) => rows,
        Err(err) => return failed(session, &err),
    };
    let tenants = list
        .into_iter()
        .map(|t| {
            let mut roles: Vec<&str> = held
                .iter()
                .filter(|(tid, _)| *tid == t.id)
                .map(|(_, r)| r.as_str())
                .collect();
            roles.sort_unstable();
            TenantRow {
                roles: roles.join(", "),
                id: t.id,
                name: t.name,
                slug: t.slug,
            }
        })
        .collect();
    page(
        status,
        &TenantsPage {
            nav: signed_in_nav(session),
            csrf: csrf_token(session),
            errors,
            tenants,
            name,
            slug,
        },
    )
}

/// Reads the form and the signed-in browser of a POST, or the response that refuses it.
pub(crate) async fn posted(
    req: &HttpRequest,
    session: &Session,
    auth: &Auth,
    pool: &Pool,
    body: &[u8],
) -> Result<(SignedIn, Form), HttpResponse> {
    let form = Form::parse(body);
    browser::check_form(req, session, &form, auth.public_url()).map_err(|why| forged(session, &why))?;
    let user = require(session, pool).await?;
    Ok((user, form))
}

/// POST /console: a new tenant, owned by the caller.
pub async fn create_tenant(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let (name, slug) = (form.text("name"), form.text("slug"));
    let parsed: Result<CreateTenant, ApiError> =
        JsonBody::from_value(&json!({"name": name, "slug": slug})).parse();
    let user_id = user.user_id.clone();
    let created = match parsed {
        Ok(body) => with_conn(&pool, move |conn| store_tenant(conn, &user_id, &client, body)).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(tenant) => see_other(&format!("/console/{}", tenant.id)),
        Err(err) => {
            tenants_form(
                &session,
                &pool,
                &user,
                explain(&err),
                (name, slug),
                status_of(&err),
            )
            .await
        }
    }
}

/// GET /console/{tid}
pub async fn tenant_page(session: Session, pool: web::Data<Pool>, path: web::Path<String>) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    tenant_view(
        &session,
        &pool,
        &user,
        &path.into_inner(),
        (Vec::new(), ""),
        None,
        StatusCode::OK,
    )
    .await
}

/// The tenant page, after a form or on its own.
async fn tenant_view(
    session: &Session,
    pool: &Pool,
    user: &SignedIn,
    tid: &str,
    (errors, errors_at): (Vec<String>, &'static str),
    notice: Option<(String, String)>,
    status: StatusCode,
) -> HttpResponse {
    let loaded = call(user, tid, Scope::TenantRead)
        .read(pool, move |conn, access| {
            let tenant = tenants::find(conn, &access.tenant)?;
            let custom = if holds(access, Scope::RolesRead) || holds(access, Scope::MembersManage) {
                Some(roles::list(conn, &access.tenant)?)
            } else {
                None
            };
            let members = if holds(access, Scope::MembersRead) {
                Some(memberships::page(conn, &access.tenant, None, 100)?)
            } else {
                None
            };
            let pending = if holds(access, Scope::MembersInvite) {
                Some(invitations::page_pending(
                    conn,
                    &access.tenant,
                    portcullis_db::now(),
                    None,
                    100,
                )?)
            } else {
                None
            };
            let keys = if holds(access, Scope::ApiKeysManage) {
                Some(api_keys::page(conn, &access.tenant, None, 100)?)
            } else {
                None
            };
            let listed = if holds(access, Scope::ProjectsRead) {
                Some(projects::page(conn, &access.tenant, None, None, 100)?)
            } else {
                None
            };
            let others = tenants::all_for_user(conn, &access.user_id)?;
            Ok((
                tenant,
                access.clone(),
                custom,
                members,
                pending,
                (keys, listed, others),
            ))
        })
        .await;
    let (tenant, access, custom, members, pending, (keys, listed, others)) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            return message(
                status_of(&err),
                signed_in_nav(session),
                "Not available",
                &explain(&err).join(" "),
                Some(("/console", "Back to your tenants")),
            )
        }
    };
    let mut role_names: Vec<String> = builtin_roles().iter().map(|(n, _, _)| (*n).to_owned()).collect();
    role_names.extend(custom.iter().flatten().map(|r| r.name.clone()));
    let held = access.authority.scopes;
    let others: Vec<(String, String)> = others
        .into_iter()
        .filter(|t| t.id != tenant.id)
        .map(|t| (t.id, t.name))
        .collect();
    page(
        status,
        &TenantPage {
            nav: signed_in_nav(session),
            csrf: csrf_token(session),
            errors,
            errors_at,
            notice,
            tenant_id: tenant.id,
            name: tenant.name,
            my_roles: access.roles.join(", "),
            role_names,
            held_scopes: held.names(),
            can_manage_members: holds(&access, Scope::MembersManage),
            can_invite: holds(&access, Scope::MembersInvite),
            can_manage_roles: holds(&access, Scope::RolesManage),
            can_read_audit: holds(&access, Scope::AuditRead),
            can_write_projects: holds(&access, Scope::ProjectsWrite),
            projects: listed.map(|rows| {
                rows.into_iter()
                    .map(|p| ProjectRow {
                        name: p.name,
                        description: p.description.unwrap_or_default(),
                        created_at: rfc3339(p.created_at),
                    })
                    .collect()
            }),
            others,
            members: members.map(|rows| {
                rows.into_iter()
                    .map(|(m, roles)| MemberRow {
                        user_id: m.user_id,
                        email: m.email,
                        roles,
                    })
                    .collect()
            }),
            invitations: pending.map(|rows| {
                rows.into_iter()
                    .map(|i| InvitationRow {
                        email: i.email,
                        roles: i.roles.replace(' ', ", "),
                        expires_at: rfc3339(i.expires_at),
                    })
                    .collect()
            }),
            roles: custom.filter(|_| holds(&access, Scope::RolesRead)).map(|rows| {
                rows.into_iter()
                    .map(|r| RoleRow {
                        name: r.name,
                        description: r.description.unwrap_or_default(),
                        scopes: Scopes::from_stored(&r.scopes).names().join(", "),
                    })
                    .collect()
            }),
            keys: keys.map(|rows| {
                rows.into_iter()
                    .map(|k| KeyRow {
                        name: k.name,
                        prefix: k.prefix,
                        scopes: k.scopes.replace(' ', ", "),
                    })
                    .collect()
            }),
        },
    )
}

/// Runs a console form's operation in the tenant of the path; its errors are shown on the tenant
/// page, next to the forms.
async fn tenant_form<T: Send + 'static>(
    posted_form: Posted,
    run: impl FnOnce(SignedIn, Form) -> (TenantCall, bool, Work<T>),
    done: impl FnOnce(T) -> Option<(String, String)>,
) -> HttpResponse {
    let Posted {
        section,
        req,
        session,
        auth,
        pool,
        tid,
        body,
    } = posted_form;
    let (user, form) = match posted(&req, &session, &auth, &pool, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let (tenant_call, locked, work) = run(user.clone(), form);
    let outcome = if locked {
        tenant_call.write_locked(&pool, work).await
    } else {
        tenant_call.write(&pool, work).await
    };
    match outcome {
        Ok(value) => match done(value) {
            // Something to show once: render the page with it rather than redirect.
            Some(notice) => {
                tenant_view(
                    &session,
                    &pool,
                    &user,
                    &tid,
                    (Vec::new(), ""),
                    Some(notice),
                    StatusCode::OK,
                )
                .await
            }
            None => see_other(&format!("/console/{tid}")),
        },
        Err(err) => {
            tenant_view(
                &session,
                &pool,
                &user,
                &tid,
                (explain(&err), section),
                None,
                status_of(&err),
            )
            .await
        }
    }
}

/// POST /console/{tid}/members/{uid}/roles
pub async fn set_roles(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (tid, uid) = path.into_inner();
    let tenant = tid.clone();
    tenant_form(
        Posted {
            section: "members",
            req,
            session,
            auth,
            pool,
            tid,
            body,
        },
        move |user, form| {
            let body = JsonBody::from_value(&json!({"roles": form.all("roles")}));
            (
                call(&user, &tenant, Scope::MembersManage),
                true,
                Box::new(move |conn, access| set_member_roles(conn, access, &client, uid, &body).map(|_| ())),
            )
        },
        |()| None,
    )
    .await
}

/// POST /console/{tid}/invitations: the link to send is shown once.
pub async fn invite(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tid = path.into_inner();
    let tenant = tid.clone();
    let token = random_token();
    let link = format!("{}/invitation?token={token}", auth.public_url());
    tenant_form(
        Posted {
            section: "invite",
            req,
            session,
            auth,
            pool,
            tid,
            body,
        },
        move |user, form| {
            let body =
                JsonBody::from_value(&json!({"email": form.text("email"), "roles": form.all("roles")}));
            let token_hash = hash_token(&token);
            (
                call(&user, &tenant, Scope::MembersInvite),
                false,
                Box::new(move |conn, access| store_invitation(conn, access, &client, token_hash, &body)),
            )
        },
        move |invitation| {
            Some((
                format!("Invitation for {}: send this link (shown once)", invitation.email),
                link,
            ))
        },
    )
    .await
}

/// POST /console/{tid}/roles: a custom role from the scope checklist.
pub async fn create_role(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tid = path.into_inner();
    let tenant = tid.clone();
    tenant_form(
        Posted {
            section: "roles",
            req,
            session,
            auth,
            pool,
            tid,
            body,
        },
        move |user, form| {
            let mut fields = json!({"name": form.text("name"), "scopes": form.all("scopes")});
            if let Some(description) = form.optional("description") {
                fields["description"] = json!(description);
            }
            let body = JsonBody::from_value(&fields);
            (
                call(&user, &tenant, Scope::RolesManage),
                true,
                Box::new(move |conn, access| store_role(conn, access, &client, &body).map(|_| ())),
            )
        },
        |()| None,
    )
    .await
}

/// POST /console/{tid}/api-keys: the secret is shown once.
pub async fn create_key(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tid = path.into_inner();
    let tenant = tid.clone();
    let key = generate();
    let stored = (display_prefix(&key), hash_token(&key));
    tenant_form(
        Posted {
            section: "keys",
            req,
            session,
            auth,
            pool,
            tid,
            body,
        },
        move |user, form| {
            let body =
                JsonBody::from_value(&json!({"name": form.text("name"), "scopes": form.all("scopes")}));
            (
                call(&user, &tenant, Scope::ApiKeysManage),
                false,
                Box::new(move |conn, access| store_key(conn, access, &client, stored, &body)),
            )
        },
        move |created| {
            Some((
                format!("API key {}: copy it now, it is not shown again", created.name),
                key,
            ))
        },
    )
    .await
}

/// POST /console/{tid}/projects
pub async fn create_project(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tid = path.into_inner();
    let tenant = tid.clone();
    tenant_form(
        Posted {
            section: "projects",
            req,
            session,
            auth,
            pool,
            tid,
            body,
        },
        move |user, form| {
            let mut fields = json!({"name": form.text("name")});
            if let Some(description) = form.optional("description") {
                fields["description"] = json!(description);
            }
            let body = JsonBody::from_value(&fields);
            (
                call(&user, &tenant, Scope::ProjectsWrite),
                false,
                Box::new(move |conn, access| store_project(conn, access, &client, &body).map(|_| ())),
            )
        },
        |()| None,
    )
    .await
}

/// GET /console/{tid}/audit?action=…&cursor=…
pub async fn audit_page(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let tid = path.into_inner();
    let action = query.action().unwrap_or_default().to_owned();
    let query = query.into_inner();
    let loaded = call(&user, &tid, Scope::AuditRead)
        .read(&pool, move |conn, access| {
            audit_log::page_of(conn, access, &query)
        })
        .await;
    let (request, mut rows) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            return message(
                status_of(&err),
                signed_in_nav(&session),
                "Not available",
                &explain(&err).join(" "),
                Some((&format!("/console/{tid}"), "Back to the tenant")),
            )
        }
    };
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|e| e.id.replace('-', "")).unwrap_or_default()
    });
    page(
        StatusCode::OK,
        &AuditPage {
            nav: signed_in_nav(&session),
            tenant_id: tid,
            action,
            next,
            events: rows
                .into_iter()
                .map(|e| EventRow {
                    at: rfc3339(e.created_at),
                    actor: format!("{} {}", e.actor_type, e.actor_id),
                    target: format!("{} {}", e.target_type, e.target_id),
                    action: e.action,
                })
                .collect(),
        },
    )
}

/// `?token=…` of an invitation link.
#[derive(Debug, Deserialize)]
pub struct InvitationQuery {
    token: Option<String>,
}

/// GET /invitation?token=…: the invited person confirms (signed in as the invited address).
pub async fn invitation_page(
    session: Session,
    pool: web::Data<Pool>,
    query: web::Query<InvitationQuery>,
) -> HttpResponse {
    let token = query.token.clone().unwrap_or_default();
    match browser::signed_in(&session, &pool).await {
        Ok(Some(_)) => {}
        // Signed out: sign in (or sign up) first, then come back to this invitation.
        Ok(None) => {
            let here = format!("/invitation?token={}", url_encoded(&token));
            return see_other(&format!("/login?next={}", url_encoded(&here)));
        }
        Err(err) => return failed(&session, &err),
    }
    page(
        StatusCode::OK,
        &InvitationPage {
            nav: signed_in_nav(&session),
            csrf: csrf_token(&session),
            token,
            errors: Vec::new(),
        },
    )
}

fn url_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// POST /invitation
pub async fn accept_invitation(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let token = form.text("token");
    let presented = token.clone();
    let accepted = with_conn(&pool, move |conn| {
        accept(conn, &user.user_id, &client, &presented)
    })
    .await;
    match accepted {
        Ok((tenant, _)) => see_other(&format!("/console/{}", tenant.id)),
        Err(err) => page(
            status_of(&err),
            &InvitationPage {
                nav: signed_in_nav(&session),
                csrf: csrf_token(&session),
                token,
                errors: explain(&err),
            },
        ),
    }
}
