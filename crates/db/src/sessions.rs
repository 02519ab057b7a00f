//! The `sessions` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use crate::conn::on_backend;
use crate::fixed::fixed_statement;
use crate::schema::sessions;
use crate::{lock_writes, DbConn, DbError};

/// A stored sign-in session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// UUID v7.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// Sign-in time.
    pub created_at: NaiveDateTime,
    /// Last refresh.
    pub last_used_at: NaiveDateTime,
    /// Idle expiry.
    pub expires_at: NaiveDateTime,
    /// Absolute expiry.
    pub absolute_expires_at: NaiveDateTime,
    /// Set when revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// Client's user agent at sign-in.
    pub user_agent: Option<String>,
    /// Client IP at sign-in.
    pub ip: Option<String>,
    /// How the user proved who they are (`pwd`, `github`, `otp`, comma-separated).
    pub amr: String,
}

impl Session {
    /// Not revoked and not expired at `now`.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.absolute_expires_at > now
    }
}

/// Stores a new session.
pub fn insert(conn: &mut DbConn, session: &Session) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(())
}

/// The session with this id, whatever its state.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Session>, DbError> {
    Ok(sessions::table
        .find(id)
        .select(Session::as_select())
        .get_result(conn)
        .optional()?)
}

/// Whether an access token of (`user_id`, `session_id`) may still act: one primary-key lookup per
/// authenticated request. A deleted user has no sessions left (cascade), so this also rejects tokens
/// of deleted accounts.
pub fn is_active(conn: &mut DbConn, session_id: &str, user_id: &str) -> Result<bool, DbError> {
    let found: Option<String> = sessions::table
        .find(session_id)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .get_result(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The user's live sessions, newest first.
pub fn list_live(conn: &mut DbConn, user_id: &str, now: NaiveDateTime) -> Result<Vec<Session>, DbError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::absolute_expires_at.gt(now))
        .order(sessions::id.desc())
        .select(Session::as_select())
        .load(conn)?)
}

/// Records a refresh: pushes the idle expiry forward.
pub fn touch(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let touch = Touch { id, now, expires_at };
    on_backend!(conn, |c| touch.execute(c)?);
    Ok(())
}

fixed_statement! {
    /// [`touch`]'s update, kept prepared: every refresh makes it.
    struct Touch<'a> { id: &'a str, now: NaiveDateTime, expires_at: NaiveDateTime }
    sql: [
        "UPDATE sessions SET last_used_at = " (now: Timestamp),
        ", expires_at = " (expires_at: Timestamp),
        " WHERE id = " (id: Text),
    ]
}

/// Revokes one of the user's sessions; false when it is not theirs or already revoked.
pub fn revoke(conn: &mut DbConn, user_id: &str, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Revokes every live session of the user except `keep`; returns how many.
pub fn revoke_all_except(
    conn: &mut DbConn,
    user_id: &str,
    keep: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    let live = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null());
    let changed = match keep {
        Some(keep) => diesel::update(live.filter(sessions::id.ne(keep)))
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
        None => diesel::update(live)
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
    };
    Ok(changed)
}
