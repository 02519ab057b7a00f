//! The `memberships` and `member_roles` tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::on_backend;
use crate::schema::{member_roles, memberships, tenants, users};
use crate::{lock_writes, DbConn, DbError, TenantId};

/// The name of the role that may do everything, including deleting the tenant.
pub const OWNER: &str = "owner";

/// A member with their account details.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    /// The user.
    pub user_id: String,
    /// Their email.
    pub email: String,
    /// Their display name.
    pub display_name: Option<String>,
    /// When they joined.
    pub joined_at: NaiveDateTime,
}

/// Adds a member with roles; an existing membership is [`DbError::UniqueViolation`].
pub fn insert(
    conn: &mut DbConn,
    tenant: &TenantId,
    user_id: &str,
    roles: &[String],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(memberships::table)
        .values((
            memberships::tenant_id.eq(tenant.as_str()),
            memberships::user_id.eq(user_id),
            memberships::created_at.eq(now),
        ))
        .execute(conn)?;
    set_roles(conn, tenant, user_id, roles)
}

/// The member's role names, or `None` when the user is not a member.
pub fn roles_of(conn: &mut DbConn, tenant: &TenantId, user_id: &str) -> Result<Option<Vec<String>>, DbError> {
    Ok(standing(conn, tenant, user_id)?.map(|standing| standing.roles))
}

/// A member's roles and the tenant's MFA policy, as the authorization of a tenant request needs
/// them (the policy comes with the membership row, in the same statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The roles held, sorted.
    pub roles: Vec<String>,
    /// The tenant's `require_mfa`.
    pub require_mfa: bool,
}

/// The member's [`Standing`]; `None` when not a member. One statement: the membership, its
/// tenant's policy and the member's roles (one row per role).
pub fn standing(conn: &mut DbConn, tenant: &TenantId, user_id: &str) -> Result<Option<Standing>, DbError> {
    let rows: Vec<(bool, Option<String>)> = memberships::table
        .inner_join(tenants::table)
        .left_join(
            member_roles::table.on(member_roles::tenant_id
                .eq(memberships::tenant_id)
                .and(member_roles::user_id.eq(memberships::user_id))),
        )
        .filter(memberships::tenant_id.eq(tenant.as_str()))
        .filter(memberships::user_id.eq(user_id))
        .select((tenants::require_mfa, member_roles::role_name.nullable()))
        .load(conn)?;
    Ok(fold_standing(
        rows.into_iter().map(|(mfa, role)| (Some(mfa), role)),
    ))
}

/// What one statement found about a signed-in caller of a tenant route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStanding {
    /// The session is revoked, or not this user's.
    SessionGone,
    /// The session is live; the user is not a member of the tenant.
    NotMember,
    /// The session is live and the user a member.
    Member(Standing),
}

/// The session check of a tenant request and the caller's [`Standing`] in one statement (one row per
/// role): a revoked session is seen on the very next request, as by
/// [`crate::sessions::is_active`], without a round trip of its own.
pub fn session_standing(conn: &mut DbConn, caller: &SessionCaller<'_>) -> Result<SessionStanding, DbError> {
    let rows: Vec<(Option<bool>, Option<String>)> = on_backend!(conn, |c| {
        session_standing_rows!(caller)
            .select((
                tenants::require_mfa.nullable(),
                member_roles::role_name.nullable(),
            ))
            .load(c)?
    });
    Ok(SessionStanding::of_rows(rows))
}

/// Who asks, in which tenant: a signed-in user's session and the tenant of the path.
#[derive(Debug, Clone, Copy)]
pub struct SessionCaller<'a> {
    /// The session the credentials name.
    pub session_id: &'a str,
    /// The user the credentials name (the session must be theirs).
    pub user_id: &'a str,
    /// The tenant of the path.
    pub tenant: &'a TenantId,
}

/// The rows of [`session_standing`]: the session (when live) joined to the caller's membership of
/// the tenant, the tenant's policy and the member's roles, one row per role; `join` adds a
/// left-joined table, so a handler's one-row read can ride on the same statement (see
/// `projects::find_with_standing`).
macro_rules! session_standing_rows {
    ($caller:expr $(, join $join:expr)?) => {{
        let caller: &$crate::memberships::SessionCaller<'_> = $caller;
        $crate::schema::sessions::table
            .left_join(
                $crate::schema::memberships::table.on($crate::schema::memberships::user_id
                    .eq($crate::schema::sessions::user_id)
                    .and($crate::schema::memberships::tenant_id.eq(caller.tenant.as_str().to_owned()))),
            )
            .left_join(
                $crate::schema::tenants::table
                    .on($crate::schema::tenants::id.eq($crate::schema::memberships::tenant_id)),
            )
            .left_join(
                $crate::schema::member_roles::table.on($crate::schema::member_roles::tenant_id
                    .eq($crate::schema::memberships::tenant_id)
                    .and($crate::schema::member_roles::user_id.eq($crate::schema::memberships::user_id))),
            )
            $(.left_join($join))?
            .filter($crate::schema::sessions::id.eq(caller.session_id.to_owned()))
            .filter($crate::schema::sessions::user_id.eq(caller.user_id.to_owned()))
            .filter($crate::schema::sessions::revoked_at.is_null())
    }};
}
pub(crate) use session_standing_rows;

impl SessionStanding {
    /// From rows of (tenant policy, role) of [`session_standing_rows`]: none means no live session;
    /// no policy means no membership.
    pub(crate) fn of_rows(rows: Vec<(Option<bool>, Option<String>)>) -> SessionStanding {
        if rows.is_empty() {
            return SessionStanding::SessionGone;
        }
        match fold_standing(rows.into_iter()) {
            Some(standing) => SessionStanding::Member(standing),
            None => SessionStanding::NotMember,
        }
    }
}

/// Rows of (tenant policy, role) into a standing; no policy means no membership.
fn fold_standing(rows: impl Iterator<Item = (Option<bool>, Option<String>)>) -> Option<Standing> {
    let mut standing: Option<Standing> = None;
    for (require_mfa, role) in rows {
        let Some(require_mfa) = require_mfa else {
            continue;
        };
        let entry = standing.get_or_insert_with(|| Standing {
            roles: Vec::new(),
            require_mfa,
        });
        entry.roles.extend(role);
    }
    if let Some(standing) = standing.as_mut() {
        standing.roles.sort();
    }
    standing
}

/// Replaces the member's roles.
pub fn set_roles(
    conn: &mut DbConn,
    tenant: &TenantId,
    user_id: &str,
    roles: &[String],
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(
        member_roles::table
            .filter(member_roles::tenant_id.eq(tenant.as_str()))
            .filter(member_roles::user_id.eq(user_id)),
    )
    .execute(conn)?;
    // One statement per role: batch inserts are not available through the multi-backend connection,
    // and a member holds a handful of roles at most.
    for role in roles {
        diesel::insert_into(member_roles::table)
            .values((
                member_roles::tenant_id.eq(tenant.as_str()),
                member_roles::user_id.eq(user_id),
                member_roles::role_name.eq(role),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a member; false when they were not one.
pub fn remove(conn: &mut DbConn, tenant: &TenantId, user_id: &str) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::delete(memberships::table.find((tenant.as_str(), user_id))).execute(conn)?;
    Ok(changed == 1)
}

/// How many members hold `owner`.
pub fn count_owners(conn: &mut DbConn, tenant: &TenantId) -> Result<i64, DbError> {
    Ok(member_roles::table
        .filter(member_roles::tenant_id.eq(tenant.as_str()))
        .filter(member_roles::role_name.eq(OWNER))
        .count()
        .get_result(conn)?)
}

/// Removes a role from every member holding it (when a custom role is deleted).
pub fn strip_role(conn: &mut DbConn, tenant: &TenantId, role: &str) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::delete(
        member_roles::table
            .filter(member_roles::tenant_id.eq(tenant.as_str()))
            .filter(member_roles::role_name.eq(role)),
    )
    .execute(conn)?)
}

/// A page of members with their roles, ordered by user id descending.
pub fn page(
    conn: &mut DbConn,
    tenant: &TenantId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<(Member, Vec<String>)>, DbError> {
    let mut query = memberships::table
        .inner_join(users::table)
        .filter(memberships::tenant_id.eq(tenant.as_str()))
        .order(memberships::user_id.desc())
        .limit(limit)
        .select((
            memberships::user_id,
            users::email,
            users::display_name,
            memberships::created_at,
        ))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(memberships::user_id.lt(before.to_owned()));
    }
    let members: Vec<Member> = query.load(conn)?;
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let held: Vec<(String, String)> = member_roles::table
        .filter(member_roles::tenant_id.eq(tenant.as_str()))
        .filter(member_roles::user_id.eq_any(&ids))
        .select((member_roles::user_id, member_roles::role_name))
        .load(conn)?;
    Ok(members
        .into_iter()
        .map(|member| {
            let mut roles: Vec<String> = held
                .iter()
                .filter(|(u, _)| *u == member.user_id)
                .map(|(_, r)| r.clone())
                .collect();
            roles.sort();
            (member, roles)
        })
        .collect())
}

/// One member with their roles.
pub fn find(conn: &mut DbConn, tenant: &TenantId, user_id: &str) -> Result<(Member, Vec<String>), DbError> {
    let member: Member = memberships::table
        .inner_join(users::table)
        .filter(memberships::tenant_id.eq(tenant.as_str()))
        .filter(memberships::user_id.eq(user_id))
        .select((
            memberships::user_id,
            users::email,
            users::display_name,
            memberships::created_at,
        ))
        .get_result(conn)?;
    let roles = roles_of(conn, tenant, user_id)?.unwrap_or_default();
    Ok((member, roles))
}

/// Every tenant the user belongs to.
pub fn tenants_of(conn: &mut DbConn, user_id: &str) -> Result<Vec<TenantId>, DbError> {
    let ids: Vec<String> = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .select(memberships::tenant_id)
        .load(conn)?;
    Ok(ids.into_iter().map(TenantId::new).collect())
}

/// The tenants where `user_id` is the only owner (such a user may not delete their account). The answer
/// holds only while those tenants are locked ([`crate::tenants::lock_in_order`]); without the locks a
/// co-owner leaving at the same moment makes it stale.
pub fn sole_owner_of(conn: &mut DbConn, user_id: &str) -> Result<Vec<String>, DbError> {
    let owned: Vec<String> = member_roles::table
        .filter(member_roles::user_id.eq(user_id))
        .filter(member_roles::role_name.eq(OWNER))
        .select(member_roles::tenant_id)
        .load(conn)?;
    let mut sole = Vec::new();
    for tenant in owned {
        if count_owners(conn, &TenantId::new(tenant.clone()))? <= 1 {
            sole.push(tenant);
        }
    }
    Ok(sole)
}

/// Every (tenant, role names) the user belongs to, for `/me`.
pub fn roles_by_tenant(conn: &mut DbConn, user_id: &str) -> Result<Vec<(String, String)>, DbError> {
    Ok(member_roles::table
        .filter(member_roles::user_id.eq(user_id))
        .select((member_roles::tenant_id, member_roles::role_name))
        .load(conn)?)
}
