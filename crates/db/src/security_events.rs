//! The `security_events` table: what happened to an account, for its owner.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::security_events;
use crate::{lock_writes, DbConn, DbError};

/// A stored event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = security_events)]
pub struct SecurityEvent {
    /// UUID v7 (time-ordered, so also the sort key).
    pub id: String,
    /// Whose account.
    pub user_id: String,
    /// `login.succeeded`, `refresh.reused`, …
    pub action: String,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Records an event.
pub fn insert(conn: &mut DbConn, event: &SecurityEvent) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(security_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// A page of the user's events, newest first, strictly older than `before` (an event id) when given.
pub fn page(
    conn: &mut DbConn,
    user_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<SecurityEvent>, DbError> {
    let mut query = security_events::table
        .filter(security_events::user_id.eq(user_id))
        .order(security_events::id.desc())
        .limit(limit)
        .select(SecurityEvent::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(security_events::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}
