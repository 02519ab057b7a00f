CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    -- lower-cased email: both backends compare it the same way, and the unique index makes
    -- concurrent sign-ups in different letter cases create one account.
    email_normalized TEXT NOT NULL,
    display_name TEXT,
    password_hash TEXT,
    -- Consecutive failed sign-ins and the end of the current back-off window (login throttling).
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_email_normalized_key ON users (email_normalized);
