-- The S256 challenge of the application that started a sign-in (base64url, 43 characters): the
-- login code is only exchanged together with its verifier, so a code planted in another browser is
-- useless (login CSRF). Link tickets have none.
ALTER TABLE login_codes ADD COLUMN code_challenge TEXT;

-- The end of a GitHub link flow: the GitHub account the callback saw, waiting for the user who started
-- the flow to confirm it with their own bearer token (POST /auth/github/link/complete). Single-use,
-- short-lived, stored hashed.
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    login TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX link_codes_user_id ON link_codes (user_id);
