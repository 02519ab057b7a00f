//! The signed-in user's own account: profile, password, deletion, security events.

use actix_web::{web, HttpResponse};
use portcullis_db::{
    memberships, security_events, sessions as session_rows, tenants, users, write_transaction, Pool,
};
use portcullis_web::{
    double_option, respond_page, rfc3339, with_conn, ApiError, ClientInfo, JsonBody, OptionalJson,
    PageRequest,
};
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationErrors};

use super::body::{invalid_credentials, UserBody};
use super::login::{check_password, display_name_schema, new_password_hash, DISPLAY_NAME};
use crate::email_tokens;
use crate::events::{self, action};
use crate::{Auth, Principal};
use portcullis_mail::Notice;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeBody {
    #[serde(flatten)]
    user: UserBody,
    identities: Vec<IdentityBody>,
    tenants: Vec<MembershipBody>,
}

/// A linked external account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityBody {
    provider: String,
    login: String,
    linked_at: String,
}

impl From<portcullis_db::identities::Identity> for IdentityBody {
    fn from(identity: portcullis_db::identities::Identity) -> Self {
        IdentityBody {
            provider: identity.provider,
            login: identity.login,
            linked_at: rfc3339(identity.linked_at),
        }
    }
}

/// A tenant the user belongs to, with their roles there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipBody {
    id: String,
    name: String,
    slug: String,
    roles: Vec<String>,
}

/// GET /me
pub async fn me(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    let (user, tenants, identities) = with_conn(&pool, move |conn| {
        let user = users::find(conn, &principal.user_id)?;
        let held = memberships::roles_by_tenant(conn, &principal.user_id)?;
        let mut bodies = Vec::new();
        for tenant in portcullis_db::tenants::all_for_user(conn, &principal.user_id)? {
            let mut roles: Vec<String> = held
                .iter()
                .filter(|(t, _)| *t == tenant.id)
                .map(|(_, r)| r.clone())
                .collect();
            roles.sort();
            bodies.push(MembershipBody {
                id: tenant.id,
                name: tenant.name,
                slug: tenant.slug,
                roles,
            });
        }
        let identities = portcullis_db::identities::of_user(conn, &principal.user_id)?
            .into_iter()
            .map(IdentityBody::from)
            .collect();
        Ok((user, bodies, identities))
    })
    .await?;
    Ok(HttpResponse::Ok().json(MeBody {
        user: UserBody::from(&user),
        identities,
        tenants,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(required = true, schema_with = display_name_schema)]
    display_name: Option<Option<String>>,
}

impl Validate for UpdateMe {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match &self.display_name {
            None => errors.add(
                "display_name",
                validator::ValidationError::new("required")
                    .with_message("is required (null clears it)".into()),
            ),
            Some(Some(name)) => {
                if let Err(problem) = DISPLAY_NAME.check(name) {
                    errors.add("display_name", problem);
                }
            }
            Some(None) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// PATCH /me
pub async fn update_me(
    principal: Principal,
    pool: web::Data<Pool>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: UpdateMe = body.parse()?;
    let name = body.display_name.flatten().map(|n| n.trim().to_owned());
    let user = with_conn(&pool, move |conn| {
        users::set_display_name(conn, &principal.user_id, name.as_deref(), portcullis_db::now())?;
        Ok(users::find(conn, &principal.user_id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[schema(pattern = "^[^\\u0000]*$")]
    current_password: String,
    #[schema(min_length = 12, max_length = 128, pattern = "^[^\\u0000]*$")]
    new_password: String,
}

/// POST /auth/password
pub async fn change_password(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: ChangePassword = body.parse()?;
    let user_id = principal.user_id.clone();
    let user = with_conn(&pool, move |conn| Ok(users::find(conn, &user_id)?)).await?;
    if user.password_hash.is_none() {
        return Err(ApiError::Conflict {
            code: "no_password",
            detail: "this account signs in only with GitHub".into(),
        });
    }
    // The current password first: it is throttled, and the costly strength estimate and hash are
    // spent only on a caller who knows it.
    check_password(&auth, &pool, &user, body.current_password, &client).await?;
    let hash = new_password_hash(&auth, "new_password", body.new_password, &user).await?;
    let db_auth = auth.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let now = portcullis_db::now();
            users::set_password_hash(conn, &principal.user_id, &hash, now)?;
            session_rows::revoke_all_except(conn, &principal.user_id, Some(&principal.session_id), now)?;
            events::record(conn, &principal.user_id, action::PASSWORD_CHANGED, &client)?;
            email_tokens::revoke_pending_changes(conn, &principal.user_id)?;
            email_tokens::notify(conn, &db_auth, &user, Notice::PasswordChanged)
        })
    })
    .await?;
    auth.mailer.wake();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    #[schema(pattern = "^[^\\u0000]*$")]
    password: Option<String>,
}

/// DELETE /me
pub async fn delete_me(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<DeleteMe>,
) -> Result<HttpResponse, ApiError> {
    let user_id = principal.user_id.clone();
    let user = with_conn(&pool, move |conn| Ok(users::find(conn, &user_id)?)).await?;
    if user.password_hash.is_some() {
        let Some(password) = body.and_then(|b| b.password) else {
            // No password for an account that has one is a failed check, like a wrong one.
            return Err(invalid_credentials());
        };
        check_password(&auth, &pool, &user, password, &client).await?;
    }
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            // The same locks as every other change that can remove an owner (leaving, removal, a
            // change of roles), so the "another owner remains" check below cannot interleave with a
            // co-owner's: the user's row first (no membership can be added meanwhile), then each of
            // their tenants, in id order so two co-owners deleting themselves cannot deadlock.
            users::lock_for_deletion(conn, &principal.user_id)?;
            let tenants = memberships::tenants_of(conn, &principal.user_id)?;
            tenants::lock_in_order(conn, &tenants, portcullis_db::now())?;
            if !memberships::sole_owner_of(conn, &principal.user_id)?.is_empty() {
                return Err(ApiError::Conflict {
                    code: "last_owner",
                    detail:
                        "you are the only owner of a tenant: transfer ownership or delete the tenant first"
                            .into(),
                });
            }
            users::delete(conn, &principal.user_id)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventBody {
    id: String,
    action: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: String,
}

/// GET /me/security-events
pub async fn security_events(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let load = move |conn: &mut portcullis_db::DbConn, after: Option<&str>, n| {
        security_events::page(conn, &principal.user_id, after, n)
    };
    respond_page(
        &pool,
        page,
        load,
        |row| row.id.as_str(),
        |row| EventBody {
            id: row.id,
            action: row.action,
            ip: row.ip,
            user_agent: row.user_agent,
            created_at: rfc3339(row.created_at),
        },
    )
    .await
}
