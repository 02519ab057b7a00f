//! The key pairs that sign access tokens (`signing_keys`): what is stored and the state changes of
//! a rotation. When a key is made, activated and retired is decided by `portcullis-auth`; the private
//! key arrives here sealed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::signing_keys;
use crate::{DbConn, DbError};

/// Published, not signing yet.
pub const NEXT: &str = "next";
/// Signing.
pub const ACTIVE: &str = "active";
/// Replaced; published until `retire_after`.
pub const RETIRED: &str = "retired";

/// A signing key as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    /// The key id (`kid`): the key's RFC 7638 thumbprint.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: String,
    /// [`NEXT`], [`ACTIVE`] or [`RETIRED`].
    pub state: String,
    /// The public key, base64url: the uncompressed P-256 point or the 32 Ed25519 bytes.
    pub public_key: String,
    /// The PKCS#8 private key, sealed for the kid.
    pub private_key_sealed: String,
    /// When it was made (and published).
    pub created_at: NaiveDateTime,
    /// From when it signs.
    pub activate_at: NaiveDateTime,
    /// When a rotation pass recorded it as signing.
    pub activated_at: Option<NaiveDateTime>,
    /// When its successor took over.
    pub retired_at: Option<NaiveDateTime>,
    /// When the last token it signed has expired: it leaves the JWKS then.
    pub retire_after: Option<NaiveDateTime>,
}

/// Serialises rotation passes across instances until the end of the transaction: a
/// transaction-scoped advisory lock on PostgreSQL; SQLite's write transaction already excludes every
/// other writer.
pub fn lock(conn: &mut DbConn) -> Result<(), DbError> {
    if let DbConn::Postgres(pg) = conn {
        // An arbitrary constant that names "signing key rotation" among the advisory locks.
        diesel::sql_query("SELECT pg_advisory_xact_lock(7079656772)").execute(pg)?;
    }
    Ok(())
}

/// Every stored key, oldest activation first.
pub fn all(conn: &mut DbConn) -> Result<Vec<SigningKey>, DbError> {
    Ok(signing_keys::table
        .order((signing_keys::activate_at.asc(), signing_keys::created_at.asc()))
        .select(SigningKey::as_select())
        .load(conn)?)
}

/// Stores a new key.
pub fn insert(conn: &mut DbConn, key: &SigningKey) -> Result<(), DbError> {
    diesel::insert_into(signing_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

/// Records `kid` as signing since `at`.
pub fn activate(conn: &mut DbConn, kid: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(signing_keys::table.find(kid))
        .set((
            signing_keys::state.eq(ACTIVE),
            signing_keys::activate_at.eq(at),
            signing_keys::activated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `kid` as replaced at `at`, published until `retire_after`.
pub fn retire(
    conn: &mut DbConn,
    kid: &str,
    at: NaiveDateTime,
    retire_after: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(signing_keys::table.find(kid))
        .set((
            signing_keys::state.eq(RETIRED),
            signing_keys::retired_at.eq(at),
            signing_keys::retire_after.eq(retire_after),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the retired keys whose last token has expired.
pub fn delete_expired(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        signing_keys::table
            .filter(signing_keys::state.eq(RETIRED))
            .filter(signing_keys::retire_after.le(now)),
    )
    .execute(conn)?)
}
