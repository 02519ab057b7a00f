//! The `refresh_tokens` table: hashes only, never a usable token.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use crate::conn::on_backend;
use crate::fixed::fixed_statement;
use crate::schema::{refresh_tokens, sessions, users};
use crate::sessions::Session;
use crate::users::User;
use crate::{lock_writes, DbConn, DbError};

/// A stored refresh token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Its session.
    pub session_id: String,
    /// Issue time.
    pub created_at: NaiveDateTime,
    /// Idle expiry of this token.
    pub expires_at: NaiveDateTime,
    /// When it was rotated.
    pub spent_at: Option<NaiveDateTime>,
    /// Hash of the token that replaced it.
    pub successor_hash: Option<String>,
}

/// Stores a new token.
pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    on_backend!(conn, |c| diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(c)?);
    Ok(())
}

/// The token with this hash.
pub fn find(conn: &mut DbConn, token_hash: &str) -> Result<Option<RefreshToken>, DbError> {
    Ok(refresh_tokens::table
        .find(token_hash)
        .select(RefreshToken::as_select())
        .get_result(conn)
        .optional()?)
}

/// The token with its session and the session's user, in one statement (what a refresh reads).
pub fn find_with_session(
    conn: &mut DbConn,
    token_hash: &str,
) -> Result<Option<(RefreshToken, Session, User)>, DbError> {
    Ok(on_backend!(conn, |c| refresh_tokens::table
        .inner_join(sessions::table.inner_join(users::table))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((RefreshToken::as_select(), Session::as_select(), User::as_select()))
        .get_result(c)
        .optional()?))
}

/// Marks an unspent token spent; false when another request spent it first (the conditional UPDATE
/// is what makes rotation single-winner).
pub fn spend(
    conn: &mut DbConn,
    token_hash: &str,
    successor_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let spend = Spend {
        token_hash,
        successor_hash,
        now,
    };
    let changed = on_backend!(conn, |c| spend.execute(c)?);
    Ok(changed == 1)
}

fixed_statement! {
    /// [`spend`]'s update, kept prepared: every refresh makes it.
    struct Spend<'a> { token_hash: &'a str, successor_hash: &'a str, now: NaiveDateTime }
    sql: [
        "UPDATE refresh_tokens SET spent_at = " (now: Timestamp),
        ", successor_hash = " (successor_hash: Text),
        " WHERE token_hash = " (token_hash: Text),
        " AND spent_at IS NULL",
    ]
}
