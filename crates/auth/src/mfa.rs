//! Second factors: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step either way),
//! recovery codes, and the challenge a sign-in waits in between its two factors. The operations take
//! a connection inside the caller's transaction, so the API handlers and the hosted pages share them.
//!
//! - The TOTP secret (160 random bits) is shown once at enrolment and stored sealed
//!   ([`portcullis_db::Sealer`]: AES-256-GCM under a key derived from `JWT_SECRET`, bound to the user
//!   id, so a sealed secret copied onto another account does not open).
//! - A step is accepted once: the newest accepted step is stored, and a code of that step or an
//!   older one is refused, even within its 90-second window.
//! - Recovery codes: 10 codes of 80 random bits, shown once, stored as SHA-256, each usable once.

use portcullis_db::mfa::{self, Challenge};
use portcullis_db::{DbConn, Sealer};
use portcullis_web::ApiError;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::tokens::{hash_token, random_token};

/// RFC 6238 defaults, which every authenticator app assumes.
const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
/// How long an `mfa_token` lasts.
pub(crate) const CHALLENGE_TTL_SECS: i64 = 5 * 60;
/// Recovery codes in a set.
pub(crate) const RECOVERY_CODES: usize = 10;

/// Seals and opens TOTP secrets (bound to their user).
#[derive(Debug)]
pub(crate) struct SecretBox {
    sealer: Sealer,
}

impl SecretBox {
    /// A key derived from `JWT_SECRET` for this purpose only.
    pub(crate) fn new(jwt_secret: &[u8]) -> SecretBox {
        SecretBox {
            sealer: Sealer::derive(jwt_secret, "portcullis totp secret sealing v1"),
        }
    }

    pub(crate) fn seal(&self, user_id: &str, secret: &[u8]) -> String {
        self.sealer.seal(user_id, secret)
    }

    /// The secret, or an internal error when the sealed value was altered, belongs to another user or
    /// was sealed under another `JWT_SECRET`.
    pub(crate) fn open(&self, user_id: &str, sealed: &str) -> Result<Vec<u8>, ApiError> {
        self.sealer.open(user_id, sealed).map_err(ApiError::internal)
    }
}

/// A new 160-bit TOTP secret (RFC 4226's recommended length).
pub(crate) fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The secret as authenticator apps take it: base32 without padding.
pub(crate) fn base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// The `otpauth://` URI of an enrolment (Google Authenticator's key URI format).
pub(crate) fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{issuer}:{account}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(&label),
        base32(secret),
        percent_encode(issuer)
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The code of `secret` for the step containing `unix_time`, with `digits` digits.
pub fn totp_code(secret: &[u8], unix_time: u64, digits: usize) -> String {
    TOTP::new_unchecked(Algorithm::SHA1, digits, 0, STEP_SECS, secret.to_vec()).generate(unix_time)
}

/// The step (`unix_time / 30`) among the current one and its two neighbours whose code is `code`.
pub(crate) fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = unix_time / STEP_SECS;
    // Every candidate is computed and compared, so the timing says nothing about which matched.
    let mut found = None;
    for candidate in [step.saturating_sub(1), step, step + 1] {
        let expected = totp_code(secret, candidate * STEP_SECS, DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(candidate);
        }
    }
    found.and_then(|step| i64::try_from(step).ok())
}

/// A new set of recovery codes (`xxxx-xxxx-xxxx-xxxx`, base32, 80 bits) and their hashes.
pub(crate) fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rng().fill_bytes(&mut bytes);
            let plain = base32(&bytes).to_ascii_lowercase();
            let code = plain
                .as_bytes()
                .chunks(4)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect::<Vec<_>>()
                .join("-");
            let hash = recovery_hash(&code);
            (code, hash)
        })
        .unzip()
}

/// What is stored for a recovery code: the hash of its canonical form (lower case, no dashes or
/// spaces), so `ABCD EFGH…` typed by hand matches `abcd-efgh-…`.
pub(crate) fn recovery_hash(code: &str) -> String {
    let canonical: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hash_token(&canonical)
}

/// Whether `code` looks like a recovery code rather than a TOTP (anything but six digits).
pub(crate) fn is_recovery_code(code: &str) -> bool {
    let code = code.trim();
    !(code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a second factor for `user_id`: a TOTP of an unused step of their confirmed authenticator,
/// or (when `allow_recovery`) one of their unused recovery codes, which is spent. False for anything
/// else; a pending (unconfirmed) authenticator is checked only when `pending` is set.
pub(crate) fn check_code(
    conn: &mut DbConn,
    secrets: &SecretBox,
    user_id: &str,
    code: &str,
    allow_recovery: bool,
    pending: bool,
) -> Result<bool, ApiError> {
    let now = portcullis_db::now();
    if allow_recovery && is_recovery_code(code) {
        return Ok(mfa::spend_recovery_code(
            conn,
            user_id,
            &recovery_hash(code),
            now,
        )?);
    }
    let Some(factor) = mfa::factor(conn, user_id)? else {
        return Ok(false);
    };
    if factor.confirmed_at.is_some() == pending {
        return Ok(false);
    }
    let secret = secrets.open(user_id, &factor.secret_sealed)?;
    let unix_time = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    match matching_step(&secret, code, unix_time) {
        Some(step) => Ok(mfa::accept_step(conn, user_id, step)?),
        None => Ok(false),
    }
}

/// Opens a challenge for a sign-in whose first factor (`pwd`, `github`) passed; returns the
/// `mfa_token`.
pub(crate) fn open_challenge(
    conn: &mut DbConn,
    user_id: &str,
    first_factor: &str,
) -> Result<String, ApiError> {
    let token = random_token();
    let now = portcullis_db::now();
    mfa::insert_challenge(
        conn,
        &Challenge {
            token_hash: hash_token(&token),
            user_id: user_id.to_owned(),
            first_factor: first_factor.to_owned(),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(CHALLENGE_TTL_SECS),
            used_at: None,
        },
    )?;
    Ok(token)
}

/// 401 `mfa_required` with the `mfa_token` to send to `/auth/mfa/verify`.
pub(crate) fn required(mfa_token: String) -> ApiError {
    ApiError::MfaRequired { mfa_token }
}

/// 400 `invalid_code`.
pub(crate) fn invalid_code() -> ApiError {
    ApiError::BadRequest {
        code: "invalid_code",
        detail: "the code is wrong, expired or already used".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 column (secret "12345678901234567890", 8 digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp_code(secret, time, 8), code, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = totp_code(&secret, now, 6);
        let step = i64::try_from(now / 30).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(step));
        assert_eq!(matching_step(&secret, &code, now - 30), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 60), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_key() {
        let sealer = SecretBox::new(b"a-jwt-secret-of-at-least-32-bytes!!");
        let secret = new_secret();
        let sealed = sealer.seal("user-1", &secret);
        assert!(!sealed.contains(&base32(&secret)));
        assert_eq!(sealer.open("user-1", &sealed).unwrap(), secret);
        assert!(sealer.open("user-2", &sealed).is_err(), "bound to its user");
        let other = SecretBox::new(b"another-jwt-secret-of-32-bytes-or-more");
        assert!(other.open("user-1", &sealed).is_err(), "bound to its key");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_match_however_typed() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        assert_eq!(codes[0].len(), 19, "{}", codes[0]);
        assert!(is_recovery_code(&codes[0]));
        assert!(!is_recovery_code("123456"));
        assert_eq!(
            recovery_hash(&codes[0].to_uppercase().replace('-', " ")),
            hashes[0]
        );
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Portcullis", "ada+1@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Portcullis:ada%2B1@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Portcullis&algorithm=SHA1&digits=6&period=30"
        );
    }
}
