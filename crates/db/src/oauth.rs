//! OAuth states and single-use codes (`oauth_states`, `login_codes`, `link_codes`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{link_codes, login_codes, oauth_states, users};
use crate::{lock_writes, DbConn, DbError};

/// Remembers a state handed out with an authorize redirect.
pub fn insert_state(conn: &mut DbConn, state_hash: &str, expires_at: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
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
    let _writing = lock_writes(conn)?;
    diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?;
    let removed = diesel::delete(oauth_states::table.find(state_hash)).execute(conn)?;
    Ok(removed == 1)
}

/// A new single-use code of `login_codes`.
#[derive(Debug)]
pub struct NewCode<'a> {
    /// SHA-256 of the code.
    pub code_hash: &'a str,
    /// `login` (a finished sign-in) or `link_ticket` (carries a signed-in user into a link flow).
    pub purpose: &'a str,
    /// The user it signs in or links.
    pub user_id: &'a str,
    /// For `login` codes: the S256 challenge of the application that started the flow.
    pub code_challenge: Option<&'a str>,
    /// End of its life.
    pub expires_at: NaiveDateTime,
}

/// Stores a single-use code.
pub fn insert_code(conn: &mut DbConn, code: &NewCode<'_>) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(login_codes::table)
        .values((
            login_codes::code_hash.eq(code.code_hash),
            login_codes::purpose.eq(code.purpose),
            login_codes::user_id.eq(code.user_id),
            login_codes::code_challenge.eq(code.code_challenge),
            login_codes::expires_at.eq(code.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a used-up code of `login_codes` stood for.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SpentCode {
    /// The user it signs in or links.
    pub user_id: String,
    /// The application's S256 challenge, for `login` codes.
    pub code_challenge: Option<String>,
}

/// Uses up a code: what it stood for on the first use within its lifetime, `None` otherwise. One
/// conditional UPDATE, so two concurrent uses cannot both succeed.
pub fn consume_code(
    conn: &mut DbConn,
    code_hash: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<Option<SpentCode>, DbError> {
    let _writing = lock_writes(conn)?;
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
            .select((login_codes::user_id, login_codes::code_challenge))
            .get_result(conn)?,
    ))
}

/// Uses up a sign-in's login code, whatever sign-in made it: its purpose is `login` (GitHub) or
/// `login:` followed by the session's sign-in methods (a hosted sign-in). Answers the code and its
/// purpose on the first use within its lifetime, `None` otherwise.
pub fn consume_login_code(
    conn: &mut DbConn,
    code_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<(SpentCode, String)>, DbError> {
    let _writing = lock_writes(conn)?;
    let usable = login_codes::table
        .find(code_hash)
        .filter(
            login_codes::purpose
                .eq("login")
                .or(login_codes::purpose.like("login:%")),
        )
        .filter(login_codes::used_at.is_null())
        .filter(login_codes::expires_at.gt(now));
    let used = diesel::update(usable)
        .set(login_codes::used_at.eq(now))
        .execute(conn)?;
    if used == 0 {
        return Ok(None);
    }
    let (user_id, code_challenge, purpose): (String, Option<String>, String) = login_codes::table
        .find(code_hash)
        .select((
            login_codes::user_id,
            login_codes::code_challenge,
            login_codes::purpose,
        ))
        .get_result(conn)?;
    Ok(Some((
        SpentCode {
            user_id,
            code_challenge,
        },
        purpose,
    )))
}

/// A finished link flow: the provider account the callback saw, for the user who started the flow.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = link_codes)]
pub struct LinkCode {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The user who started the flow; only they may complete it.
    pub user_id: String,
    /// `github`.
    pub provider: String,
    /// The provider's numeric account id, as text.
    pub provider_user_id: String,
    /// The provider login, for display.
    pub login: String,
    /// End of its life.
    pub expires_at: NaiveDateTime,
}

/// Stores a link code, and drops the expired ones so the table holds only live flows.
pub fn insert_link_code(conn: &mut DbConn, code: &LinkCode, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(link_codes::table.filter(link_codes::expires_at.le(now))).execute(conn)?;
    diesel::insert_into(link_codes::table)
        .values(code)
        .execute(conn)?;
    Ok(())
}

/// Uses up a link code: the flow on the first use within its lifetime, `None` otherwise (unknown,
/// used or expired). One conditional UPDATE, so two concurrent uses cannot both succeed.
pub fn consume_link_code(
    conn: &mut DbConn,
    code_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<LinkCode>, DbError> {
    let _writing = lock_writes(conn)?;
    let usable = link_codes::table
        .find(code_hash)
        .filter(link_codes::used_at.is_null())
        .filter(link_codes::expires_at.gt(now));
    let used = diesel::update(usable)
        .set(link_codes::used_at.eq(now))
        .execute(conn)?;
    if used == 0 {
        return Ok(None);
    }
    Ok(Some(
        link_codes::table
            .find(code_hash)
            .select((
                link_codes::code_hash,
                link_codes::user_id,
                link_codes::provider,
                link_codes::provider_user_id,
                link_codes::login,
                link_codes::expires_at,
            ))
            .get_result(conn)?,
    ))
}

/// Inside a write transaction: whether the user still exists, holding their row until the end of the
/// transaction so that rows referring to them can be written without a foreign-key failure when the
/// account is deleted at the same moment. PostgreSQL takes a `FOR KEY SHARE` lock (a concurrent
/// `DELETE` waits for the commit, then cascades); on SQLite the transaction's `BEGIN IMMEDIATE`
/// already keeps every other writer out.
pub fn hold_user(conn: &mut DbConn, user_id: &str) -> Result<bool, DbError> {
    let query = users::table.find(user_id).select(users::id);
    let found: Option<String> = match conn {
        DbConn::Postgres(pg) => query.for_key_share().first(pg).optional()?,
        DbConn::Sqlite(sqlite) => query.first(sqlite).optional()?,
    };
    Ok(found.is_some())
}
