//! Deleting rows that no request can use any more: expired OAuth states and single-use codes,
//! expired mailed tokens and MFA challenges, delivered or abandoned mail, dead sessions with their refresh tokens, and
//! idle sign-in throttles. Run periodically by the server, so tables that anonymous clients can
//! write to stay bounded.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{link_codes, login_codes, oauth_states, refresh_tokens, sessions};
use crate::{email_tokens, lock_writes, login_throttles, mfa, outbox, DbConn, DbError};

/// Rows are kept this long after they stopped being usable, so an investigation of a just-ended
/// session or a late retry of a spent token still finds them.
const KEEP_DEAD_ROWS: i64 = 24 * 60 * 60;

/// How many rows one run deleted, per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// OAuth states past their lifetime.
    pub oauth_states: usize,
    /// Login and link codes past their lifetime.
    pub codes: usize,
    /// Sessions expired or revoked for a day (their refresh tokens go with them).
    pub sessions: usize,
    /// Refresh tokens of live sessions that expired a day ago.
    pub refresh_tokens: usize,
    /// Throttle rows idle for a day, with no back-off running.
    pub throttles: usize,
    /// Mailed tokens and MFA challenges expired for a day.
    pub email_tokens: usize,
    /// Outbox messages delivered or abandoned a day ago (the hourly per-address cap counts them
    /// until then).
    pub mails: usize,
}

impl Deleted {
    /// All rows deleted.
    pub fn total(&self) -> usize {
        self.oauth_states
            + self.codes
            + self.sessions
            + self.refresh_tokens
            + self.throttles
            + self.email_tokens
            + self.mails
    }
}

/// Deletes every row that stopped being usable before `now` (or a day before, see [`KEEP_DEAD_ROWS`]).
pub fn delete_expired(conn: &mut DbConn, now: NaiveDateTime) -> Result<Deleted, DbError> {
    let _writing = lock_writes(conn)?;
    let day_ago = now - Duration::seconds(KEEP_DEAD_ROWS);
    let oauth_states =
        diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?;
    let codes = diesel::delete(login_codes::table.filter(login_codes::expires_at.le(now))).execute(conn)?
        + diesel::delete(link_codes::table.filter(link_codes::expires_at.le(now))).execute(conn)?;
    let dead = sessions::expires_at
        .lt(day_ago)
        .or(sessions::absolute_expires_at.lt(day_ago))
        .or(sessions::revoked_at.lt(day_ago));
    // Refresh tokens first: on SQLite the cascade needs `foreign_keys`, which every pooled
    // connection sets, but deleting them explicitly keeps this independent of that.
    let dead_ids = sessions::table.filter(dead).select(sessions::id);
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::session_id.eq_any(dead_ids)))
        .execute(conn)?;
    let sessions = diesel::delete(sessions::table.filter(dead)).execute(conn)?;
    let refresh_tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(day_ago))).execute(conn)?;
    let throttles = login_throttles::delete_idle(conn, day_ago)?;
    let email_tokens =
        email_tokens::delete_expired(conn, day_ago)? + mfa::delete_expired_challenges(conn, day_ago)?;
    let mails = outbox::delete_finished(conn, day_ago)?;
    Ok(Deleted {
        oauth_states,
        codes,
        sessions,
        refresh_tokens,
        throttles,
        email_tokens,
        mails,
    })
}
