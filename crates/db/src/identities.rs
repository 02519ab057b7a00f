//! The `identities` table: external accounts linked to users.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::identities;
use crate::{lock_writes, DbConn, DbError};

/// A linked external account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct Identity {
    /// `github`.
    pub provider: String,
    /// The provider's numeric account id, as text.
    pub provider_user_id: String,
    /// Our user.
    pub user_id: String,
    /// The provider login at link time (for display only).
    pub login: String,
    /// When it was linked.
    pub linked_at: NaiveDateTime,
}

/// Links an account; an account linked elsewhere, or a second link of one provider to a user, is
/// [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, identity: &Identity) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(identities::table)
        .values(identity)
        .execute(conn)?;
    Ok(())
}

/// The identity with this provider account id.
pub fn find(conn: &mut DbConn, provider: &str, provider_user_id: &str) -> Result<Option<Identity>, DbError> {
    Ok(identities::table
        .find((provider, provider_user_id))
        .select(Identity::as_select())
        .get_result(conn)
        .optional()?)
}

/// The user's identities.
pub fn of_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<Identity>, DbError> {
    Ok(identities::table
        .filter(identities::user_id.eq(user_id))
        .select(Identity::as_select())
        .load(conn)?)
}

/// Unlinks the user's account at `provider`; false when none was linked.
pub fn delete(conn: &mut DbConn, user_id: &str, provider: &str) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::delete(
        identities::table
            .filter(identities::user_id.eq(user_id))
            .filter(identities::provider.eq(provider)),
    )
    .execute(conn)?;
    Ok(changed == 1)
}
