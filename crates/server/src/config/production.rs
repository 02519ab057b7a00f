//! Production rules: settings that work but leave the service weak. Refused in production, where they
//! would be a vulnerability, and only warned about in development, where they are convenient.

use ipnet::IpNet;

use super::limits::{too_broad, RateLimits, TRUSTED_V4_MIN_PREFIX, TRUSTED_V6_MIN_PREFIX};
use super::oauth::{is_loopback_url, GITHUB_URLS};
use super::reader::Reader;
use super::secrets::{weak_secret, JWT_SECRET_MIN, SESSION_SECRET_MIN};
use super::AppEnv;

impl Reader<'_> {
    /// Applies the production rules: each weakness is a problem in production and a warning in
    /// development.
    pub(super) fn production_rules(
        &mut self,
        app_env: AppEnv,
        rate_limit: RateLimits,
        trusted_proxies: &[IpNet],
        redirect_allowlist: &[String],
    ) {
        for weakness in self.weaknesses(rate_limit, trusted_proxies, redirect_allowlist) {
            match app_env {
                AppEnv::Production => self.problem(weakness),
                AppEnv::Development => log::warn!("{weakness} (refused in production)"),
            }
        }
    }

    /// Every weak setting, one sentence each, naming the variable and never quoting a secret.
    fn weaknesses(
        &self,
        rate_limit: RateLimits,
        trusted_proxies: &[IpNet],
        redirect_allowlist: &[String],
    ) -> Vec<String> {
        let mut found = Vec::new();
        let jwt = self.get("JWT_SECRET").filter(|v| v.len() >= JWT_SECRET_MIN);
        let session = self
            .get("SESSION_SECRET")
            .filter(|v| v.len() >= SESSION_SECRET_MIN);
        for (name, value) in [("JWT_SECRET", jwt), ("SESSION_SECRET", session)] {
            if let Some(why) = value.and_then(weak_secret) {
                found.push(format!(
                    "{name} is too weak ({why}); use random bytes, e.g. `openssl rand -base64 48`"
                ));
            }
        }
        if jwt.is_some() && jwt == session {
            found.push(
                "JWT_SECRET and SESSION_SECRET must differ (one leaked value would forge both tokens and cookies)"
                    .into(),
            );
        }
        for net in trusted_proxies.iter().filter(|net| too_broad(net)) {
            found.push(format!(
                "TRUSTED_PROXIES: {net} is too broad (shorter than /{TRUSTED_V4_MIN_PREFIX} for IPv4 or /{TRUSTED_V6_MIN_PREFIX} for IPv6): almost any client could set its own address with X-Forwarded-For"
            ));
        }
        if !rate_limit.enabled {
            found.push(
                "RATE_LIMIT_ENABLED=false turns off the per-client limits that slow password guessing".into(),
            );
        }
        for name in GITHUB_URLS {
            if let Some(url) = self.get(name).filter(|url| url.starts_with("http://")) {
                found.push(format!(
                    "{name} must be https://, not {url:?} (the client secret, codes and tokens would travel in clear)"
                ));
            }
        }
        for entry in redirect_allowlist {
            if entry.starts_with("http://") && !is_loopback_url(entry) {
                found.push(format!(
                    "OAUTH_REDIRECT_ALLOWLIST: {entry:?} must be https:// (http only for localhost): the login code would travel in clear"
                ));
            }
        }
        found
    }

    /// Production serves over https: directly, or behind a TLS-terminating proxy it trusts.
    pub(super) fn public_url_rule(&mut self, app_env: AppEnv, public_url: &str, trusted_proxies: &[IpNet]) {
        let insecure_public_url = public_url.starts_with("http://") && trusted_proxies.is_empty();
        if app_env == AppEnv::Production && insecure_public_url {
            self.problem(
                "PUBLIC_URL must be https:// in production (or name the TLS-terminating proxy in TRUSTED_PROXIES)".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{production, STRONG_SESSION, WEAK};
    use super::super::Settings;

    #[test]
    fn production_refuses_weak_settings_and_reports_them_all_at_once() {
        assert!(
            Settings::from_vars(&production(&[])).is_ok(),
            "the baseline is sound"
        );
        let errors = Settings::from_vars(&production(WEAK)).unwrap_err();
        let text = errors.to_string();
        for needle in [
            "JWT_SECRET is too weak (it contains the placeholder word \"changeme\")",
            "SESSION_SECRET is too weak (it repeats one character)",
            "TRUSTED_PROXIES: 0.0.0.0/0 is too broad",
            "TRUSTED_PROXIES: ::/0 is too broad",
            "TRUSTED_PROXIES: ::ffff:0.0.0.0/96 is too broad",
            "RATE_LIMIT_ENABLED=false",
            "GITHUB_AUTHORIZE_URL must be https://",
            "GITHUB_TOKEN_URL must be https://",
            "GITHUB_API_URL must be https://",
            "OAUTH_REDIRECT_ALLOWLIST: \"http://app.example.com/cb\" must be https://",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(errors.0.len(), 10, "nothing else is reported: {text}");
        for fine in [
            "10.0.0.0/8",
            "2001:db8::/32",
            "localhost:3000",
            "127.0.0.1/cb",
            "[::1]",
        ] {
            assert!(!text.contains(fine), "{fine} is acceptable: {text}");
        }
        assert!(
            !text.contains("changeme-changeme"),
            "secrets are not echoed: {text}"
        );
    }

    #[test]
    fn production_refuses_one_value_for_both_secrets() {
        let errors = Settings::from_vars(&production(&[
            ("JWT_SECRET", STRONG_SESSION),
            ("SESSION_SECRET", STRONG_SESSION),
        ]))
        .unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert!(
            errors.0[0].contains("JWT_SECRET and SESSION_SECRET must differ"),
            "{errors}"
        );
    }

    #[test]
    fn development_only_warns_about_weak_settings() {
        let mut env = production(WEAK);
        env.insert("APP_ENV".into(), "development".into());
        let settings = Settings::from_vars(&env).unwrap();
        assert!(!settings.rate_limit.enabled);
        assert_eq!(settings.trusted_proxies.len(), 5);
    }
}
