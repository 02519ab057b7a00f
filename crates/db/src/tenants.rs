//! The `tenants` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{memberships, tenants};
use crate::{lock_writes, DbConn, DbError, TenantId};

/// A stored organisation.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    /// UUID v7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unique, URL-safe.
    pub slug: String,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// Members must have signed in with a second factor.
    pub require_mfa: bool,
}

/// Stores a tenant; a taken slug is [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, tenant: &Tenant) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(tenants::table).values(tenant).execute(conn)?;
    Ok(())
}

/// The tenant.
pub fn find(conn: &mut DbConn, tenant: &TenantId) -> Result<Tenant, DbError> {
    Ok(tenants::table
        .find(tenant.as_str())
        .select(Tenant::as_select())
        .get_result(conn)?)
}

/// Renames the tenant.
pub fn rename(conn: &mut DbConn, tenant: &TenantId, name: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(tenants::table.find(tenant.as_str()))
        .set((tenants::name.eq(name), tenants::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Sets the tenant's MFA policy.
pub fn set_require_mfa(
    conn: &mut DbConn,
    tenant: &TenantId,
    require: bool,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(tenants::table.find(tenant.as_str()))
        .set((tenants::require_mfa.eq(require), tenants::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Takes the tenant's row lock for the rest of the transaction (PostgreSQL row lock; SQLite's write
/// transaction already excludes other writers). Membership changes take it first, so "is there still
/// another owner" checks cannot interleave.
pub fn lock(conn: &mut DbConn, tenant: &TenantId, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(tenants::table.find(tenant.as_str()))
        .set(tenants::updated_at.eq(now))
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Takes the row locks of several tenants, always in id order, so two transactions locking
/// overlapping sets (two co-owners deleting their accounts at once) wait for each other instead of
/// deadlocking. A tenant that no longer exists is skipped: there is nothing left to protect in it.
pub fn lock_in_order(conn: &mut DbConn, tenants: &[TenantId], now: NaiveDateTime) -> Result<(), DbError> {
    let mut ordered: Vec<&TenantId> = tenants.iter().collect();
    ordered.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ordered.dedup();
    for tenant in ordered {
        match lock(conn, tenant, now) {
            Ok(()) | Err(DbError::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Deletes the tenant; every tenant-owned row goes with it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConn, tenant: &TenantId) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::delete(tenants::table.find(tenant.as_str())).execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Every tenant the user belongs to, newest first, in one query.
pub fn all_for_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<Tenant>, DbError> {
    Ok(tenants::table
        .inner_join(memberships::table)
        .filter(memberships::user_id.eq(user_id))
        .order(tenants::id.desc())
        .select(Tenant::as_select())
        .load(conn)?)
}

/// A page of the user's tenants, newest first, strictly older than `before` when given.
pub fn page_for_user(
    conn: &mut DbConn,
    user_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Tenant>, DbError> {
    let mut query = tenants::table
        .inner_join(memberships::table)
        .filter(memberships::user_id.eq(user_id))
        .order(tenants::id.desc())
        .limit(limit)
        .select(Tenant::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(tenants::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}
