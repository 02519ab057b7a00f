//! Invitations: create, list, revoke, accept.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Duration;
use portcullis_auth::tokens::{hash_token, random_token};
use portcullis_auth::Principal;
use portcullis_db::invitations::{self, Invitation};
use portcullis_db::{memberships, tenants, users, write_transaction, DbConn, DbError, Pool, TenantId};
use portcullis_web::{parse_email, rfc3339, with_conn, ApiError, ClientInfo, FieldError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

use super::members::ListQuery;
use super::{forbidden, known_roles};
use crate::audit::{self, Actor, Change};
use crate::grants::may_invite;
use crate::{TenantAccess, TenantCall};

const VALID_FOR_DAYS: i64 = 7;

fn roles_of_invitation(invitation: &Invitation) -> Vec<String> {
    invitation.roles.split_whitespace().map(str::to_owned).collect()
}

/// The body of `POST …/invitations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(max_items = 20)]
    roles: Vec<String>,
}

impl Validate for CreateInvitation {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        let mut errors = validator::ValidationErrors::new();
        if let Err(problem) = parse_email(&self.email) {
            errors.add(
                "email",
                validator::ValidationError::new(problem.code).with_message(problem.message.into()),
            );
        }
        if self.roles.len() > 20 {
            errors.add(
                "roles",
                validator::ValidationError::new("too_many").with_message("at most 20 roles".into()),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationBody {
    id: String,
    email: String,
    roles: Vec<String>,
    created_at: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl InvitationBody {
    fn new(invitation: &Invitation, token: Option<String>) -> Self {
        InvitationBody {
            id: invitation.id.clone(),
            email: invitation.email.clone(),
            roles: roles_of_invitation(invitation),
            created_at: rfc3339(invitation.created_at),
            expires_at: rfc3339(invitation.expires_at),
            token,
        }
    }
}

/// POST /tenants/{tid}/invitations
pub async fn create(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let token = random_token();
    let token_hash = hash_token(&token);
    let invitation = call
        .write(&pool, move |conn, access| {
            invite(conn, access, &client, token_hash, &body)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(InvitationBody::new(&invitation, Some(token))))
}

/// Creates an invitation (`POST …/invitations`, and the console's invite form) whose token hashes
/// to `token_hash`: only roles the caller could grant.
pub fn invite(
    conn: &mut DbConn,
    access: &TenantAccess,
    client: &ClientInfo,
    token_hash: String,
    body: &JsonBody,
) -> Result<Invitation, ApiError> {
    let body: CreateInvitation = body.parse()?;
    let tenant = &access.tenant;
    let granted = known_roles(conn, tenant, &body.roles)?;
    // The rule acceptance checks again (see `accept`).
    may_invite(access.authority, granted).map_err(forbidden)?;
    let now = portcullis_db::now();
    // Validated when parsed; the same canonical form as the accounts it is matched against.
    let email = parse_email(&body.email).map_err(|problem| {
        ApiError::Validation(vec![FieldError::new("email", problem.code, problem.message)])
    })?;
    let invitation = Invitation {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        email_normalized: email.normalized,
        email: email.display,
        roles: body.roles.join(" "),
        token_hash,
        created_by: Some(access.user_id.clone()),
        created_at: now,
        expires_at: now + Duration::days(VALID_FOR_DAYS),
        accepted_at: None,
        revoked_at: None,
    };
    invitations::insert(conn, &invitation)?;
    let change = Change {
        action: "invitation.created",
        target_type: "invitation",
        target_id: &invitation.id,
        details: json!({"email": invitation.email, "roles": body.roles}),
    };
    audit::record(conn, tenant, &Actor::from(access), client, change)?;
    Ok(invitation)
}

/// GET /tenants/{tid}/invitations
pub async fn list(
    call: TenantCall,
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, rows) = call
        .read(&pool, move |conn, access| {
            let page = query.page()?;
            let now = portcullis_db::now();
            let rows =
                invitations::page_pending(conn, &access.tenant, now, page.after.as_deref(), page.fetch())?;
            Ok((page, rows))
        })
        .await?;
    Ok(page.respond(rows, |i| i.id.as_str(), |i| InvitationBody::new(&i, None)))
}

/// DELETE /tenants/{tid}/invitations/{id}
pub async fn revoke(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().1;
    let revoke = |conn: &mut DbConn, tenant: &TenantId, id: &str| {
        invitations::revoke(conn, tenant, id, portcullis_db::now())
    };
    audit::remove_audited(
        &pool,
        call,
        client,
        ("invitation.revoked", "invitation"),
        id,
        revoke,
    )
    .await
}

/// The body of `POST /invitations/accept`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    token: String,
}

fn invitation_not_found() -> ApiError {
    ApiError::NotFound {
        code: "invitation_not_found",
        detail: "the invitation is unknown, expired, revoked or used".into(),
    }
}

/// POST /invitations/accept
pub async fn accept(
    principal: Principal,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: AcceptInvitation = body.parse()?;
    let (tenant, roles) = with_conn(&pool, move |conn| {
        accept_invitation(conn, &principal.user_id, &client, &body.token)
    })
    .await?;
    Ok(HttpResponse::Ok().json(tenant_body(&tenant, roles)))
}

/// Accepts an invitation for the signed-in `user_id` (`POST /invitations/accept`, and the page the
/// invitation mail links to): the roles the inviter could still grant, in one write transaction.
pub fn accept_invitation(
    conn: &mut DbConn,
    user_id: &str,
    client: &ClientInfo,
    token: &str,
) -> Result<(portcullis_db::tenants::Tenant, Vec<String>), ApiError> {
    let token_hash = hash_token(token);
    write_transaction(conn, |conn| {
        let now = portcullis_db::now();
        // The user's row before the tenant's: the order an account deletion takes them in.
        let user = users::find_held(conn, user_id)?;
        let invitation =
            invitations::find_usable(conn, &token_hash, now)?.ok_or_else(invitation_not_found)?;
        let tenant = TenantId::new(invitation.tenant_id.clone());
        // The membership lock: the inviter's standing read below cannot change until this commits.
        match tenants::lock(conn, &tenant, now) {
            Err(DbError::NotFound) => return Err(invitation_not_found()),
            other => other?,
        }
        // A custom role deleted since the invitation was sent is not granted.
        let custom = portcullis_db::roles::list(conn, &tenant)?;
        let roles: Vec<String> = roles_of_invitation(&invitation)
            .into_iter()
            .filter(|r| crate::scopes::builtin(r).is_some() || custom.iter().any(|c| &c.name == r))
            .collect();
        // The invitation acts with its inviter's authority, which may have shrunk since it was
        // sent: an invitation its inviter could not send now is as good as revoked.
        if !inviter_still_may_invite(conn, &tenant, invitation.created_by.as_deref(), &roles)? {
            return Err(invitation_not_found());
        }
        if user.email_normalized != invitation.email_normalized {
            return Err(ApiError::Forbidden {
                code: "invitation_email_mismatch",
                detail: "this invitation was sent to another email address".into(),
                required_scope: None,
            });
        }
        if memberships::roles_of(conn, &tenant, &user.id)?.is_some() {
            return Err(ApiError::Conflict {
                code: "already_member",
                detail: "you are already a member of this tenant".into(),
            });
        }
        if !invitations::accept(conn, &invitation.id, now)? {
            return Err(invitation_not_found());
        }
        match memberships::insert(conn, &tenant, &user.id, &roles, now) {
            Err(DbError::UniqueViolation(_)) => {
                return Err(ApiError::Conflict {
                    code: "already_member",
                    detail: "you are already a member of this tenant".into(),
                })
            }
            other => other?,
        }
        let actor = Actor {
            kind: "user",
            id: user.id.clone(),
        };
        let accepted = Change {
            action: "invitation.accepted",
            target_type: "invitation",
            target_id: &invitation.id,
            details: json!({"email": invitation.email}),
        };
        audit::record(conn, &tenant, &actor, client, accepted)?;
        let added = Change {
            action: "member.added",
            target_type: "user",
            target_id: &user.id,
            details: json!({"roles": roles}),
        };
        audit::record(conn, &tenant, &actor, client, added)?;
        Ok((tenants::find(conn, &tenant)?, roles))
    })
}

/// Whether the inviter, as they stand in the tenant now, could still send an invitation granting
/// `roles` (as those roles are defined now): the rule of creation, [`may_invite`], applied to the
/// inviter's current authority. An inviter who left the tenant or deleted their account has none.
fn inviter_still_may_invite(
    conn: &mut DbConn,
    tenant: &TenantId,
    inviter: Option<&str>,
    roles: &[String],
) -> Result<bool, ApiError> {
    let Some(inviter) = inviter else {
        return Ok(false);
    };
    let Some((_, authority)) = crate::resolve(conn, tenant, inviter)? else {
        return Ok(false);
    };
    let granted = crate::authority_of(conn, tenant, roles)?;
    Ok(may_invite(authority, granted).is_ok())
}

/// `Tenant` of API.md: the tenant with the caller's roles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantBody {
    id: String,
    name: String,
    slug: String,
    created_at: String,
    roles: Vec<String>,
    /// Members must sign in with a second factor.
    require_mfa: bool,
}

/// The tenant as the API shows it to a caller holding `roles`.
pub fn tenant_body(tenant: &portcullis_db::tenants::Tenant, roles: Vec<String>) -> TenantBody {
    TenantBody {
        id: tenant.id.clone(),
        name: tenant.name.clone(),
        slug: tenant.slug.clone(),
        created_at: rfc3339(tenant.created_at),
        roles,
        require_mfa: tenant.require_mfa,
    }
}
