//! Email addresses as identities: one canonical form per mailbox, so look-alike spellings cannot
//! open a second account or miss an invitation.
//!
//! The typed address is trimmed and NFKC-normalised (fullwidth `ａ` is `a`; a decomposed `é` is
//! the composed one); an address with invisible characters (zero-width spaces and joiners, soft
//! hyphens, bidi controls: Unicode's default-ignorable code points) or control characters is refused
//! rather than silently cleaned, since what the user sees is not what they typed. The canonical form
//! compared in the database is the lower-cased local part and the domain in its ASCII (IDNA) form, so
//! `exämple.com` and `xn--exmple-cua.com` are one domain.

use icu_normalizer::ComposingNormalizerBorrowed;
use validator::ValidateEmail;

use crate::text::is_default_ignorable;

/// The longest address accepted, in characters (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

/// A valid address in its two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// As typed, trimmed and NFKC-normalised: what mail is sent to and what the user sees.
    pub display: String,
    /// The identity: lower-cased local part, ASCII domain. Unique per account.
    pub normalized: String,
}

/// Why an address was refused: a field error code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailProblem {
    /// Stable snake_case code.
    pub code: &'static str,
    /// For people.
    pub message: &'static str,
}

const INVALID: EmailProblem = EmailProblem {
    code: "invalid_email",
    message: "must be an email address",
};

/// Parses a typed address into its canonical forms.
pub fn parse_email(raw: &str) -> Result<Email, EmailProblem> {
    let trimmed = raw.trim();
    // Stricter than names (`crate::text`): an address has no use for joiners or variation selectors.
    if trimmed.chars().any(|c| c.is_control() || is_default_ignorable(c)) {
        return Err(EmailProblem {
            code: "invalid_characters",
            message: "must not contain invisible or control characters",
        });
    }
    let display = ComposingNormalizerBorrowed::new_nfkc()
        .normalize(trimmed)
        .into_owned();
    if display.chars().count() > EMAIL_MAX {
        return Err(EmailProblem {
            code: "too_long",
            message: "must be at most 254 characters",
        });
    }
    if !display.validate_email() {
        return Err(INVALID);
    }
    let (local, domain) = display.rsplit_once('@').ok_or(INVALID)?;
    let domain = idna::domain_to_ascii(domain).map_err(|_| INVALID)?;
    Ok(Email {
        normalized: format!("{}@{domain}", local.to_lowercase()),
        display,
    })
}

/// The canonical form to look an account up by: that of [`parse_email`], or, for input that is no
/// valid address, a form no account can have (so the look-up finds nothing and costs the same).
pub fn lookup_form(raw: &str) -> String {
    match parse_email(raw) {
        Ok(email) => email.normalized,
        Err(_) => raw.trim().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(raw: &str) -> String {
        parse_email(raw)
            .map(|e| e.normalized)
            .unwrap_or_else(|p| p.code.to_owned())
    }

    #[test]
    fn look_alike_spellings_have_one_canonical_form() {
        let canonical = "ada@xn--exmple-cua.com";
        for spelling in [
            "ada@exämple.com",             // composed
            "ada@exa\u{308}mple.com",      // decomposed
            "ADA@EXÄMPLE.COM",             // case
            "ada@xn--exmple-cua.com",      // punycode typed
            "  ada@exämple.com ",          // spaces
            "\u{ff41}da@ex\u{e4}mple.com", // fullwidth a
        ] {
            assert_eq!(normalized(spelling), canonical, "{spelling:?}");
        }
        assert_eq!(
            normalized("Ada.Lovelace+x@Example.COM"),
            "ada.lovelace+x@example.com"
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for spelling in [
            "a\u{200b}da@example.com", // zero-width space
            "ada@exam\u{ad}ple.com",   // soft hyphen
            "ada\u{200d}@example.com", // zero-width joiner
            "ada@example.com\u{202e}", // right-to-left override
            "\u{feff}ada@example.com", // byte order mark
            "ada@exa\u{0}mple.com",    // NUL
        ] {
            assert_eq!(normalized(spelling), "invalid_characters", "{spelling:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for spelling in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "ada@exa mple.com",
        ] {
            assert_eq!(normalized(spelling), "invalid_email", "{spelling:?}");
        }
        assert_eq!(
            normalized(&format!("{}@example.com", "a".repeat(250))),
            "too_long"
        );
    }
}
