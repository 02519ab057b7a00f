//! Values stored sealed: AES-256-GCM under a key derived from a server secret for one purpose, with
//! associated data that binds a sealed value to its row (a value copied onto another row does not
//! open). Used for what must be readable again but must not sit in the database in the clear: TOTP
//! secrets, queued mail bodies that carry a token link.

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The stored form's version prefix.
const PREFIX: &str = "v1.";

/// Seals and opens values for one purpose.
pub struct Sealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

/// A sealed value that does not open: altered, sealed for another row, or under another secret.
#[derive(Debug, thiserror::Error)]
#[error("a sealed value does not open (altered, another row's, or the server secret changed)")]
pub struct Unsealable;

impl Sealer {
    /// The sealer of `purpose` (a fixed string naming what is sealed), keyed by HMAC-SHA-256 of it
    /// under `secret`, so each purpose has its own key.
    pub fn derive(secret: &[u8], purpose: &str) -> Sealer {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), purpose.as_bytes());
        // A 32-byte key is what AES-256-GCM takes, so this cannot fail.
        let key = RandomizedNonceKey::new(&AES_256_GCM, derived.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC-SHA-256 yields a 32-byte key"));
        Sealer { key }
    }

    /// `v1.` + base64url(nonce ‖ ciphertext ‖ tag), bound to `context` (e.g. the row's id).
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let mut data = plain.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut data)
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any input under 64 GiB"));
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The plain value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Unsealable> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(Unsealable)?;
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_context_purpose_and_secret() {
        let secret = b"a-server-secret-of-at-least-32-bytes";
        let sealer = Sealer::derive(secret, "test purpose v1");
        let sealed = sealer.seal("row-1", b"the value");
        assert!(!sealed.contains("the value"));
        assert_eq!(sealer.open("row-1", &sealed).unwrap(), b"the value");
        assert!(sealer.open("row-2", &sealed).is_err(), "bound to its row");
        assert!(Sealer::derive(secret, "other purpose v1")
            .open("row-1", &sealed)
            .is_err());
        assert!(
            Sealer::derive(b"another-secret-of-32-bytes-or-more!!", "test purpose v1")
                .open("row-1", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(sealer.open("row-1", &tampered).is_err());
        assert_ne!(
            sealer.seal("row-1", b"the value"),
            sealed,
            "a fresh nonce each time"
        );
    }
}
