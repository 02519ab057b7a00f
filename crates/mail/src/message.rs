//! The messages Portcullis sends, rendered from one pair of templates (`templates/message.txt` and
//! `templates/message.html`, checked at compile time; the HTML part escapes every value).

use std::time::Duration;

use askama::Template;

/// A message to one address. Links carry their token; nothing else in a message does.
#[derive(Debug, Clone)]
pub enum Mail {
    /// Proves the address: `{MAIL_LINK_BASE}/verify-email?token=…`.
    VerifyEmail {
        /// The link with its token.
        link: String,
        /// How long the link works.
        valid_for: Duration,
    },
    /// Resets a forgotten password: `{MAIL_LINK_BASE}/reset-password?token=…`.
    ResetPassword {
        /// The link with its token.
        link: String,
        /// How long the link works.
        valid_for: Duration,
    },
    /// Confirms a new address, sent to it: `{MAIL_LINK_BASE}/confirm-email?token=…`.
    ConfirmEmailChange {
        /// The link with its token.
        link: String,
        /// How long the link works.
        valid_for: Duration,
    },
    /// Something changed on the account (no token, no link).
    Notice(Notice),
}

/// Account changes the owner is told about.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The password was changed while signed in.
    PasswordChanged,
    /// The password was reset through a mailed link.
    PasswordReset,
    /// A change to another address was requested (sent to the old address).
    EmailChangeRequested {
        /// The address asked for.
        new_email: String,
    },
    /// A GitHub account was linked.
    GithubLinked {
        /// Its GitHub login.
        login: String,
    },
    /// Sign-in now asks for a code from an authenticator app.
    MfaEnabled,
    /// Sign-in no longer asks for a second factor.
    MfaDisabled,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
}

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

#[derive(Template)]
#[template(path = "message.txt")]
struct TextPart<'a> {
    paragraphs: &'a [String],
    link: Option<&'a str>,
    footer: &'a str,
    product: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct HtmlPart<'a> {
    subject: &'a str,
    paragraphs: &'a [String],
    link: Option<&'a str>,
    action: &'a str,
    footer: &'a str,
    product: &'a str,
}

const PRODUCT: &str = "Portcullis";
const NOT_YOU: &str = "If you did not ask for this, you can ignore this message: nothing changes.";
const SECURE_ACCOUNT: &str =
    "If this was not you, reset your password now and review your sessions and linked accounts.";

impl Mail {
    /// The kind stored with the message: the per-address hourly cap counts messages of one kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::VerifyEmail { .. } => "verify_email",
            Mail::ResetPassword { .. } => "reset_password",
            Mail::ConfirmEmailChange { .. } => "confirm_email_change",
            Mail::Notice(Notice::PasswordChanged) => "notice_password_changed",
            Mail::Notice(Notice::PasswordReset) => "notice_password_reset",
            Mail::Notice(Notice::EmailChangeRequested { .. }) => "notice_email_change_requested",
            Mail::Notice(Notice::GithubLinked { .. }) => "notice_github_linked",
            Mail::Notice(Notice::MfaEnabled) => "notice_mfa_enabled",
            Mail::Notice(Notice::MfaDisabled) => "notice_mfa_disabled",
            Mail::Notice(Notice::RecoveryCodesRegenerated) => "notice_recovery_codes_regenerated",
        }
    }

    /// Subject, text and HTML.
    pub fn render(&self) -> Result<Rendered, askama::Error> {
        let (subject, paragraphs, link, action, footer): (&str, Vec<String>, Option<&str>, &str, &str) =
            match self {
                Mail::VerifyEmail { link, valid_for } => (
                    "Verify your email address",
                    vec![format!(
                        "Confirm that this address belongs to your {PRODUCT} account by opening the link \
                         below within {}.",
                        spell(*valid_for)
                    )],
                    Some(link),
                    "Verify email address",
                    NOT_YOU,
                ),
                Mail::ResetPassword { link, valid_for } => (
                    "Reset your password",
                    vec![format!(
                        "Someone asked to reset the password of your {PRODUCT} account. Open the link \
                         below within {} to choose a new one; every signed-in session will be signed \
                         out.",
                        spell(*valid_for)
                    )],
                    Some(link),
                    "Choose a new password",
                    NOT_YOU,
                ),
                Mail::ConfirmEmailChange { link, valid_for } => (
                    "Confirm your new email address",
                    vec![format!(
                        "Someone asked to use this address for a {PRODUCT} account. Open the link below \
                         within {} to confirm it.",
                        spell(*valid_for)
                    )],
                    Some(link),
                    "Confirm new address",
                    NOT_YOU,
                ),
                Mail::Notice(Notice::PasswordChanged) => (
                    "Your password was changed",
                    vec![format!(
                        "The password of your {PRODUCT} account was just changed, and your other \
                         sessions were signed out."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::PasswordReset) => (
                    "Your password was reset",
                    vec![format!(
                        "The password of your {PRODUCT} account was just reset through a link sent to \
                         this address, and every session was signed out."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::EmailChangeRequested { new_email }) => (
                    "Your email address is being changed",
                    vec![format!(
                        "Someone signed in to your {PRODUCT} account asked to change its email address \
                         to {new_email}. The change takes effect when that address confirms it."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::GithubLinked { login }) => (
                    "A GitHub account was linked",
                    vec![format!(
                        "The GitHub account {login} can now sign in to your {PRODUCT} account."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::MfaEnabled) => (
                    "Two-factor sign-in is on",
                    vec![format!(
                        "Signing in to your {PRODUCT} account now asks for a code from your \
                         authenticator app. Keep your recovery codes somewhere safe."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::MfaDisabled) => (
                    "Two-factor sign-in is off",
                    vec![format!(
                        "Signing in to your {PRODUCT} account no longer asks for a second factor."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
                Mail::Notice(Notice::RecoveryCodesRegenerated) => (
                    "New recovery codes were made",
                    vec![format!(
                        "A new set of recovery codes was made for your {PRODUCT} account; the \
                         previous codes no longer work."
                    )],
                    None,
                    "",
                    SECURE_ACCOUNT,
                ),
            };
        let text = TextPart {
            paragraphs: &paragraphs,
            link,
            footer,
            product: PRODUCT,
        }
        .render()?;
        let html = HtmlPart {
            subject,
            paragraphs: &paragraphs,
            link,
            action,
            footer,
            product: PRODUCT,
        }
        .render()?;
        Ok(Rendered {
            subject: subject.to_owned(),
            text,
            html,
        })
    }
}

/// "30 minutes", "24 hours", "1 day and 2 hours"…, for link lifetimes.
fn spell(duration: Duration) -> String {
    let secs = duration.as_secs();
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    if secs >= 3600 && secs.is_multiple_of(3600) {
        unit(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        unit(secs / 60, "minute")
    } else {
        unit(secs, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_appears_in_both_parts_and_values_are_escaped_in_html() {
        let link = "https://auth.example.com/reset-password?token=abc&x=<y>".to_owned();
        let mail = Mail::ResetPassword {
            link: link.clone(),
            valid_for: Duration::from_secs(1800),
        };
        let rendered = mail.render().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rendered.subject, "Reset your password");
        assert!(rendered.text.contains(&link), "{}", rendered.text);
        assert!(rendered.text.contains("within 30 minutes"), "{}", rendered.text);
        assert!(
            rendered
                .html
                .contains("https://auth.example.com/reset-password?token=abc&#38;x=&#60;y&#62;"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<y>"));
    }

    #[test]
    fn notices_carry_no_link() {
        let mail = Mail::Notice(Notice::EmailChangeRequested {
            new_email: "<script>@example.com".into(),
        });
        let rendered = mail.render().unwrap_or_else(|e| panic!("{e}"));
        assert!(!rendered.text.contains("http"), "{}", rendered.text);
        assert!(
            rendered.html.contains("&#60;script&#62;@example.com"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<a "));
    }

    #[test]
    fn lifetimes_are_spelled_out() {
        assert_eq!(spell(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(spell(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(spell(Duration::from_secs(1_800)), "30 minutes");
        assert_eq!(spell(Duration::from_secs(2)), "2 seconds");
    }
}
