//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::users;

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
}
