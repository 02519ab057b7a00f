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
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
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

diesel::table! {
    /// Sign-in sessions.
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        absolute_expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    /// Refresh tokens by SHA-256 hash.
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
        successor_hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// Per-user security events.
    security_events (id) {
        id -> Text,
        user_id -> Text,
        action -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(security_events -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(users, tenants, sessions, refresh_tokens, security_events);
