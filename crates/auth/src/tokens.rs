//! Access tokens (JWT: ES256 or EdDSA from the key ring, or HS256 with `JWT_SECRET`) and opaque
//! refresh tokens.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::key_ring::KeyRing;
use crate::signing::{KeyPolicy, SigningAlg};

/// The JWT `typ` of access tokens (RFC 9068).
const ACCESS_TYP: &str = "at+jwt";
/// Clock skew tolerated between servers, in seconds (jsonwebtoken's default is 60).
pub(crate) const LEEWAY_SECS: u64 = 5;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// How the user signed in (RFC 8176): `pwd` or `github`, plus `otp` after a second factor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// Why an access token was refused (for the log; the client only learns "invalid token").
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, wrong algorithm or `typ`, bad signature, wrong issuer or audience, expired, not yet
    /// valid, or missing a required claim.
    #[error("invalid access token: {0}")]
    Invalid(String),
}

/// Why an access token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No loaded key signs now: none was loaded recently enough (the rotation passes fail, so the
    /// database is unreachable), or the active one does not open under `JWT_SECRET`.
    #[error("no signing key is usable now (loaded too long ago, or sealed under another JWT_SECRET)")]
    NoKey,
    /// The JWT library refused.
    #[error("signing failed: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl From<SignError> for portcullis_web::ApiError {
    fn from(err: SignError) -> Self {
        match err {
            // Keys go stale only while rotation passes fail, which is a database that does not answer.
            SignError::NoKey => portcullis_web::ApiError::ServiceUnavailable {
                cause: err.to_string(),
                retry_after_secs: 5,
            },
            SignError::Jwt(_) => portcullis_web::ApiError::internal(err),
        }
    }
}

/// Signs and verifies access tokens (with the key ring, or with `JWT_SECRET` under HS256), and
/// derives the other server-side MACs from `JWT_SECRET`.
pub struct TokenKeys {
    signing: Signing,
    issuer: String,
    audience: String,
    successor_key: Vec<u8>,
    device_key: Vec<u8>,
}

// One per process: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Signing {
    /// `JWT_ALG=HS256`.
    Secret {
        encoding: EncodingKey,
        decoding: DecodingKey,
        validation: Validation,
    },
    /// ES256 or EdDSA keys from `signing_keys`.
    Keys(KeyRing),
}

impl TokenKeys {
    /// HS256 keys for this secret, issuer and audience.
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> TokenKeys {
        TokenKeys::build(
            secret,
            issuer,
            audience,
            Signing::Secret {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation: validation(Algorithm::HS256, issuer, audience),
            },
        )
    }

    /// Keys that sign with the rotating key pairs of `policy` (loaded by [`KeyRing::sync`]).
    pub fn with_key_ring(secret: &[u8], issuer: &str, audience: &str, policy: KeyPolicy) -> TokenKeys {
        let ring = KeyRing::new(secret, issuer, audience, policy);
        TokenKeys::build(secret, issuer, audience, Signing::Keys(ring))
    }

    fn build(secret: &[u8], issuer: &str, audience: &str, signing: Signing) -> TokenKeys {
        TokenKeys {
            signing,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            // A separate key for refresh successors, so no value is ever signed under two meanings.
            successor_key: hmac_sha256(secret, b"portcullis refresh-token successor v1"),
            device_key: hmac_sha256(secret, b"portcullis device cookie v1"),
        }
    }

    /// The key ring, unless tokens are HS256.
    pub fn ring(&self) -> Option<&KeyRing> {
        match &self.signing {
            Signing::Keys(ring) => Some(ring),
            Signing::Secret { .. } => None,
        }
    }

    /// The algorithm new tokens are signed with.
    pub fn algorithm(&self) -> SigningAlg {
        match &self.signing {
            Signing::Keys(ring) => ring.policy.alg,
            Signing::Secret { .. } => SigningAlg::Hs256,
        }
    }

    /// A signed access token for this session, valid `ttl_secs` from `now` (seconds since the epoch).
    pub fn issue_access(
        &self,
        user_id: &str,
        session_id: &str,
        amr: &[String],
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, SignError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            amr: amr.to_vec(),
        };
        match &self.signing {
            Signing::Secret { encoding, .. } => {
                let mut header = Header::new(Algorithm::HS256);
                header.typ = Some(ACCESS_TYP.to_owned());
                Ok(encode(&header, &claims, encoding)?)
            }
            Signing::Keys(ring) => {
                let set = ring.current();
                let (key, signer) = set.signing_key(now, ring.max_age()).ok_or(SignError::NoKey)?;
                let mut header = Header::new(key.alg.jwt());
                header.typ = Some(ACCESS_TYP.to_owned());
                header.kid = Some(key.kid.clone());
                Ok(encode(&header, &claims, signer)?)
            }
        }
    }

    /// Verifies signature, algorithm (pinned: HS256 with the secret; with key pairs, the algorithm
    /// of the published key the `kid` names), `typ`, issuer, audience, `exp` and `nbf`.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        match &self.signing {
            Signing::Secret {
                decoding, validation, ..
            } => {
                let header = decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
                check_header(&header)?;
                if header.alg != Algorithm::HS256 {
                    return Err(TokenError::Invalid(format!("unexpected alg {:?}", header.alg)));
                }
                decode::<Claims>(token, decoding, validation)
                    .map(|data| data.claims)
                    .map_err(|e| TokenError::Invalid(e.to_string()))
            }
            Signing::Keys(ring) => ring.verify(token),
        }
    }

    /// The refresh token that replaces `token`. Derived, not random, so that a retry within the
    /// grace window gets the very same successor without the server storing a usable token.
    pub fn successor_of(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.successor_key, token.as_bytes()))
    }
}

impl TokenKeys {
    /// The signature of a device cookie: binds a device id to the account (normalised email) that
    /// signed in on it, so a cookie cannot be forged or moved to another account.
    pub fn device_tag(&self, email_normalized: &str, device_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.device_key,
            &device_message(email_normalized, device_id),
        ))
    }

    /// Whether `tag` is the device tag of this account and device (compared in constant time).
    pub fn device_tag_matches(&self, email_normalized: &str, device_id: &str, tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.device_key) else {
            return false;
        };
        mac.update(&device_message(email_normalized, device_id));
        mac.verify_slice(&tag).is_ok()
    }
}

/// The `typ` every access token carries.
pub(crate) fn check_header(header: &Header) -> Result<(), TokenError> {
    if header.typ.as_deref() != Some(ACCESS_TYP) {
        return Err(TokenError::Invalid(format!("unexpected typ {:?}", header.typ)));
    }
    Ok(())
}

/// The checks every access token passes: `alg`, issuer, audience, `exp` and `nbf` (with a small
/// leeway), and the presence of the claims access control relies on.
pub(crate) fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.required_spec_claims = ["exp", "nbf", "iss", "aud", "sub"]
        .iter()
        .map(|c| c.to_string())
        .collect::<HashSet<_>>();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

fn device_message(email_normalized: &str, device_id: &str) -> Vec<u8> {
    format!("{email_normalized}\n{device_id}").into_bytes()
}

/// A new random secret token: 256 bits, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a secret token: its SHA-256, hex. A lookup by hash reveals nothing useful
/// through timing, since a caller cannot choose the hash's bytes.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Sha256::digest([key, message].concat()).to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789";
    const ISS: &str = "http://127.0.0.1:8080";
    const AUD: &str = "portcullis";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, ISS, AUD)
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn forge(header: serde_json::Value, claims: serde_json::Value, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, format!("{h}.{c}").as_bytes()));
        format!("{h}.{c}.{signature}")
    }

    fn claims(overrides: &[(&str, serde_json::Value)]) -> serde_json::Value {
        let t = now();
        let mut claims = serde_json::json!({
            "iss": ISS, "aud": AUD, "sub": "user-1", "sid": "session-1",
            "iat": t, "nbf": t, "exp": t + 600, "jti": "j"
        });
        for (key, value) in overrides {
            match value {
                serde_json::Value::Null => {
                    claims.as_object_mut().unwrap().remove(*key);
                }
                other => claims[*key] = other.clone(),
            }
        }
        claims
    }

    fn header() -> serde_json::Value {
        serde_json::json!({"alg": "HS256", "typ": "at+jwt"})
    }

    #[test]
    fn issued_tokens_verify() {
        let token = keys()
            .issue_access("user-1", "session-1", &[], now(), 900)
            .unwrap();
        let claims = keys().verify_access(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("user-1", "session-1")
        );
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(
            keys()
                .verify_access(&forge(header(), self::claims(&[]), SECRET))
                .unwrap()
                .sub,
            "user-1"
        );
    }

    #[test]
    fn forged_and_stale_tokens_are_refused() {
        let t = now();
        let cases: Vec<(&str, String)> = vec![
            (
                "alg none",
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
                    URL_SAFE_NO_PAD.encode(claims(&[]).to_string())
                ),
            ),
            (
                "another key",
                forge(header(), claims(&[]), b"another-secret-0123456789abcdef-012345"),
            ),
            (
                "wrong typ",
                forge(
                    serde_json::json!({"alg": "HS256", "typ": "JWT"}),
                    claims(&[]),
                    SECRET,
                ),
            ),
            (
                "HS512",
                forge(
                    serde_json::json!({"alg": "HS512", "typ": "at+jwt"}),
                    claims(&[]),
                    SECRET,
                ),
            ),
            (
                "expired",
                forge(
                    header(),
                    claims(&[
                        ("exp", (t - 60).into()),
                        ("iat", (t - 960).into()),
                        ("nbf", (t - 960).into()),
                    ]),
                    SECRET,
                ),
            ),
            (
                "nbf in the future",
                forge(header(), claims(&[("nbf", (t + 120).into())]), SECRET),
            ),
            (
                "wrong issuer",
                forge(
                    header(),
                    claims(&[("iss", "https://evil.example".into())]),
                    SECRET,
                ),
            ),
            (
                "wrong audience",
                forge(header(), claims(&[("aud", "other".into())]), SECRET),
            ),
            (
                "missing exp",
                forge(header(), claims(&[("exp", serde_json::Value::Null)]), SECRET),
            ),
            (
                "missing iss",
                forge(header(), claims(&[("iss", serde_json::Value::Null)]), SECRET),
            ),
            (
                "missing aud",
                forge(header(), claims(&[("aud", serde_json::Value::Null)]), SECRET),
            ),
            (
                "missing nbf",
                forge(header(), claims(&[("nbf", serde_json::Value::Null)]), SECRET),
            ),
            ("garbage", "not.a.jwt".into()),
            ("empty", String::new()),
        ];
        for (name, token) in cases {
            assert!(keys().verify_access(&token).is_err(), "{name} must be refused");
        }
    }

    #[test]
    fn a_tampered_payload_breaks_the_signature() {
        let token = keys()
            .issue_access("user-1", "session-1", &[], now(), 900)
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let tampered = String::from_utf8(payload).unwrap().replace("user-1", "user-2");
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(tampered), parts[2]);
        assert!(keys().verify_access(&forged).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_hashed_and_have_stable_successors() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(keys().successor_of(&a), keys().successor_of(&a));
        assert_ne!(keys().successor_of(&a), a);
        assert_ne!(
            TokenKeys::new(b"another-secret-0123456789abcdef-012345", ISS, AUD).successor_of(&a),
            keys().successor_of(&a)
        );
    }
}
