//! The asymmetric keys that sign access tokens: key generation (ES256 on P-256, EdDSA on Ed25519,
//! through aws-lc-rs), the rotation schedule kept in `signing_keys`, and the in-memory [`KeySet`]
//! each instance signs and verifies with and publishes as its JWKS.
//!
//! The schedule is data, so every instance reads the same answer: a key is made `next` and published
//! at least `prepublish` before its `activate_at`; from `activate_at` every instance that has loaded
//! it signs with it (each instance switches on its own clock, not when a rotation pass records the
//! change); the key it replaced stays published until the last token it signed has expired. A
//! rotation pass ([`maintain`]) runs under a lock that spans instances, so exactly one of them makes
//! each new key.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{NaiveDateTime, Timelike};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use portcullis_db::signing_keys::{self, SigningKey, ACTIVE, NEXT, RETIRED};
use portcullis_db::{write_transaction, DbConn, DbError, Sealer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How access tokens are signed (`JWT_ALG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// ECDSA on P-256 with SHA-256: the default, verified by every common JWT library.
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC-SHA-256 with `JWT_SECRET` (version 1): only holders of the secret can verify.
    Hs256,
}

impl SigningAlg {
    /// `ES256`, `EdDSA` or `HS256`, as JWT headers spell them.
    pub fn parse(name: &str) -> Option<SigningAlg> {
        match name {
            "ES256" => Some(SigningAlg::Es256),
            "EdDSA" => Some(SigningAlg::EdDsa),
            "HS256" => Some(SigningAlg::Hs256),
            _ => None,
        }
    }

    /// The name JWT headers and JWKs use.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Hs256 => "HS256",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
            SigningAlg::Hs256 => Algorithm::HS256,
        }
    }
}

/// When keys are made, switched and dropped.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// The algorithm new keys use (never [`SigningAlg::Hs256`] here).
    pub alg: SigningAlg,
    /// `SIGNING_KEY_ROTATION_DAYS`: how long a key signs before its successor takes over.
    pub rotation: Duration,
    /// `SIGNING_KEY_PREPUBLISH_SECS`: how long a key is published before it signs.
    pub prepublish: Duration,
    /// `SIGNING_KEY_REFRESH_SECS`: how often each instance runs a rotation pass and reloads the keys.
    pub refresh: Duration,
    /// The access token lifetime: a replaced key stays published this long (plus a margin).
    pub token_ttl: Duration,
}

impl KeyPolicy {
    /// How long a replaced key stays published after its successor activated: the last token it
    /// signed expires within the access token lifetime; an instance that had not reloaded the keys
    /// yet may sign with it for up to one refresh interval more; plus the clock leeway of verifiers.
    fn overlap(&self) -> chrono::Duration {
        to_chrono(self.token_ttl + self.refresh + Duration::from_secs(crate::tokens::LEEWAY_SECS))
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The private key of a stored key does not open, or is not a key of its algorithm.
#[derive(Debug, thiserror::Error)]
#[error("signing key {kid}: {reason}")]
pub struct UnusableKey {
    kid: String,
    reason: &'static str,
}

/// The sealer of private signing keys: its key is derived from `JWT_SECRET` for this purpose only.
pub fn sealer(secret: &[u8]) -> Sealer {
    Sealer::derive(secret, "portcullis signing keys v1")
}

/// Why a rotation pass failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Key generation failed (the system random source).
    #[error("signing key generation failed: {0}")]
    Crypto(&'static str),
    /// A stored key does not open under this process's `JWT_SECRET`; nothing was changed.
    #[error(
        "signing key {0} does not open under this JWT_SECRET, so this process has another secret than the \
         one that made the keys; nothing was changed. Use the deployment's JWT_SECRET, or delete the rows \
         of signing_keys to start over with a new key (tokens signed so far stop verifying)"
    )]
    ForeignSecret(String),
}

/// A key as an instance holds it.
pub struct LoadedKey {
    /// Its id.
    pub kid: String,
    /// Its algorithm.
    pub alg: SigningAlg,
    /// `next`, `active` or `retired`, as the last rotation pass recorded it.
    pub state: String,
    public: Vec<u8>,
    pub(crate) decoding: DecodingKey,
    /// `None` when the private key did not open (see [`KeySet::unusable`]).
    signer: Option<EncodingKey>,
    /// From when it signs (seconds since the epoch).
    pub activate_at: i64,
    /// When it leaves the JWKS, once retired.
    pub retire_after: Option<i64>,
}

/// The keys an instance signs with, verifies with and publishes.
#[derive(Default)]
pub struct KeySet {
    /// Oldest activation first.
    keys: Vec<LoadedKey>,
    unusable: Vec<UnusableKey>,
    /// When they were read from the database (seconds since the epoch).
    loaded_at: i64,
}

impl KeySet {
    /// Opens stored keys read at `loaded_at`: public keys always, private keys with `sealer`.
    pub fn load(rows: &[SigningKey], sealer: &Sealer, loaded_at: i64) -> KeySet {
        let mut set = KeySet {
            loaded_at,
            ..KeySet::default()
        };
        for row in rows {
            let Some(alg) = SigningAlg::parse(&row.alg).filter(|a| *a != SigningAlg::Hs256) else {
                set.unusable.push(UnusableKey {
                    kid: row.kid.clone(),
                    reason: "unknown algorithm",
                });
                continue;
            };
            let Ok(public) = URL_SAFE_NO_PAD.decode(&row.public_key) else {
                set.unusable.push(UnusableKey {
                    kid: row.kid.clone(),
                    reason: "the public key is not base64url",
                });
                continue;
            };
            let signer = match sealer.open(&row.kid, &row.private_key_sealed) {
                Ok(pkcs8) if public_key_of(alg, &pkcs8).as_deref() == Some(public.as_slice()) => {
                    Some(match alg {
                        SigningAlg::EdDsa => EncodingKey::from_ed_der(&pkcs8),
                        _ => EncodingKey::from_ec_der(&pkcs8),
                    })
                }
                Ok(_) => {
                    set.unusable.push(UnusableKey {
                        kid: row.kid.clone(),
                        reason: "the private key does not match the public key",
                    });
                    None
                }
                Err(_) => {
                    set.unusable.push(UnusableKey {
                        kid: row.kid.clone(),
                        reason: "the private key does not open under JWT_SECRET",
                    });
                    None
                }
            };
            let decoding = match alg {
                SigningAlg::EdDsa => DecodingKey::from_ed_der(&public),
                _ => DecodingKey::from_ec_der(&public),
            };
            set.keys.push(LoadedKey {
                kid: row.kid.clone(),
                alg,
                state: row.state.clone(),
                public,
                decoding,
                signer,
                activate_at: whole_seconds_up(row.activate_at),
                retire_after: row.retire_after.map(whole_seconds_up),
            });
        }
        set
    }

    /// The key that signs at `now`: the one activated last. `None` when there is none, when its
    /// private key did not open (an older key is never used instead: verifiers may already have
    /// dropped it), or when the keys were loaded more than `max_age` seconds ago: a key made after
    /// that may already sign elsewhere, and the one loaded here may be retired.
    pub fn signing_key(&self, now: i64, max_age: i64) -> Option<(&LoadedKey, &EncodingKey)> {
        if now - self.loaded_at > max_age {
            return None;
        }
        let key = self.keys.iter().rev().find(|k| k.activate_at <= now)?;
        key.signer.as_ref().map(|signer| (key, signer))
    }

    /// The published key `kid`.
    pub fn find(&self, kid: &str, now: i64) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.retire_after.is_none_or(|t| t > now))
    }

    /// The JWKS: every key published at `now`.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.retire_after.is_none_or(|t| t > now))
            .map(|k| jwk(k.alg, &k.kid, &k.public))
            .collect();
        json!({ "keys": keys })
    }

    /// Every key, oldest activation first.
    pub fn keys(&self) -> &[LoadedKey] {
        &self.keys
    }

    /// Keys that cannot sign here, and why (for the log and for start-up).
    pub fn unusable(&self) -> &[UnusableKey] {
        &self.unusable
    }

    /// The algorithms of the published keys, without repeats, oldest first.
    pub fn algorithms(&self, now: i64) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for key in self
            .keys
            .iter()
            .filter(|k| k.retire_after.is_none_or(|t| t > now))
        {
            if !names.contains(&key.alg.name()) {
                names.push(key.alg.name());
            }
        }
        names
    }

    /// Whether both sets publish the same keys.
    pub(crate) fn same_kids(&self, other: &KeySet) -> bool {
        self.keys.len() == other.keys.len() && self.keys.iter().zip(&other.keys).all(|(a, b)| a.kid == b.kid)
    }
}

/// A stored time in seconds since the epoch, rounded up: a key never signs before its time, and
/// leaves the JWKS no earlier than its time.
fn whole_seconds_up(at: NaiveDateTime) -> i64 {
    let at = at.and_utc();
    at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
}

/// `at` without its fraction of a second: the activation time of a key that signs at once, so that
/// instances (which switch at whole seconds, rounding up) use it at once too.
fn second_of(at: NaiveDateTime) -> NaiveDateTime {
    at.with_nanosecond(0).unwrap_or(at)
}

/// The public JWK of a key (RFC 7517), with `kid`, `use` and `alg`.
fn jwk(alg: SigningAlg, kid: &str, public: &[u8]) -> Value {
    let mut jwk = thumbprint_members(alg, public);
    jwk["kid"] = kid.into();
    jwk["use"] = "sig".into();
    jwk["alg"] = alg.name().into();
    jwk
}

/// The required members of the public JWK, the input of its RFC 7638 thumbprint.
fn thumbprint_members(alg: SigningAlg, public: &[u8]) -> Value {
    match alg {
        SigningAlg::EdDsa => json!({"crv": "Ed25519", "kty": "OKP", "x": URL_SAFE_NO_PAD.encode(public)}),
        _ => {
            // An uncompressed SEC1 point: 0x04 ‖ x ‖ y.
            let coordinates = public.get(1..).unwrap_or_default();
            let (x, y) = coordinates.split_at(coordinates.len() / 2);
            json!({
                "crv": "P-256",
                "kty": "EC",
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
            })
        }
    }
}

/// The RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, no whitespace
/// (serde_json's maps are sorted and compact), base64url.
fn thumbprint(alg: SigningAlg, public: &[u8]) -> String {
    let canonical = thumbprint_members(alg, public).to_string();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new key pair: (public key, PKCS#8 private key).
fn generate(alg: SigningAlg) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let rng = SystemRandom::new();
    let failed = |_| KeyError::Crypto("the system random source failed");
    let pkcs8 = match alg {
        SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?,
        _ => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?,
    };
    let pkcs8 = pkcs8.as_ref().to_vec();
    let public = public_key_of(alg, &pkcs8).ok_or(KeyError::Crypto("a new key does not parse"))?;
    Ok((public, pkcs8))
}

fn public_key_of(alg: SigningAlg, pkcs8: &[u8]) -> Option<Vec<u8>> {
    match alg {
        SigningAlg::EdDsa => Ed25519KeyPair::from_pkcs8(pkcs8)
            .ok()
            .map(|pair| pair.public_key().as_ref().to_vec()),
        _ => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .ok()
            .map(|pair| pair.public_key().as_ref().to_vec()),
    }
}

/// Makes and stores a key that signs from `activate_at`.
fn create(
    conn: &mut DbConn,
    sealer: &Sealer,
    alg: SigningAlg,
    state: &str,
    now: NaiveDateTime,
    activate_at: NaiveDateTime,
) -> Result<SigningKey, KeyError> {
    let (public, pkcs8) = generate(alg)?;
    let kid = thumbprint(alg, &public);
    let activate_at = if state == ACTIVE {
        second_of(activate_at)
    } else {
        activate_at
    };
    let key = SigningKey {
        private_key_sealed: sealer.seal(&kid, &pkcs8),
        kid,
        alg: alg.name().to_owned(),
        state: state.to_owned(),
        public_key: URL_SAFE_NO_PAD.encode(&public),
        created_at: now,
        activate_at,
        activated_at: (state == ACTIVE).then_some(activate_at),
        retired_at: None,
        retire_after: None,
    };
    signing_keys::insert(conn, &key)?;
    Ok(key)
}

/// What a rotation pass did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys made, with the time they start signing.
    pub created: Vec<(String, NaiveDateTime)>,
    /// Keys recorded as signing.
    pub activated: Vec<String>,
    /// Keys recorded as replaced.
    pub retired: Vec<String>,
    /// Retired keys deleted after their last token expired.
    pub deleted: usize,
}

impl Changes {
    /// Whether the pass changed nothing.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// How far back the first key's activation is dated: it can sign at once (no verifier knows any key
/// yet), and an instance whose clock is behind by up to this much signs with it at once too.
const FIRST_KEY_BACKDATE_SECS: i64 = 60;

/// One rotation pass at `now` (or later: the clock is read again once the lock is held), in one write
/// transaction under the cross-instance lock:
///
/// - refuses to change anything when a live key does not open under this process's `JWT_SECRET`
///   (a process with another secret would make keys no other instance can sign with);
/// - drops retired keys whose last token has expired;
/// - makes the first key when no key is live (it signs at once: no verifier can know a key yet);
/// - records the newest key whose time has come as active and the keys before it as retired (published
///   until their last token expired);
/// - makes the next key so that it is published at least `prepublish` before it signs: one refresh
///   interval before that is needed for a rotation on schedule, at once when the configured algorithm
///   changed.
///
/// A live key whose time has not come is never activated early, whatever this process's clock says
/// about the others. Returns the stored keys after the pass.
pub fn maintain(
    conn: &mut DbConn,
    sealer: &Sealer,
    policy: &KeyPolicy,
    now: NaiveDateTime,
) -> Result<(Vec<SigningKey>, Changes), KeyError> {
    write_transaction(conn, |conn| {
        signing_keys::lock(conn)?;
        let now = now.max(portcullis_db::now());
        let keys = signing_keys::all(conn)?;
        let live: Vec<&SigningKey> = keys.iter().filter(|k| k.state != RETIRED).collect();
        if let Some(foreign) = live
            .iter()
            .find(|k| sealer.open(&k.kid, &k.private_key_sealed).is_err())
        {
            return Err(KeyError::ForeignSecret(foreign.kid.clone()));
        }
        let mut changes = Changes {
            deleted: signing_keys::delete_expired(conn, now)?,
            ..Changes::default()
        };
        if live.is_empty() {
            let since = second_of(now) - chrono::Duration::seconds(FIRST_KEY_BACKDATE_SECS);
            let first = create(conn, sealer, policy.alg, ACTIVE, now, since)?;
            changes.created.push((first.kid, since));
        } else if let Some(due) = live.iter().rev().find(|k| k.activate_at <= now) {
            let since = due.activate_at;
            if due.state != ACTIVE {
                signing_keys::activate(conn, &due.kid, since)?;
                changes.activated.push(due.kid.clone());
            }
            for older in live.iter().filter(|k| k.kid != due.kid && k.activate_at <= since) {
                signing_keys::retire(conn, &older.kid, since, since + policy.overlap())?;
                changes.retired.push(older.kid.clone());
            }
        }
        let keys = signing_keys::all(conn)?;
        let active = keys.iter().rev().find(|k| k.state == ACTIVE);
        let pending = keys.iter().any(|k| k.state == NEXT);
        if let (Some(active), false) = (active, pending) {
            let earliest = now + to_chrono(policy.prepublish);
            let activate_at = if active.alg != policy.alg.name() {
                Some(earliest)
            } else {
                let due = active.activate_at + to_chrono(policy.rotation);
                // Made a refresh interval early, so that the next pass finds it and it takes over
                // exactly when due (rotations do not drift later by a pass each time).
                (due <= earliest + to_chrono(policy.refresh)).then_some(due.max(earliest))
            };
            if let Some(activate_at) = activate_at {
                let next = create(conn, sealer, policy.alg, NEXT, now, activate_at)?;
                changes.created.push((next.kid, activate_at));
            }
        }
        let keys = if changes.is_empty() {
            keys
        } else {
            signing_keys::all(conn)?
        };
        Ok((keys, changes))
    })
}

/// The outcome of `portcullis keys rotate`.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// A new key was made; it signs from the given time.
    Scheduled(String, NaiveDateTime),
    /// A successor was already waiting to take over at the given time; nothing was made.
    AlreadyPending(String, NaiveDateTime),
}

/// Starts a rotation now: a new key of the configured algorithm, published at once and signing
/// `prepublish` later. A rotation already under way is left as it is.
pub fn rotate(
    conn: &mut DbConn,
    sealer: &Sealer,
    policy: &KeyPolicy,
    now: NaiveDateTime,
) -> Result<(Rotation, Vec<SigningKey>), KeyError> {
    write_transaction(conn, |conn| {
        let (keys, _) = maintain(conn, sealer, policy, now)?;
        if let Some(next) = keys.iter().find(|k| k.state == NEXT) {
            return Ok((Rotation::AlreadyPending(next.kid.clone(), next.activate_at), keys));
        }
        let activate_at = now + to_chrono(policy.prepublish);
        let next = create(conn, sealer, policy.alg, NEXT, now, activate_at)?;
        Ok((
            Rotation::Scheduled(next.kid, activate_at),
            signing_keys::all(conn)?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 has no EC example; RFC 8037 §A.3 gives the Ed25519 key's thumbprint.
        let public = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(SigningAlg::EdDsa, &public),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    fn stored(alg: SigningAlg, sealer: &Sealer, activate_at: NaiveDateTime) -> SigningKey {
        let (public, pkcs8) = generate(alg).unwrap();
        let kid = thumbprint(alg, &public);
        SigningKey {
            private_key_sealed: sealer.seal(&kid, &pkcs8),
            kid,
            alg: alg.name().into(),
            state: ACTIVE.into(),
            public_key: URL_SAFE_NO_PAD.encode(&public),
            created_at: activate_at,
            activate_at,
            activated_at: None,
            retired_at: None,
            retire_after: None,
        }
    }

    #[test]
    fn only_a_due_fresh_openable_key_signs() {
        let sealer = sealer(b"secret-0123456789abcdef-0123456789abcdef");
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let old = stored(SigningAlg::Es256, &sealer, t0);
        let new = stored(
            SigningAlg::Es256,
            &sealer,
            t0 + chrono::Duration::milliseconds(100_500),
        );
        let now = t0.and_utc().timestamp();
        let set = KeySet::load(&[old.clone(), new.clone()], &sealer, now);
        let kid_at = |at: i64, max_age: i64| set.signing_key(at, max_age).map(|(k, _)| k.kid.clone());
        assert_eq!(kid_at(now + 100, 600), Some(old.kid.clone()));
        // 100.5 s after t0 is rounded up: the new key signs from 101 s, never before its time.
        assert_eq!(kid_at(now + 101, 600), Some(new.kid.clone()));
        // Keys loaded too long ago sign nothing.
        assert_eq!(kid_at(now + 601, 600), None);
        // A due key that does not open is not replaced by an older one.
        let foreign = super::sealer(b"another-secret-0123456789abcdef-0123456");
        let mixed = KeySet::load(
            &[old, stored(SigningAlg::Es256, &foreign, new.activate_at)],
            &sealer,
            now,
        );
        assert!(mixed.signing_key(now + 200, 600).is_none());
        assert_eq!(mixed.unusable().len(), 1);
    }

    #[test]
    fn new_keys_sign_tokens_their_jwk_verifies() {
        for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
            let (public, pkcs8) = generate(alg).unwrap();
            let encoding = match alg {
                SigningAlg::EdDsa => EncodingKey::from_ed_der(&pkcs8),
                _ => EncodingKey::from_ec_der(&pkcs8),
            };
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(alg.jwt()),
                &json!({"sub": "s", "exp": 4_000_000_000u64}),
                &encoding,
            )
            .unwrap();
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(jwk(alg, &thumbprint(alg, &public), &public)).unwrap();
            let decoded = jsonwebtoken::decode::<Value>(
                &token,
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &jsonwebtoken::Validation::new(alg.jwt()),
            )
            .unwrap();
            assert_eq!(decoded.claims["sub"], "s", "{alg:?}");
        }
    }
}
