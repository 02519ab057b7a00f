-- Whether the user proved they read mail at their address (a verification link, a password reset,
-- a confirmed email change, or a GitHub account whose email GitHub verified).
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- Single-use tokens sent by mail: 'verify' (the address), 'reset' (the password), 'change' (a new
-- address). Stored as SHA-256 hashes; `email` is the normalised address the token was sent for, so a
-- token stops working when the account's address changes in the meantime. A newer token of the same
-- kind replaces the older ones (they are deleted).
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    email TEXT NOT NULL,
    -- the new address of an email change (as typed), NULL for other kinds
    new_email TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_tokens_user_kind ON email_tokens (user_id, kind);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- The transactional outbox: a message is written in the transaction of the change that causes it and
-- delivered later by a worker (any instance), which claims it with a lease.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    -- verify_email, reset_password, confirm_email_change, notice_*
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    -- the normalised recipient, for the per-address hourly cap
    recipient_key TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- the rendered parts; cleared once delivered or given up, since a body may hold a token link
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- the worker holding the message and until when; a crashed worker's lease runs out
    leased_by TEXT,
    lease_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_recipient ON mail_outbox (recipient_key, kind, created_at);
