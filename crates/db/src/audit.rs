//! The `audit_events` table: a tenant's record of changes, written in the changing transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::on_backend;
use crate::schema::audit_events;
use crate::{lock_writes, DbConn, DbError, TenantId};

/// A stored audit event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// UUID v7.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// `tenant.created`, `member.added`, …
    pub action: String,
    /// `user` or `api_key`.
    pub actor_type: String,
    /// The actor's id.
    pub actor_id: String,
    /// What kind of thing changed.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// JSON object with the change's details.
    pub details: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Records an event.
pub fn insert(conn: &mut DbConn, event: &AuditEvent) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    on_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(event)
        .execute(c)?);
    Ok(())
}

/// A page of the tenant's events, newest first, optionally of one action.
pub fn page(
    conn: &mut DbConn,
    tenant: &TenantId,
    action: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>, DbError> {
    let mut query = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.as_str()))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .into_boxed();
    if let Some(action) = action {
        query = query.filter(audit_events::action.eq(action.to_owned()));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}
