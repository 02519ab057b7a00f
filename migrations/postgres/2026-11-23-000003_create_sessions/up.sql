-- A sign-in: one per login, lives through refresh rotations until revoked or expired.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    -- idle expiry: pushed forward by each refresh, never past absolute_expires_at
    expires_at TIMESTAMP NOT NULL,
    absolute_expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Refresh tokens, stored only as SHA-256 hashes. A spent token keeps the hash of its successor so a
-- retry inside the grace window gets the same successor and a later reuse can be detected.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP,
    successor_hash TEXT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- What happened to an account, for its owner to review.
CREATE TABLE security_events (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX security_events_user_id_idx ON security_events (user_id, id);
