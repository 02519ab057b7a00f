//! Second factors: TOTP authenticators (`totp_factors`), recovery codes and the challenges of
//! sign-ins waiting for their second factor (`mfa_challenges`). Secrets arrive here sealed and codes
//! hashed; this module never sees them in the clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{mfa_challenges, recovery_codes, totp_factors, users};
use crate::{lock_writes, DbConn, DbError};

/// A user's authenticator.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_factors)]
pub struct TotpFactor {
    /// Its user.
    pub user_id: String,
    /// The sealed secret.
    pub secret_sealed: String,
    /// When the enrolment started.
    pub created_at: NaiveDateTime,
    /// When the first code confirmed it (`None`: pending).
    pub confirmed_at: Option<NaiveDateTime>,
    /// The newest accepted step.
    pub last_step: Option<i64>,
}

/// The user's authenticator, confirmed or pending.
pub fn factor(conn: &mut DbConn, user_id: &str) -> Result<Option<TotpFactor>, DbError> {
    Ok(totp_factors::table
        .find(user_id)
        .select(TotpFactor::as_select())
        .get_result(conn)
        .optional()?)
}

/// Starts an enrolment, replacing a pending one.
pub fn start_enrolment(
    conn: &mut DbConn,
    user_id: &str,
    secret_sealed: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(totp_factors::table.find(user_id)).execute(conn)?;
    diesel::insert_into(totp_factors::table)
        .values((
            totp_factors::user_id.eq(user_id),
            totp_factors::secret_sealed.eq(secret_sealed),
            totp_factors::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `step` as accepted, if it is newer than every step accepted before: false when it is not
/// (a replayed code), so of two concurrent uses of one code exactly one gets true.
pub fn accept_step(conn: &mut DbConn, user_id: &str, step: i64) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        totp_factors::table.find(user_id).filter(
            totp_factors::last_step
                .is_null()
                .or(totp_factors::last_step.lt(step)),
        ),
    )
    .set(totp_factors::last_step.eq(step))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Confirms the pending authenticator and turns MFA on for the user.
pub fn confirm(conn: &mut DbConn, user_id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::update(totp_factors::table.find(user_id))
        .set(totp_factors::confirmed_at.eq(now))
        .execute(conn)?;
    set_enabled(conn, user_id, true, now)
}

/// Removes the authenticator and the recovery codes, and turns MFA off.
pub fn disable(conn: &mut DbConn, user_id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(totp_factors::table.find(user_id)).execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    set_enabled(conn, user_id, false, now)
}

fn set_enabled(conn: &mut DbConn, user_id: &str, enabled: bool, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set((users::mfa_enabled.eq(enabled), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Replaces the user's recovery codes with these hashes.
pub fn replace_recovery_codes(
    conn: &mut DbConn,
    user_id: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(hash),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends the user's unused recovery code with this hash; false when there is none.
pub fn spend_recovery_code(
    conn: &mut DbConn,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        recovery_codes::table
            .find(hash)
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges)]
pub struct Challenge {
    /// SHA-256 of the mfa_token.
    pub token_hash: String,
    /// Whose sign-in.
    pub user_id: String,
    /// The first factor's amr (`pwd`, `github`).
    pub first_factor: String,
    /// When the first factor passed.
    pub created_at: NaiveDateTime,
    /// When the token stops working.
    pub expires_at: NaiveDateTime,
    /// When it was used.
    pub used_at: Option<NaiveDateTime>,
}

/// Stores a challenge.
pub fn insert_challenge(conn: &mut DbConn, challenge: &Challenge) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(mfa_challenges::table)
        .values(challenge)
        .execute(conn)?;
    Ok(())
}

/// The unused, unexpired challenge with this token hash.
pub fn live_challenge(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<Challenge>, DbError> {
    Ok(mfa_challenges::table
        .find(token_hash)
        .filter(mfa_challenges::used_at.is_null())
        .filter(mfa_challenges::expires_at.gt(now))
        .select(Challenge::as_select())
        .get_result(conn)
        .optional()?)
}

/// Spends the challenge; false when it was used meanwhile or expired.
pub fn spend_challenge(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(
        mfa_challenges::table
            .find(token_hash)
            .filter(mfa_challenges::used_at.is_null())
            .filter(mfa_challenges::expires_at.gt(now)),
    )
    .set(mfa_challenges::used_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Deletes challenges that expired before `before`.
pub fn delete_expired_challenges(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.lt(before))).execute(conn)?)
}
