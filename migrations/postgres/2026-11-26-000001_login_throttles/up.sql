-- Sign-in throttling moves out of the users table so that an unknown email is throttled exactly
-- like a known one (no oracle), and so that a trusted device can have an allowance of its own.
CREATE TABLE login_throttles (
    -- 'account:<normalised email>' or 'device:<device id>'
    throttle_key TEXT PRIMARY KEY NOT NULL,
    -- consecutive failed (or still running) sign-in attempts
    failures INTEGER NOT NULL DEFAULT 0,
    -- end of the current back-off window
    locked_until TIMESTAMP,
    -- login.throttled was recorded for the current window: one event per window, not per refusal
    throttle_reported BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX login_throttles_updated_at ON login_throttles (updated_at);

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
