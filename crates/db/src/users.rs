//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::users;
use crate::{lock_writes, DbConn, DbError};

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
    /// When the account was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// Whether the user proved they read mail at `email`.
    pub email_verified: bool,
    /// Whether sign-in asks for a second factor.
    pub mfa_enabled: bool,
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
    /// True when the address is already proven (GitHub verified it).
    pub email_verified: bool,
}

/// Inserts an account; a taken email is [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, user: &NewUser<'_>) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

/// The account with this id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<User, DbError> {
    Ok(users::table.find(id).select(User::as_select()).get_result(conn)?)
}

/// The account with this (already lower-cased) email, if any.
pub fn find_by_email(conn: &mut DbConn, email_normalized: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::email_normalized.eq(email_normalized))
        .select(User::as_select())
        .get_result(conn)
        .optional()?)
}

/// Sets the display name.
pub fn set_display_name(
    conn: &mut DbConn,
    id: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
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
    let _writing = lock_writes(conn)?;
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Marks the address verified.
pub fn set_email_verified(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::update(users::table.find(id))
        .set((users::email_verified.eq(true), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Replaces the address with a verified one; a taken address is [`DbError::UniqueViolation`].
pub fn set_email(
    conn: &mut DbConn,
    id: &str,
    email: &str,
    email_normalized: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_normalized.eq(email_normalized),
            users::email_verified.eq(true),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether an account uses this (normalised) address.
pub fn email_taken(conn: &mut DbConn, email_normalized: &str) -> Result<bool, DbError> {
    Ok(find_by_email(conn, email_normalized)?.is_some())
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
    let _writing = lock_writes(conn)?;
    diesel::delete(users::table.find(id)).execute(conn)?;
    Ok(())
}
