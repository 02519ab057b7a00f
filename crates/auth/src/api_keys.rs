//! API key format: `pcs_` + 43 random base62 characters (256 bits) + 6 base62 characters of CRC-32.
//!
//! The fixed prefix and the checksum let secret scanners recognise a leaked key without asking us (as
//! GitHub's tokens do), and let the server refuse a mistyped or made-up key without a database lookup.

use rand::Rng;

/// Every key starts with this.
pub const PREFIX: &str = "pcs_";
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 43 characters of base62 carry 256 bits.
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// How much of a key lists show.
const DISPLAY_LEN: usize = 12;

/// A new key.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{PREFIX}{random}{}", checksum(&random))
}

/// Whether `token` has the shape and checksum of a key (says nothing of whether it exists).
pub fn is_well_formed(token: &str) -> bool {
    let Some(body) = token.strip_prefix(PREFIX) else {
        return false;
    };
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| ALPHABET.contains(&b)) {
        return false;
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    checksum(random) == check
}

/// Whether a bearer token is meant as an API key (then it is judged as one, never as a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// What lists show of a key.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_LEN).collect()
}

fn checksum(random: &str) -> String {
    let mut value = u64::from(crc32fast::hash(random.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let key = generate();
        assert!(key.starts_with("pcs_"));
        assert_eq!(key.len(), 4 + 43 + 6);
        assert!(is_well_formed(&key));
        assert_ne!(key, generate());
        assert_eq!(display_prefix(&key).len(), 12);
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let key = generate();
        let mut bytes = key.into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(!is_well_formed(&altered));
        assert!(!is_well_formed("pcs_short"));
        assert!(!is_well_formed("ghp_0123456789"));
    }
}
