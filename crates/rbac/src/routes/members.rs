//! Members of a tenant.

use actix_web::{web, HttpResponse};
use portcullis_db::memberships::{self, Member};
use portcullis_db::{DbConn, Pool};
use portcullis_web::{path_id, rfc3339, ApiError, ClientInfo, JsonBody, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

use super::{forbidden, known_roles};
use crate::audit::{self, Actor, Change};
use crate::grants::{may_act_on, may_change_roles};
use crate::{TenantAccess, TenantCall};

/// `?limit&cursor` of tenant lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

impl ListQuery {
    /// The validated page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        PageRequest::parse(self.limit, self.cursor.as_deref())
    }
}

/// A member as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberBody {
    user_id: String,
    email: String,
    display_name: Option<String>,
    roles: Vec<String>,
    joined_at: String,
}

impl MemberBody {
    fn new(member: Member, roles: Vec<String>) -> Self {
        MemberBody {
            user_id: member.user_id,
            email: member.email,
            display_name: member.display_name,
            roles,
            joined_at: rfc3339(member.joined_at),
        }
    }
}

fn last_owner() -> ApiError {
    ApiError::Conflict {
        code: "last_owner",
        detail: "a tenant must keep at least one owner".into(),
    }
}

/// GET /tenants/{tid}/members
pub async fn list(
    call: TenantCall,
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, rows) = call
        .read(&pool, move |conn, access| {
            let page = query.page()?;
            let rows = memberships::page(conn, &access.tenant, page.after.as_deref(), page.fetch())?;
            Ok((page, rows))
        })
        .await?;
    Ok(page.respond(rows, |(m, _)| m.user_id.as_str(), |(m, r)| MemberBody::new(m, r)))
}

/// The body of `PUT …/roles`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    #[validate(length(max = 20, code = "too_many", message = "at most 20 roles"))]
    #[schema(max_items = 20)]
    roles: Vec<String>,
}

/// PUT /tenants/{tid}/members/{uid}/roles
pub async fn set_roles(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner().1;
    let member = call
        .write_locked(&pool, move |conn, access| {
            set_member_roles(conn, access, &client, user_id, &body)
        })
        .await?;
    Ok(HttpResponse::Ok().json(MemberBody::new(member.0, member.1)))
}

/// Replaces a member's roles (`PUT …/members/{uid}/roles`, and the console's role form): no role the
/// caller could not grant, no change to a member who outranks the caller, never the last owner.
pub fn set_member_roles(
    conn: &mut DbConn,
    access: &TenantAccess,
    client: &ClientInfo,
    user_id: String,
    body: &JsonBody,
) -> Result<(Member, Vec<String>), ApiError> {
    let body: SetRoles = body.parse()?;
    let user_id = path_id(user_id)?;
    let tenant = &access.tenant;
    let granted = known_roles(conn, tenant, &body.roles)?;
    // The member row (for the answer) and the roles before, read once.
    let (member, before) = memberships::find(conn, tenant, &user_id)?;
    let from = crate::authority_of(conn, tenant, &before)?;
    may_change_roles(access.authority, from, granted).map_err(forbidden)?;
    memberships::set_roles(conn, tenant, &user_id, &body.roles)?;
    if memberships::count_owners(conn, tenant)? == 0 {
        return Err(last_owner());
    }
    let change = Change {
        action: "member.roles_changed",
        target_type: "user",
        target_id: &user_id,
        details: json!({"from": before, "to": body.roles}),
    };
    audit::record(conn, tenant, &Actor::from(access), client, change)?;
    let mut roles = body.roles;
    roles.sort();
    Ok((member, roles))
}

/// DELETE /tenants/{tid}/members/{uid}
pub async fn remove(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    call.write_locked(&pool, move |conn, access| {
        let user_id = path_id(path.into_inner().1)?;
        let tenant = &access.tenant;
        let held = memberships::roles_of(conn, tenant, &user_id)?.ok_or_else(ApiError::not_found)?;
        if user_id != access.user_id {
            let target = crate::authority_of(conn, tenant, &held)?;
            may_act_on(access.authority, target).map_err(forbidden)?;
        }
        memberships::remove(conn, tenant, &user_id)?;
        if memberships::count_owners(conn, tenant)? == 0 {
            return Err(last_owner());
        }
        let change = Change {
            action: "member.removed",
            target_type: "user",
            target_id: &user_id,
            details: json!({"roles": held}),
        };
        audit::record(conn, tenant, &Actor::from(access), &client, change)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
