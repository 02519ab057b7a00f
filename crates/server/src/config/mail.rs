//! Mail: the transport (`MAIL_TRANSPORT`, `SMTP_URL`), the sender, links and limits (`MAIL_*`), the
//! lifetimes of mailed tokens and `REQUIRE_VERIFIED_EMAIL`.

use std::path::Path;
use std::time::Duration;

use portcullis_auth::EmailPolicy;
use portcullis_mail::TransportConfig;

use super::reader::{is_http_url, Reader};
use super::AppEnv;

/// Mail settings as read; `link_base` falls back to `PUBLIC_URL` once that is known.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `MAIL_TRANSPORT` (`file` by default in development) and `SMTP_URL`.
    pub transport: TransportConfig,
    /// `MAIL_FROM`.
    pub from: String,
    /// `MAIL_LINK_BASE`, when set.
    pub link_base: Option<String>,
    /// `MAIL_MAX_ATTEMPTS` (8).
    pub max_attempts: u32,
    /// `MAIL_PER_ADDRESS_PER_HOUR` (5).
    pub per_address_per_hour: u32,
    /// `MAIL_RETRY_BASE_MS` (30 000): the first wait after a failed delivery.
    pub retry_base: Duration,
    /// `MAIL_POLL_INTERVAL_MS` (1 000).
    pub poll_interval: Duration,
    /// Token lifetimes and `REQUIRE_VERIFIED_EMAIL`.
    pub policy: EmailPolicy,
}

const DAY: u64 = 24 * 60 * 60;

/// Implicit TLS (`smtps://`), required STARTTLS (`tls=required`), or a server on this machine.
fn smtp_url_is_encrypted(url: &str) -> bool {
    if url.starts_with("smtps://") || url.contains("tls=required") {
        return true;
    }
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .rsplit_once('@')
        .map_or_else(
            || url.split_once("://").map_or(url, |(_, rest)| rest),
            |(_, host)| host,
        );
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|local| {
        host == *local
            || host.starts_with(&format!("{local}:"))
            || host.starts_with(&format!("{local}/"))
            || host.starts_with(&format!("{local}?"))
    })
}

impl Reader<'_> {
    pub(super) fn mail(&mut self, app_env: AppEnv, data_dir: &Path) -> Option<MailSettings> {
        let transport = match (self.get("MAIL_TRANSPORT"), self.get("SMTP_URL")) {
            (Some("smtp"), Some(url)) => match TransportConfig::check_smtp_url(url) {
                Ok(()) => Some(TransportConfig::Smtp { url: url.to_owned() }),
                Err(problem) => {
                    self.problem(problem);
                    None
                }
            },
            (Some("smtp"), None) => {
                self.problem(
                    "MAIL_TRANSPORT=smtp needs SMTP_URL (e.g. smtp://user:pass@host:587?tls=required)".into(),
                );
                None
            }
            (None | Some("file"), _) => Some(TransportConfig::File {
                dir: data_dir.join("mail"),
            }),
            (Some(other), _) => {
                self.problem(format!("MAIL_TRANSPORT must be `smtp` or `file`, not {other:?}"));
                None
            }
        };
        if let Some(TransportConfig::Smtp { url }) = &transport {
            if !smtp_url_is_encrypted(url) {
                let weakness = "SMTP_URL has no TLS (use smtps://, or smtp://…?tls=required): reset and \
                                verification links would cross the network in clear";
                match app_env {
                    AppEnv::Production => self.problem(weakness.into()),
                    AppEnv::Development => log::warn!("{weakness} (refused in production)"),
                }
            }
        }
        if app_env == AppEnv::Production && matches!(transport, Some(TransportConfig::File { .. })) {
            self.problem(
                "MAIL_TRANSPORT=file (the default) only writes mail to the data folder: production needs \
                 MAIL_TRANSPORT=smtp with SMTP_URL"
                    .into(),
            );
        }
        let from = self
            .get("MAIL_FROM")
            .unwrap_or("Portcullis <no-reply@localhost>")
            .to_owned();
        if let Err(problem) = portcullis_mail::parse_from(&from) {
            self.problem(problem);
        }
        let link_base = self
            .get("MAIL_LINK_BASE")
            .map(|base| base.trim_end_matches('/').to_owned());
        if let Some(base) = link_base.as_deref().filter(|base| !is_http_url(base)) {
            self.problem(format!(
                "MAIL_LINK_BASE must be an http:// or https:// URL, not {base:?}"
            ));
        }
        let max_attempts = self.count("MAIL_MAX_ATTEMPTS", 8);
        let per_address_per_hour = self.count("MAIL_PER_ADDRESS_PER_HOUR", 5);
        let retry_base = self.millis("MAIL_RETRY_BASE_MS", 30_000);
        let poll_interval = self.millis("MAIL_POLL_INTERVAL_MS", 1_000);
        let verify_ttl = self.seconds("EMAIL_VERIFY_TTL_SECS", DAY, 1);
        let reset_ttl = self.seconds("PASSWORD_RESET_TTL_SECS", 30 * 60, 1);
        let change_ttl = self.seconds("EMAIL_CHANGE_TTL_SECS", DAY, 1);
        let require_verified = self.parse("REQUIRE_VERIFIED_EMAIL", Some(false), "`true` or `false`");
        Some(MailSettings {
            transport: transport?,
            from,
            link_base,
            max_attempts: max_attempts?,
            per_address_per_hour: per_address_per_hour?,
            retry_base: retry_base?,
            poll_interval: poll_interval?,
            policy: EmailPolicy {
                verify_ttl: verify_ttl?,
                reset_ttl: reset_ttl?,
                change_ttl: change_ttl?,
                require_verified: require_verified?,
            },
        })
    }

    /// A whole number from 1 to 1000.
    fn count(&mut self, name: &str, default: u32) -> Option<u32> {
        let value = self.parse(name, Some(default), "a whole number")?;
        if !(1..=1000).contains(&value) {
            self.problem(format!("{name} must be from 1 to 1000"));
            return None;
        }
        Some(value)
    }

    /// Milliseconds, at least 10.
    fn millis(&mut self, name: &str, default: u64) -> Option<Duration> {
        let value = self.parse(name, Some(default), "a whole number of milliseconds")?;
        if value < 10 {
            self.problem(format!("{name} must be at least 10"));
            return None;
        }
        Some(Duration::from_millis(value))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{session, vars, JWT};
    use super::super::Settings;
    use super::*;

    #[test]
    fn development_writes_mail_to_the_data_folder_by_default() {
        let settings =
            Settings::from_vars(&vars(&[("JWT_SECRET", JWT), ("SESSION_SECRET", &session())])).unwrap();
        match &settings.mail.transport {
            TransportConfig::File { dir } => assert!(dir.ends_with("mail"), "{dir:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(settings.mail.max_attempts, 8);
        assert_eq!(settings.mail.per_address_per_hour, 5);
        assert_eq!(settings.mail.policy.reset_ttl, Duration::from_secs(1800));
        assert!(!settings.mail.policy.require_verified);
    }

    #[test]
    fn production_refuses_the_file_transport_and_bad_mail_settings_are_reported() {
        let errors = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("MAIL_FROM", "not a mailbox"),
            ("MAIL_MAX_ATTEMPTS", "0"),
        ]))
        .unwrap_err()
        .to_string();
        for needle in ["MAIL_TRANSPORT=file", "MAIL_FROM", "MAIL_MAX_ATTEMPTS"] {
            assert!(errors.contains(needle), "{needle} missing from {errors}");
        }
        let errors = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            ("MAIL_TRANSPORT", "smtp"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(errors.contains("needs SMTP_URL"), "{errors}");
    }

    #[test]
    fn production_refuses_smtp_without_tls_except_on_this_machine() {
        for (url, encrypted) in [
            ("smtps://u:p@mail.example.com", true),
            ("smtp://mail.example.com:587?tls=required", true),
            ("smtp://127.0.0.1:1025", true),
            ("smtp://localhost:25", true),
            ("smtp://mail.example.com:587", false),
            ("smtp://u:p@mail.example.com:587?tls=opportunistic", false),
            ("smtp://localhost.example.com:25", false),
        ] {
            assert_eq!(smtp_url_is_encrypted(url), encrypted, "{url}");
        }
    }
}
