-- External accounts linked to users, identified by the provider's stable numeric id (never by login
-- or email).
CREATE TABLE identities (
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login TEXT NOT NULL,
    linked_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, provider_user_id)
);
CREATE UNIQUE INDEX identities_user_provider_key ON identities (user_id, provider);

-- OAuth `state` values handed out and not yet used: the cookie binds a flow to the browser, this
-- table makes each state usable once even if the cookie is copied.
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Short-lived single-use codes: `login` codes from the GitHub callback, `link` codes that carry a
-- signed-in user into the GitHub flow. Stored hashed.
CREATE TABLE login_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
