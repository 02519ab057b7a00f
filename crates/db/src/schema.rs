//! Table definitions shared by both backends (only types both support: Text, BigInt, Integer, Bool,
//! Timestamp, Binary).

diesel::table! {
    /// Accounts. `email_normalized` is the lower-cased email with a unique index.
    users (id) {
        id -> Text,
        email -> Text,
        email_normalized -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Organisations.
    tenants (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, tenants);
