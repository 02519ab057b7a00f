//! The `invitations` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::invitations;
use crate::{lock_writes, DbConn, DbError, TenantId};

/// A stored invitation.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    /// UUID v7.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// As typed.
    pub email: String,
    /// Lower-cased.
    pub email_normalized: String,
    /// Space-separated role names.
    pub roles: String,
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Who invited.
    pub created_by: Option<String>,
    /// When.
    pub created_at: NaiveDateTime,
    /// Seven days later.
    pub expires_at: NaiveDateTime,
    /// When accepted.
    pub accepted_at: Option<NaiveDateTime>,
    /// When revoked.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Stores an invitation.
pub fn insert(conn: &mut DbConn, invitation: &Invitation) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(invitations::table)
        .values(invitation)
        .execute(conn)?;
    Ok(())
}

/// A page of the tenant's pending invitations, newest first.
pub fn page_pending(
    conn: &mut DbConn,
    tenant: &TenantId,
    now: NaiveDateTime,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Invitation>, DbError> {
    let mut query = invitations::table
        .filter(invitations::tenant_id.eq(tenant.as_str()))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .order(invitations::id.desc())
        .limit(limit)
        .select(Invitation::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(invitations::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Revokes a pending invitation of the tenant; false when there is none by that id.
pub fn revoke(conn: &mut DbConn, tenant: &TenantId, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::tenant_id.eq(tenant.as_str()))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The usable invitation with this token hash: not accepted, not revoked, not expired.
pub fn find_usable(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<Invitation>, DbError> {
    Ok(invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .select(Invitation::as_select())
        .get_result(conn)
        .optional()?)
}

/// Marks the invitation used; false when another request used it first.
pub fn accept(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::accepted_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}
