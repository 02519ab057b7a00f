//! The `api_keys` table. Keys are stored only as hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::api_keys;
use crate::{lock_writes, DbConn, DbError, TenantId};

/// A stored API key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// UUID v7.
    pub id: String,
    /// The one tenant it acts in.
    pub tenant_id: String,
    /// A label.
    pub name: String,
    /// The first characters of the key, for recognising it in lists.
    pub prefix: String,
    /// SHA-256 of the key.
    pub key_hash: String,
    /// Space-separated scopes (before intersection with the creator's).
    pub scopes: String,
    /// The user who created it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// Optional expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// When revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// Last use, updated at most once a minute.
    pub last_used_at: Option<NaiveDateTime>,
}

/// Stores a key.
pub fn insert(conn: &mut DbConn, key: &ApiKey) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(api_keys::table).values(key).execute(conn)?;
    Ok(())
}

/// The live key with this hash: not revoked, not expired.
pub fn find_live(conn: &mut DbConn, key_hash: &str, now: NaiveDateTime) -> Result<Option<ApiKey>, DbError> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .select(ApiKey::as_select())
        .get_result(conn)
        .optional()?)
}

/// Records a use.
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::update(api_keys::table.find(id))
        .set(api_keys::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// A page of the tenant's unrevoked keys, newest first.
pub fn page(
    conn: &mut DbConn,
    tenant: &TenantId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKey>, DbError> {
    let mut query = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant.as_str()))
        .filter(api_keys::revoked_at.is_null())
        .order(api_keys::id.desc())
        .limit(limit)
        .select(ApiKey::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(api_keys::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Revokes a key of the tenant; false when there is no live one by that id.
pub fn revoke(conn: &mut DbConn, tenant: &TenantId, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::tenant_id.eq(tenant.as_str()))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}
