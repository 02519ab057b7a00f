//! Second-factor helpers: TOTP codes computed from an enrolment's secret with totp-rs (independent of
//! the server's code), at explicit 30-second steps, and the `amr` of an access token.

use base64::Engine;
use serde_json::Value;
use totp_rs::{Algorithm, TOTP};

use crate::JsonExt;

/// The current 30-second step, after waiting out the last seconds of a step, so that the steps
/// `base − 1`, `base` and `base + 1` all stay within the server's window for the rest of the test.
pub async fn fresh_step() -> u64 {
    loop {
        let now = unix_now();
        if now % 30 < 22 {
            return now / 30;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}

/// The code of `secret` (base32, as the enrolment shows it) for `step`.
pub fn totp_code(secret: &str, step: u64) -> String {
    let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret).expect("base32 secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes).generate(step * 30)
}

/// A six-digit code that is the code of no step in the window around `base`.
pub fn wrong_totp_code(secret: &str, base: u64) -> String {
    let window: Vec<String> = (base - 1..=base + 1).map(|s| totp_code(secret, s)).collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .expect("a wrong code")
}

/// The `amr` claim of the access token of a token response (read without checking it).
pub fn amr(tokens: &Value) -> Value {
    let payload = tokens.str_at("access_token").split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["amr"].clone()
}
