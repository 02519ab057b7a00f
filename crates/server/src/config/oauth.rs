//! GitHub sign-in (`GITHUB_*`) and where an OAuth flow may send the browser back to
//! (`OAUTH_REDIRECT_ALLOWLIST`).

use super::reader::{is_http_url, Reader};
use super::secrets::Secret;

/// GitHub OAuth application settings.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    /// `GITHUB_CLIENT_ID`.
    pub client_id: String,
    /// `GITHUB_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// `GITHUB_AUTHORIZE_URL`.
    pub authorize_url: String,
    /// `GITHUB_TOKEN_URL`.
    pub token_url: String,
    /// `GITHUB_API_URL`.
    pub api_url: String,
}

/// The GitHub endpoints, each of which must be https:// in production.
pub(super) const GITHUB_URLS: [&str; 3] = ["GITHUB_AUTHORIZE_URL", "GITHUB_TOKEN_URL", "GITHUB_API_URL"];

impl Reader<'_> {
    fn url(&mut self, name: &str, default: &str) -> String {
        let value = self.get(name).unwrap_or(default).trim_end_matches('/').to_owned();
        if !is_http_url(&value) {
            self.problem(format!(
                "{name} must be an http:// or https:// URL, not {value:?}"
            ));
        }
        value
    }

    pub(super) fn github(&mut self) -> Option<GithubSettings> {
        let authorize_url = self.url("GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize");
        let token_url = self.url("GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token");
        let api_url = self.url("GITHUB_API_URL", "https://api.github.com");
        match (self.get("GITHUB_CLIENT_ID"), self.get("GITHUB_CLIENT_SECRET")) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(GithubSettings {
                client_id: id.to_owned(),
                client_secret: Secret::from_text(secret),
                authorize_url,
                token_url,
                api_url,
            }),
            _ => {
                self.problem("GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together".into());
                None
            }
        }
    }

    pub(super) fn redirect_allowlist(&mut self) -> Vec<String> {
        let entries: Vec<String> = self
            .list("OAUTH_REDIRECT_ALLOWLIST")
            .into_iter()
            .map(str::to_owned)
            .collect();
        for entry in &entries {
            if !is_http_url(entry) || entry.contains('#') {
                self.problem(format!(
                    "OAUTH_REDIRECT_ALLOWLIST: {entry:?} is not an absolute http(s) URL"
                ));
            }
        }
        entries
    }
}

/// Whether an http(s) URL names this machine: localhost, 127.0.0.0/8 or [::1].
pub(super) fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_are_recognised() {
        for (url, loopback) in [
            ("http://localhost:3000/cb", true),
            ("http://LOCALHOST/cb", true),
            ("http://app.localhost/cb", true),
            ("http://127.0.0.1/cb", true),
            ("http://127.8.9.10:99/cb", true),
            ("http://[::1]:8000/cb", true),
            ("http://user@localhost/cb", true),
            ("http://localhost.example.com/cb", false),
            ("http://evil.com/localhost", false),
            ("http://localhost@evil.com/cb", false),
            ("http://10.0.0.1/cb", false),
        ] {
            assert_eq!(is_loopback_url(url), loopback, "{url}");
        }
    }
}
