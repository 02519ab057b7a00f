-- Whether the user signs in with a second factor (a confirmed TOTP authenticator).
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT 0;

-- A user's TOTP authenticator. The secret is sealed (AES-256-GCM under a key derived from JWT_SECRET,
-- bound to the user id); `confirmed_at` is NULL while the enrolment waits for its first code;
-- `last_step` is the newest accepted 30-second step, so no step is accepted twice.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    last_step BIGINT
);

-- Single-use recovery codes (80 random bits each), stored as SHA-256; a new set replaces the old.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- A sign-in that passed its first factor and waits for the second: the mfa_token (stored hashed),
-- single-use, 5 minutes. `first_factor` is the amr the session will start with (pwd, github).
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_factor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- How the session's user proved who they are (comma-separated amr values: pwd, github, otp); a
-- refresh keeps it.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';

-- Tenant policy: members must have signed in with a second factor.
ALTER TABLE tenants ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT 0;
