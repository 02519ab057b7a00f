//! The signing keys an instance holds, reloaded by each rotation pass, and the verification of access
//! tokens against them.
//!
//! An ES256 signature check costs tens of microseconds, several times what the rest of an
//! authenticated read costs, and a client sends the same access token with every request for its
//! lifetime. So a token whose signature and claims have been verified is remembered (by its
//! SHA-256, with its claims and `kid`), and later requests with the same bytes only re-check the times
//! and that the key is still published. Only verified tokens enter, so a client cannot fill the cache
//! with garbage; the cache is emptied when the published keys change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::NaiveDateTime;
use jsonwebtoken::{decode, decode_header, Validation};
use portcullis_db::{DbConn, Sealer};
use sha2::{Digest, Sha256};

use crate::signing::{self, Changes, KeyError, KeyPolicy, KeySet, SigningAlg};
use crate::tokens::{check_header, validation, Claims, TokenError, LEEWAY_SECS};

/// Tokens remembered at most; past this the cache starts over (live tokens are verified again once).
const VERIFIED_CAPACITY: usize = 16_384;

/// The current [`KeySet`] and what verifying against it needs.
pub struct KeyRing {
    set: RwLock<Arc<KeySet>>,
    sealer: Sealer,
    pub(crate) policy: KeyPolicy,
    es256: Validation,
    eddsa: Validation,
    verified: Mutex<HashMap<[u8; 32], Remembered>>,
}

/// A verified token's claims and the key that verified it.
#[derive(Clone)]
struct Remembered {
    claims: Claims,
    kid: String,
}

impl KeyRing {
    pub(crate) fn new(secret: &[u8], issuer: &str, audience: &str, policy: KeyPolicy) -> KeyRing {
        KeyRing {
            set: RwLock::new(Arc::new(KeySet::default())),
            sealer: signing::sealer(secret),
            policy,
            es256: validation(SigningAlg::Es256.jwt(), issuer, audience),
            eddsa: validation(SigningAlg::EdDsa.jwt(), issuer, audience),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The keys as last loaded.
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.set.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The rotation schedule.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// One rotation pass ([`signing::maintain`]) at `now`, then a reload of the keys.
    pub fn sync(&self, conn: &mut DbConn, now: NaiveDateTime) -> Result<Changes, KeyError> {
        let (rows, changes) = signing::maintain(conn, &self.sealer, &self.policy, now)?;
        let loaded_at = portcullis_db::now().and_utc().timestamp();
        self.install(KeySet::load(&rows, &self.sealer, loaded_at));
        Ok(changes)
    }

    /// How old the loaded keys may be for signing: a key made after they were loaded signs no
    /// earlier than `prepublish` after it was made.
    pub fn max_age(&self) -> i64 {
        i64::try_from(self.policy.prepublish.as_secs()).unwrap_or(i64::MAX)
    }

    fn install(&self, set: KeySet) {
        let mut current = self.set.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = current.same_kids(&set);
        *current = Arc::new(set);
        drop(current);
        if !same {
            self.remembered().clear();
        }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Remembered>> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Verifies an access token against the published key its `kid` names, with that key's algorithm.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let set = self.current();
        let remembered = self.remembered().get(&digest).cloned();
        // Its key must still be published: the set may have changed between the check that put it
        // here and the clearing of the cache.
        if let Some(remembered) = remembered.filter(|r| set.find(&r.kid, now).is_some()) {
            return in_time(remembered.claims, now);
        }
        let header = decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        check_header(&header)?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
        let key = set
            .find(kid, now)
            .ok_or_else(|| TokenError::Invalid(format!("unknown kid {kid:?}")))?;
        if header.alg != key.alg.jwt() {
            return Err(TokenError::Invalid(format!(
                "alg {:?} for a {} key",
                header.alg,
                key.alg.name()
            )));
        }
        let validation = match key.alg {
            SigningAlg::EdDsa => &self.eddsa,
            _ => &self.es256,
        };
        let claims = decode::<Claims>(token, &key.decoding, validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?
            .claims;
        let mut remembered = self.remembered();
        if remembered.len() >= VERIFIED_CAPACITY {
            remembered.clear();
        }
        remembered.insert(
            digest,
            Remembered {
                claims: claims.clone(),
                kid: kid.to_owned(),
            },
        );
        Ok(claims)
    }
}

/// The time checks of jsonwebtoken's validation, for a token whose signature and other claims passed.
fn in_time(claims: Claims, now: i64) -> Result<Claims, TokenError> {
    let leeway = LEEWAY_SECS as i64;
    if claims.exp < now - leeway {
        return Err(TokenError::Invalid("ExpiredSignature".into()));
    }
    if claims.nbf > now + leeway {
        return Err(TokenError::Invalid("ImmatureSignature".into()));
    }
    Ok(claims)
}
