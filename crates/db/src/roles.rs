//! The `roles` table: custom roles (built-in roles live in code).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::roles;
use crate::{lock_writes, DbConn, DbError, TenantId};

/// A stored custom role.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
pub struct Role {
    /// Its tenant.
    pub tenant_id: String,
    /// Unique in the tenant.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Space-separated scope names.
    pub scopes: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// Stores a role; a taken name is [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, role: &Role) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(roles::table).values(role).execute(conn)?;
    Ok(())
}

/// The tenant's custom roles by name.
pub fn list(conn: &mut DbConn, tenant: &TenantId) -> Result<Vec<Role>, DbError> {
    Ok(roles::table
        .filter(roles::tenant_id.eq(tenant.as_str()))
        .order(roles::name.asc())
        .select(Role::as_select())
        .load(conn)?)
}

/// The named custom roles of the tenant that exist.
pub fn find_many(conn: &mut DbConn, tenant: &TenantId, names: &[String]) -> Result<Vec<Role>, DbError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(roles::table
        .filter(roles::tenant_id.eq(tenant.as_str()))
        .filter(roles::name.eq_any(names))
        .select(Role::as_select())
        .load(conn)?)
}

/// One custom role.
pub fn find(conn: &mut DbConn, tenant: &TenantId, name: &str) -> Result<Role, DbError> {
    Ok(roles::table
        .find((tenant.as_str(), name))
        .select(Role::as_select())
        .get_result(conn)?)
}

/// Updates description and scopes.
pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    name: &str,
    description: Option<&str>,
    scopes: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(roles::table.find((tenant.as_str(), name)))
        .set((
            roles::description.eq(description),
            roles::scopes.eq(scopes),
            roles::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Deletes a role.
pub fn delete(conn: &mut DbConn, tenant: &TenantId, name: &str) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::delete(roles::table.find((tenant.as_str(), name))).execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// How many custom roles the tenant has.
pub fn count(conn: &mut DbConn, tenant: &TenantId) -> Result<i64, DbError> {
    Ok(roles::table
        .filter(roles::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)?)
}
