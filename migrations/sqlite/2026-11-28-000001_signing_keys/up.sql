-- Key pairs that sign access tokens (ES256 or EdDSA). A key is `next` from its creation until
-- `activate_at` (published in the JWKS, not yet signing), then `active` (signing), then `retired`
-- when its successor activates; a retired key stays published until `retire_after`, when the last
-- token it signed has expired, and is deleted then. The private key (PKCS#8) is sealed with AES-256-GCM
-- under a key derived from JWT_SECRET and bound to the kid; the public key is stored in the clear.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activate_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    retired_at TIMESTAMP,
    retire_after TIMESTAMP
);
