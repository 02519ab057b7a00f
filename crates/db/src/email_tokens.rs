//! The `email_tokens` table: single-use tokens sent by mail, stored as hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::email_tokens;
use crate::{lock_writes, DbConn, DbError};

/// A stored token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Whose token it is.
    pub user_id: String,
    /// `verify`, `reset` or `change`.
    pub kind: String,
    /// The normalised address of the account when the token was made.
    pub email: String,
    /// The new address of an email change, as typed.
    pub new_email: Option<String>,
    /// When it was made.
    pub created_at: NaiveDateTime,
    /// When it stops working.
    pub expires_at: NaiveDateTime,
    /// When it was used.
    pub used_at: Option<NaiveDateTime>,
}

/// Stores `token` and deletes the user's earlier tokens of the same kind (a newer link supersedes
/// the older ones).
pub fn replace(conn: &mut DbConn, token: &EmailToken) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(
        email_tokens::table
            .filter(email_tokens::user_id.eq(&token.user_id))
            .filter(email_tokens::kind.eq(&token.kind)),
    )
    .execute(conn)?;
    diesel::insert_into(email_tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

/// Deletes the user's tokens of these kinds (links that must stop working once the password changed).
pub fn delete_kinds(conn: &mut DbConn, user_id: &str, kinds: &[&str]) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::delete(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user_id))
            .filter(email_tokens::kind.eq_any(kinds)),
    )
    .execute(conn)?)
}

/// The unused, unexpired token of `kind` with this hash.
pub fn find_live(
    conn: &mut DbConn,
    token_hash: &str,
    kind: &str,
    now: NaiveDateTime,
) -> Result<Option<EmailToken>, DbError> {
    Ok(email_tokens::table
        .find(token_hash)
        .filter(email_tokens::kind.eq(kind))
        .filter(email_tokens::used_at.is_null())
        .filter(email_tokens::expires_at.gt(now))
        .select(EmailToken::as_select())
        .get_result(conn)
        .optional()?)
}

/// Marks the token used; false when it was no longer live (used meanwhile, or expired), so of two
/// concurrent uses exactly one gets true.
pub fn spend(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        email_tokens::table
            .find(token_hash)
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(now)),
    )
    .set(email_tokens::used_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Deletes tokens that expired before `before`.
pub fn delete_expired(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::delete(email_tokens::table.filter(email_tokens::expires_at.lt(before))).execute(conn)?)
}
