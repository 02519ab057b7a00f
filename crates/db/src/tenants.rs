//! The `tenants` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::tenants;

/// A stored organisation.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    /// UUID v7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unique, URL-safe.
    pub slug: String,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}
