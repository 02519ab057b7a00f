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
        email_verified -> Bool,
        mfa_enabled -> Bool,
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
        require_mfa -> Bool,
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
        amr -> Text,
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

diesel::table! {
    /// Tenant memberships.
    memberships (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Roles held by members.
    member_roles (tenant_id, user_id, role_name) {
        tenant_id -> Text,
        user_id -> Text,
        role_name -> Text,
    }
}

diesel::table! {
    /// Custom roles.
    roles (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        scopes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Invitations.
    invitations (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        email_normalized -> Text,
        roles -> Text,
        token_hash -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Tenant audit log.
    audit_events (id) {
        id -> Text,
        tenant_id -> Text,
        action -> Text,
        actor_type -> Text,
        actor_id -> Text,
        target_type -> Text,
        target_id -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Tenant projects.
    projects (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        name_lower -> Text,
        description -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    /// API keys by hash.
    api_keys (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        scopes -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Linked external accounts.
    identities (provider, provider_user_id) {
        provider -> Text,
        provider_user_id -> Text,
        user_id -> Text,
        login -> Text,
        linked_at -> Timestamp,
    }
}

diesel::table! {
    /// Unused OAuth states.
    oauth_states (state_hash) {
        state_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// Single-use login and link codes.
    login_codes (code_hash) {
        code_hash -> Text,
        purpose -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        code_challenge -> Nullable<Text>,
    }
}

diesel::table! {
    /// Finished GitHub link flows waiting for their user's confirmation.
    link_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        provider -> Text,
        provider_user_id -> Text,
        login -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Consecutive failed sign-ins per throttle key (an account's email, or a trusted device).
    login_throttles (throttle_key) {
        throttle_key -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        throttle_reported -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Single-use tokens sent by mail (verify, reset, change), stored hashed.
    email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        kind -> Text,
        email -> Text,
        new_email -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The transactional outbox of mail.
    mail_outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        recipient_key -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        leased_by -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// TOTP authenticators (secret sealed).
    totp_factors (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Single-use recovery codes, stored hashed.
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Sign-ins waiting for their second factor.
    mfa_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        first_factor -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Key pairs that sign access tokens: next, active, retired.
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_key -> Text,
        private_key_sealed -> Text,
        created_at -> Timestamp,
        activate_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
        retire_after -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(security_events -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    totp_factors,
    recovery_codes,
    mfa_challenges,
    email_tokens,
    mail_outbox,
    login_throttles,
    tenants,
    sessions,
    refresh_tokens,
    security_events,
    memberships,
    member_roles,
    roles,
    invitations,
    audit_events,
    projects,
    api_keys,
    identities,
    oauth_states,
    login_codes,
    link_codes,
    signing_keys,
);
