//! `portcullis-auth` is identity: who is calling.
//!
//! It owns password hashing (argon2id on its own bounded pool) and the password policy, access tokens
//! (JWT) and the signing keys behind them (generation, rotation schedule, JWKS and discovery), refresh
//! sessions and their rotation, login throttling, the mailed-token flows (address
//! verification, password reset, email change) and the account notices they queue, the [`Principal`] extractor that
//! resolves a caller once per request, and the `/api/v1/auth` and `/api/v1/me` routes. It decides who a
//! caller is, never what they may do in a tenant: that is `portcullis-rbac`.

pub mod api_keys;
mod email_tokens;
mod events;
pub mod github;
mod key_ring;
pub mod mfa;
pub mod password;
pub mod pkce;
mod principal;
pub mod routes;
pub mod sessions;
pub mod signing;
mod throttle;
pub mod tokens;

use std::time::Duration;

pub use key_ring::KeyRing;
pub use principal::{bearer, Principal};

use password::{HashParams, PasswordHasher};
use portcullis_mail::Mailer;
use tokens::TokenKeys;

/// Identity settings, handed over by the server (this crate never reads the environment).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`.
    pub jwt_secret: Vec<u8>,
    /// The `iss` of access tokens: the server's public URL.
    pub issuer: String,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token idle lifetime: a session unused this long expires.
    pub refresh_ttl: Duration,
    /// Longest life of a session, however often it is refreshed.
    pub session_max_age: Duration,
    /// How long a spent refresh token still returns its successor.
    pub reuse_grace: Duration,
    /// Argon2 parameters.
    pub hash_params: HashParams,
    /// Concurrent hashes.
    pub hash_concurrency: usize,
    /// GitHub sign-in, when configured.
    pub github: Option<github::GithubConfig>,
    /// Where clients reach this server (`PUBLIC_URL`), for the OAuth callback URL.
    pub public_url: String,
    /// `OAUTH_REDIRECT_ALLOWLIST`: the exact URLs a sign-in may end on.
    pub redirect_allowlist: Vec<String>,
    /// Lifetimes of mailed tokens and the verified-email rule.
    pub email: EmailPolicy,
    /// `JWT_ALG` ES256 or EdDSA and the rotation schedule; `None`: HS256 with `jwt_secret`.
    pub signing: Option<signing::KeyPolicy>,
}

/// How the mailed-token flows behave.
#[derive(Debug, Clone, Copy)]
pub struct EmailPolicy {
    /// `EMAIL_VERIFY_TTL_SECS` (24 h): a verification link.
    pub verify_ttl: Duration,
    /// `PASSWORD_RESET_TTL_SECS` (30 min): a reset link.
    pub reset_ttl: Duration,
    /// `EMAIL_CHANGE_TTL_SECS` (24 h): a new address's confirmation link.
    pub change_ttl: Duration,
    /// `REQUIRE_VERIFIED_EMAIL`: password sign-in of an unverified account is refused (403).
    pub require_verified: bool,
}

/// The audience of access tokens.
pub const AUDIENCE: &str = "portcullis";

/// Shared identity state: configuration, keys and the password hasher. Registered once as app data.
pub struct Auth {
    config: AuthConfig,
    keys: TokenKeys,
    hasher: PasswordHasher,
    http: reqwest::Client,
    mailer: Mailer,
    secrets: mfa::SecretBox,
}

impl Auth {
    /// Builds the keys, the hasher (which computes the dummy hash once) and the outbound HTTP client.
    pub fn new(config: AuthConfig, mailer: Mailer) -> Result<Auth, String> {
        let keys = match config.signing {
            Some(policy) => TokenKeys::with_key_ring(&config.jwt_secret, &config.issuer, AUDIENCE, policy),
            None => TokenKeys::new(&config.jwt_secret, &config.issuer, AUDIENCE),
        };
        let hasher =
            PasswordHasher::new(config.hash_params, config.hash_concurrency).map_err(|e| e.to_string())?;
        let http = github::http_client().map_err(|e| e.to_string())?;
        let secrets = mfa::SecretBox::new(&config.jwt_secret);
        Ok(Auth {
            config,
            keys,
            hasher,
            http,
            mailer,
            secrets,
        })
    }

    /// Whether GitHub sign-in is configured.
    pub fn github_enabled(&self) -> bool {
        self.config.github.is_some()
    }

    /// The server's public URL (the tokens' issuer, the origin of its pages).
    pub fn public_url(&self) -> &str {
        &self.config.public_url
    }

    /// The token keys (for other crates' tests and for API-key-free tools).
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The outbox's queueing side.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }
}
