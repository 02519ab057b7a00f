//! Variables the configuration tests share.

use std::collections::HashMap;

pub(super) fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Long enough for development, too regular for production.
pub(super) const JWT: &str = "0123456789abcdef0123456789abcdef";

/// Long enough for development, too regular for production.
pub(super) fn session() -> String {
    "s".repeat(64)
}

/// Random secrets (made once with `openssl rand -base64`) that pass every strength check.
pub(super) const STRONG_JWT: &str = "PaIMLFzIY1rtxDR_K_gfPasMp4NCWkZsx6uljiczeVV-";
pub(super) const STRONG_SESSION: &str = "R3Gb7LvGTv2Ur_HdJh34HfUZdpy53meoDcocZa9pKln_GGceXTIDh8l8_TDFUzA4";

/// A sound production configuration, with `extra` on top.
pub(super) fn production(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = vars(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "https://auth.example.com"),
        ("JWT_SECRET", STRONG_JWT),
        ("SESSION_SECRET", STRONG_SESSION),
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", "smtps://portcullis:mail-password@mail.example.com"),
    ]);
    env.extend(vars(extra));
    env
}

/// Every weak setting at once, plus entries that are fine and must not be reported.
pub(super) const WEAK: &[(&str, &str)] = &[
    ("JWT_SECRET", "changeme-changeme-changeme-changeme"),
    ("SESSION_SECRET", "ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"),
    ("TRUSTED_PROXIES", "10.0.0.0/8, 0.0.0.0/0, ::/0, 2001:db8::/32, ::ffff:0:0/96"),
    ("RATE_LIMIT_ENABLED", "false"),
    ("GITHUB_CLIENT_ID", "id"),
    ("GITHUB_CLIENT_SECRET", "github-client-secret"),
    ("GITHUB_AUTHORIZE_URL", "http://github.example.com/login/oauth/authorize"),
    ("GITHUB_TOKEN_URL", "http://github.example.com/login/oauth/access_token"),
    ("GITHUB_API_URL", "http://api.github.example.com"),
    (
        "OAUTH_REDIRECT_ALLOWLIST",
        "http://app.example.com/cb, http://localhost:3000/cb, http://127.0.0.1/cb, http://[::1]:8000/cb, https://app.example.com/cb",
    ),
];
