//! The `users` table.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::users;
use crate::{write_transaction, DbConn, DbError};

/// A stored account.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    /// UUID v7.
    pub id: String,
    /// As the user typed it.
    pub email: String,
    /// Lower-cased, unique.
    pub email_normalized: String,
    /// Optional name to show.
    pub display_name: Option<String>,
    /// Argon2id PHC string; `None` for accounts that sign in only with GitHub.
    pub password_hash: Option<String>,
    /// Consecutive failed sign-ins.
    pub failed_logins: i32,
    /// End of the current sign-in back-off window.
    pub locked_until: Option<NaiveDateTime>,
    /// When the account was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

/// A new account.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// UUID v7.
    pub id: &'a str,
    /// As typed.
    pub email: &'a str,
    /// Lower-cased.
    pub email_normalized: &'a str,
    /// Optional name.
    pub display_name: Option<&'a str>,
    /// PHC string, if the account has a password.
    pub password_hash: Option<&'a str>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// Inserts an account; a taken email is [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, user: &NewUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

/// The account with this id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<User, DbError> {
    Ok(users::table.find(id).select(User::as_select()).first(conn)?)
}

/// The account with this (already lower-cased) email, if any.
pub fn find_by_email(conn: &mut DbConn, email_normalized: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::email_normalized.eq(email_normalized))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Sets the display name.
pub fn set_display_name(
    conn: &mut DbConn,
    id: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let changed = diesel::update(users::table.find(id))
        .set((users::display_name.eq(name), users::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Replaces the password hash.
pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Reads the account and keeps it from being deleted until the transaction ends (PostgreSQL
/// `FOR KEY SHARE`, which ordinary updates of the row do not wait for; on SQLite the write transaction
/// already excludes every other writer). A transaction that adds a membership for the user takes it
/// before any tenant lock, in the order [`lock_for_deletion`] takes them, so it cannot deadlock with
/// the user's account deletion, nor add a membership the deletion did not see.
pub fn find_held(conn: &mut DbConn, id: &str) -> Result<User, DbError> {
    // One query per arm: `as_select` is tied to the backend it is first used with.
    Ok(match conn {
        DbConn::Postgres(pg) => users::table
            .find(id)
            .select(User::as_select())
            .for_key_share()
            .first(pg)?,
        DbConn::Sqlite(sqlite) => users::table.find(id).select(User::as_select()).first(sqlite)?,
    })
}

/// Locks the account for deletion until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's write
/// transaction already excludes other writers): transactions holding it through [`find_held`] or a
/// row that references it finish first, and new ones wait, so the checks made before the delete
/// (the tenants the user solely owns) see every membership the user has. Take it before any tenant
/// lock.
pub fn lock_for_deletion(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    let query = users::table.find(id).select(users::id);
    let _: String = match conn {
        DbConn::Postgres(pg) => query.for_update().first(pg)?,
        DbConn::Sqlite(sqlite) => query.first(sqlite)?,
    };
    Ok(())
}

/// Deletes the account; its sessions, tokens and events go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    diesel::delete(users::table.find(id)).execute(conn)?;
    Ok(())
}

/// Whether a sign-in attempt may check the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; the attempt is already counted as a failure until [`reset_login_failures`].
    Allowed,
    /// Refused without checking the password until this time.
    Throttled {
        /// End of the back-off window.
        until: NaiveDateTime,
    },
}

/// Counts a sign-in attempt *before* the password is checked, in one write transaction, so parallel
/// guesses cannot slip past the limit: each one takes a numbered slot, and the slot that reaches the
/// limit starts the back-off window for those after it. `backoff(n)` gives the window after `n`
/// consecutive failures (or none below the limit). A correct password then calls
/// [`reset_login_failures`].
pub fn begin_login_attempt(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    backoff: impl Fn(i32) -> Option<Duration>,
) -> Result<Attempt, DbError> {
    write_transaction(conn, |conn| {
        let open = users::locked_until.is_null().or(users::locked_until.le(now));
        let counted = diesel::update(users::table.find(id).filter(open))
            .set(users::failed_logins.eq(users::failed_logins + 1))
            .execute(conn)?;
        if counted == 0 {
            let until: Option<NaiveDateTime> =
                users::table.find(id).select(users::locked_until).first(conn)?;
            return Ok(Attempt::Throttled {
                until: until.unwrap_or(now),
            });
        }
        let failures: i32 = users::table.find(id).select(users::failed_logins).first(conn)?;
        if let Some(window) = backoff(failures) {
            diesel::update(users::table.find(id))
                .set(users::locked_until.eq(now + window))
                .execute(conn)?;
        }
        Ok(Attempt::Allowed)
    })
}

/// A correct password clears the failure count and any back-off.
pub fn reset_login_failures(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}
