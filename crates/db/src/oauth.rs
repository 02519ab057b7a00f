//! OAuth states and single-use codes (`oauth_states`, `login_codes`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{login_codes, oauth_states};
use crate::{DbConn, DbError};

/// Remembers a state handed out with an authorize redirect.
pub fn insert_state(conn: &mut DbConn, state_hash: &str, expires_at: NaiveDateTime) -> Result<(), DbError> {
    diesel::insert_into(oauth_states::table)
        .values((
            oauth_states::state_hash.eq(state_hash),
            oauth_states::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Uses up a state: true only for the first use of an unexpired state.
pub fn consume_state(conn: &mut DbConn, state_hash: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?;
    let removed = diesel::delete(oauth_states::table.find(state_hash)).execute(conn)?;
    Ok(removed == 1)
}

/// Stores a single-use code for `purpose` (`login` or `link`).
pub fn insert_code(
    conn: &mut DbConn,
    code_hash: &str,
    purpose: &str,
    user_id: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(login_codes::table)
        .values((
            login_codes::code_hash.eq(code_hash),
            login_codes::purpose.eq(purpose),
            login_codes::user_id.eq(user_id),
            login_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Uses up a code: its user on the first use within its lifetime, `None` otherwise. One conditional
/// UPDATE, so two concurrent uses cannot both succeed.
pub fn consume_code(
    conn: &mut DbConn,
    code_hash: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let usable = login_codes::table
        .find(code_hash)
        .filter(login_codes::purpose.eq(purpose))
        .filter(login_codes::used_at.is_null())
        .filter(login_codes::expires_at.gt(now));
    let used = diesel::update(usable)
        .set(login_codes::used_at.eq(now))
        .execute(conn)?;
    if used == 0 {
        return Ok(None);
    }
    Ok(Some(
        login_codes::table
            .find(code_hash)
            .select(login_codes::user_id)
            .first(conn)?,
    ))
}
