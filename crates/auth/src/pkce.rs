//! PKCE (RFC 7636, S256 only) between the application and Portcullis: the application that starts a
//! sign-in keeps a verifier and sends its challenge; only a request carrying that verifier can turn
//! the resulting login code into tokens. This pair is separate from the one Portcullis uses with GitHub.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only method accepted: `plain` would put the verifier itself in the browser's URL.
pub const METHOD: &str = "S256";

/// Characters RFC 7636 allows in a verifier (its "unreserved" set).
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// A well-formed verifier: 43 to 128 unreserved characters.
pub fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

/// A well-formed S256 challenge: a SHA-256 in base64url without padding, so exactly 43 characters.
pub fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// `BASE64URL(SHA256(verifier))`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is well-formed and its S256 challenge is `challenge`, compared in constant time
/// so that the comparison leaks nothing about how much of a guess was right.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    is_verifier(verifier) && bool::from(challenge_of(verifier).as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636, appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_matches() {
        assert_eq!(challenge_of(VERIFIER), CHALLENGE);
        assert!(is_challenge(CHALLENGE));
        assert!(verifier_matches(VERIFIER, CHALLENGE));
    }

    #[test]
    fn wrong_or_malformed_verifiers_do_not_match() {
        let other = format!("{}A", &VERIFIER[..42]);
        assert!(!verifier_matches(&other, CHALLENGE));
        // The challenge itself is not a verifier of itself.
        assert!(!verifier_matches(CHALLENGE, CHALLENGE));
        // Too short, too long, or outside the alphabet, even when the digest would match.
        let short = "a".repeat(42);
        assert!(!verifier_matches(&short, &challenge_of(&short)));
        let long = "a".repeat(129);
        assert!(!verifier_matches(&long, &challenge_of(&long)));
        let spaced = format!("{} ", "a".repeat(43));
        assert!(!verifier_matches(&spaced, &challenge_of(&spaced)));
        assert!(verifier_matches(
            &"a~.-_".repeat(20),
            &challenge_of(&"a~.-_".repeat(20))
        ));
        assert!(!verifier_matches(VERIFIER, ""));
    }

    #[test]
    fn challenges_are_43_base64url_characters() {
        assert!(!is_challenge(&CHALLENGE[..42]));
        assert!(!is_challenge(&format!("{CHALLENGE}=")));
        assert!(!is_challenge(&CHALLENGE.replace('-', "+")));
        assert!(!is_challenge(VERIFIER.trim_end_matches('k')));
    }
}
