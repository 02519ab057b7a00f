//! What signing and verifying one access token costs, per algorithm, on one core in this process:
//! the same jsonwebtoken calls (aws-lc-rs backend) and claims as the server. Reported beside the HTTP
//! ratios, since S2 verifies a token per request and S5 signs one per refresh.

use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use crate::{fail, Result};

/// One algorithm's cost in microseconds per operation.
pub struct TokenCost {
    /// ES256, EdDSA or HS256.
    pub alg: &'static str,
    /// Signing one access token.
    pub sign_us: f64,
    /// Verifying one (signature and claims).
    pub verify_us: f64,
}

/// Measures each algorithm over `iterations` tokens, and the SHA-256 of a token (what a request
/// whose token was verified before pays instead of the signature check).
pub fn measure(iterations: u32) -> Result<(Vec<TokenCost>, f64)> {
    let rng = SystemRandom::new();
    let ec =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(fail("P-256 key"))?;
    let ec_public = aws_lc_rs::signature::KeyPair::public_key(
        &EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec.as_ref())
            .map_err(fail("P-256 key"))?,
    )
    .as_ref()
    .to_vec();
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).map_err(fail("Ed25519 key"))?;
    let ed_public = aws_lc_rs::signature::KeyPair::public_key(
        &Ed25519KeyPair::from_pkcs8(ed.as_ref()).map_err(fail("Ed25519 key"))?,
    )
    .as_ref()
    .to_vec();
    let secret = b"bench-jwt-secret-0123456789abcdef-0123456789";
    let keys = [
        (
            "ES256",
            Algorithm::ES256,
            EncodingKey::from_ec_der(ec.as_ref()),
            DecodingKey::from_ec_der(&ec_public),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(ed.as_ref()),
            DecodingKey::from_ed_der(&ed_public),
        ),
        (
            "HS256",
            Algorithm::HS256,
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        ),
    ];
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "http://127.0.0.1:8080", "aud": "portcullis", "sub": uuid::Uuid::now_v7().to_string(),
        "sid": uuid::Uuid::now_v7().to_string(), "iat": now, "nbf": now, "exp": now + 900,
        "jti": uuid::Uuid::now_v7().to_string(), "amr": ["pwd"],
    });
    let mut costs = Vec::new();
    let mut last_token = String::new();
    for (name, alg, encoding, decoding) in &keys {
        let mut header = Header::new(*alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k".repeat(43));
        let started = Instant::now();
        let mut token = String::new();
        for _ in 0..iterations {
            token = jsonwebtoken::encode(&header, &claims, encoding).map_err(fail("sign"))?;
        }
        let sign_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        let mut validation = Validation::new(*alg);
        validation.set_issuer(&["http://127.0.0.1:8080"]);
        validation.set_audience(&["portcullis"]);
        let started = Instant::now();
        for _ in 0..iterations {
            jsonwebtoken::decode::<Value>(&token, decoding, &validation).map_err(fail("verify"))?;
        }
        let verify_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        costs.push(TokenCost {
            alg: name,
            sign_us,
            verify_us,
        });
        if *name == "ES256" {
            last_token = token;
        }
    }
    let started = Instant::now();
    let mut sink = 0u8;
    for _ in 0..iterations {
        sink ^= aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, last_token.as_bytes()).as_ref()[0];
    }
    let hash_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    std::hint::black_box(sink);
    Ok((costs, hash_us))
}
