//! Secrets: `JWT_SECRET` and `SESSION_SECRET`, generated and kept in development, and the heuristic
//! that tells a chosen secret from a random one.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use base64::Engine;
use rand::RngCore;

use super::reader::Reader;
use super::AppEnv;

/// The shortest `JWT_SECRET` accepted, in bytes.
pub(super) const JWT_SECRET_MIN: usize = 32;
/// The shortest `SESSION_SECRET` accepted, in bytes (the cookie key needs 64).
pub(super) const SESSION_SECRET_MIN: usize = 64;

/// A secret value; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The raw bytes, for key derivation.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(super) fn from_text(text: &str) -> Secret {
        Secret(text.as_bytes().to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

impl Reader<'_> {
    /// A secret of at least `min_len` bytes: required in production, generated once and kept in the
    /// data folder in development.
    pub(super) fn secret(
        &mut self,
        name: &str,
        min_len: usize,
        env: AppEnv,
        data_dir: &Path,
    ) -> Option<Secret> {
        match (self.get(name), env) {
            (Some(value), _) if value.len() >= min_len => Some(Secret::from_text(value)),
            (Some(_), _) => {
                self.problem(format!("{name} must be at least {min_len} bytes long"));
                None
            }
            (None, AppEnv::Production) => {
                self.problem(format!(
                    "{name} is required in production (at least {min_len} random bytes)"
                ));
                None
            }
            (None, AppEnv::Development) => match load_or_generate(data_dir, name, min_len) {
                Ok(secret) => Some(secret),
                Err(err) => {
                    self.problem(format!(
                        "{name} is not set and none could be kept in {}: {err}",
                        data_dir.display()
                    ));
                    None
                }
            },
        }
    }
}

/// Placeholders people paste into secrets (lower case, letters and digits only), including the
/// examples of `.env.example` ("at-least-32-bytes").
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "secret",
    "password",
    "passwd",
    "placeholder",
    "example",
    "atleast",
    "replace",
    "default",
    "dummy",
    "sample",
    "insecure",
    "qwerty",
    "letmein",
];
/// Fewer distinct characters than this is not a random string: 32 random hex digits use about 15.
const SECRET_MIN_DISTINCT: usize = 8;
/// The estimate below (length × Shannon entropy of the character frequencies) of 32 random hex digits
/// is about 115 bits and never fell below 95 in 20,000 draws; a string under 80 bits is not random.
const SECRET_MIN_ESTIMATED_BITS: f64 = 80.0;

/// Why a secret of acceptable length looks chosen rather than random, if it does. A heuristic: it
/// catches repeated characters, patterns, sequences and placeholders, not a well-made passphrase.
/// A placeholder word written as a word: ignoring separators, in one case (`changeme`, `CHANGEME`) or
/// capitalised (`Secret`). Random base64 contains such letters in mixed case now and then (`duMmY`),
/// and a generated secret must never be refused for it.
fn placeholder_in(value: &str) -> Option<&'static str> {
    let letters: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
    let lowered: String = letters.iter().map(|c| c.to_ascii_lowercase()).collect();
    PLACEHOLDER_WORDS.iter().copied().find(|word| {
        lowered.match_indices(word).any(|(start, found)| {
            let original = &letters[start..start + found.len()];
            let lower = original.iter().all(|c| !c.is_ascii_uppercase());
            let upper = original.iter().all(|c| !c.is_ascii_lowercase());
            let capitalised = original[1..].iter().all(|c| !c.is_ascii_uppercase());
            lower || upper || capitalised
        })
    })
}

pub(super) fn weak_secret(value: &str) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    if let Some(word) = placeholder_in(value) {
        return Some(format!("it contains the placeholder word {word:?}"));
    }
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    if counts.len() == 1 {
        return Some("it repeats one character".into());
    }
    if let Some(period) = (1..=chars.len() / 2).find(|&p| chars.iter().zip(&chars[p..]).all(|(a, b)| a == b))
    {
        return Some(format!("it repeats a {period}-character pattern"));
    }
    let steps = chars
        .windows(2)
        .filter(|pair| (pair[1] as i64 - pair[0] as i64).abs() == 1)
        .count();
    if steps * 2 > chars.len() {
        return Some("it runs through consecutive characters".into());
    }
    if counts.len() < SECRET_MIN_DISTINCT {
        return Some(format!("only {} distinct characters", counts.len()));
    }
    let total = chars.len() as f64;
    let bits: f64 = counts
        .values()
        .map(|&n| {
            let p = n as f64 / total;
            -p * p.log2() * total
        })
        .sum();
    if bits < SECRET_MIN_ESTIMATED_BITS {
        return Some(format!(
            "about {bits:.0} bits of estimated entropy, want {SECRET_MIN_ESTIMATED_BITS:.0} or more"
        ));
    }
    None
}

/// In development a missing secret is generated once and kept in the data folder, so restarts keep
/// tokens and cookies valid.
fn load_or_generate(data_dir: &Path, name: &str, min_len: usize) -> std::io::Result<Secret> {
    let path = data_dir.join(name.to_ascii_lowercase());
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= min_len {
            return Ok(Secret::from_text(existing));
        }
    }
    create_private_dir(data_dir)?;
    let mut bytes = vec![0u8; min_len];
    rand::rng().fill_bytes(&mut bytes);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    write_private(&path, &encoded)?;
    log::warn!(
        "{name} is not set: generated one and kept it in {} (development only)",
        path.display()
    );
    Ok(Secret(encoded.into_bytes()))
}

/// The data folder holds generated secrets (and, by default, the SQLite database): readable by the
/// server's user only (0700 on Unix). An existing folder is left as it is.
#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// A generated secret file, created readable by the server's user only (0600 on Unix).
#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{session, vars, JWT, STRONG_JWT, STRONG_SESSION};
    use super::super::Settings;
    use super::*;

    #[test]
    fn development_generates_and_keeps_missing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let env = vars(&[("DATA_DIR", data.to_str().unwrap())]);
        let first = Settings::from_vars(&env).unwrap();
        let second = Settings::from_vars(&env).unwrap();
        assert!(first.jwt_secret.expose().len() >= 32);
        assert!(first.session_secret.expose().len() >= 64);
        assert_eq!(first.jwt_secret, second.jwt_secret, "kept across restarts");
        assert_ne!(first.jwt_secret.expose(), first.session_secret.expose());
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let settings =
            Settings::from_vars(&vars(&[("JWT_SECRET", JWT), ("SESSION_SECRET", &session())])).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains(JWT) && !debug.contains(&session()), "{debug}");
    }

    #[test]
    fn weak_secrets_are_told_from_random_ones() {
        for (weak, why) in [
            ("a".repeat(32), "repeats one character"),
            ("0123456789abcdef0123456789abcdef".into(), "16-character pattern"),
            (
                "abcdefghijklmnopqrstuvwxyz0123456789".into(),
                "consecutive characters",
            ),
            (
                "aaaaaaaabbbbbbbbccccccccdddddddeeef".into(),
                "distinct characters",
            ),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefgh1".into(),
                "estimated entropy",
            ),
            ("at-least-32-bytes-at-least-32-bytes".into(), "\"atleast\""),
            ("My-Super-SECRET-jwt-key-for-production".into(), "\"secret\""),
            ("PASSWORD-PASSWORD-PASSWORD-PASSWORD".into(), "\"password\""),
        ] {
            let verdict = weak_secret(&weak);
            assert!(
                verdict.as_deref().is_some_and(|v| v.contains(why)),
                "{weak:?}: {verdict:?}, expected {why}"
            );
        }
        for strong in [STRONG_JWT, STRONG_SESSION] {
            assert_eq!(weak_secret(strong), None, "{strong}");
        }
        // What the documentation suggests, and what development generates, always passes; so do 32
        // random hex digits (128 bits), the weakest random secret of the minimum length.
        // Seeded, so the run is the same every time; the mixed-case case below is one that a
        // random seed once produced.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x5ec2e7);
        let found_in_the_wild = "xMAJVOlgo/f/EbJzheODHb6O94G5qNkS0duMmYjUpgJhI6DQ+ujTC2UBqnR9QIMo";
        assert_eq!(
            weak_secret(found_in_the_wild),
            None,
            "mixed-case letters are no placeholder"
        );
        for _ in 0..2000 {
            let mut bytes = [0u8; 48];
            rng.fill_bytes(&mut bytes);
            let base64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            let hex: String = bytes[..16].iter().map(|b| format!("{b:02x}")).collect();
            for random in [base64, hex] {
                assert_eq!(weak_secret(&random), None, "{random}");
            }
        }
    }
}
