//! Typed configuration, read once from the environment (and a `.env` file) and validated before
//! anything binds. Every problem is collected and reported together, so one start-up shows them all.
//!
//! Each area reads its own variables in its own file: `reader` (reading and collecting problems),
//! `database`, `secrets` (and their strength checks), `cors`, `limits` (rate limits and trusted
//! proxies), `hashing`, `tls` (the certificate, parsed once), `oauth` (GitHub and redirect targets),
//! `mail` (transport, sender, limits, token lifetimes), `signing` (`JWT_ALG`, key rotation), `observability` (metrics address, log format) and `production` (the rules production adds). This file puts the pieces together.

mod cors;
mod database;
mod hashing;
mod limits;
mod mail;
mod oauth;
mod observability;
mod production;
mod reader;
mod secrets;
mod signing;
#[cfg(test)]
mod test_support;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use portcullis_auth::password::HashParams;
use portcullis_db::{DatabaseUrl, PoolOptions};

pub use cors::CorsOrigins;
pub use limits::RateLimits;
pub use mail::MailSettings;
pub use oauth::GithubSettings;
pub use observability::{LogFormat, RedisSettings};
pub use reader::ConfigErrors;
pub use secrets::Secret;
pub use signing::SigningSettings;
pub use tls::{TlsFiles, TlsSettings};

use reader::Reader;
use secrets::{JWT_SECRET_MIN, SESSION_SECRET_MIN};

/// Which rules apply: production refuses unsafe settings that development tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work: generated secrets, no HSTS.
    Development,
    /// Real deployments.
    Production,
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`.
    pub database_url: DatabaseUrl,
    /// `BIND_ADDR`.
    pub bind_addr: SocketAddr,
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `PUBLIC_URL`: where clients reach this server (used in OAuth callbacks and the OpenAPI document).
    pub public_url: String,
    /// `JWT_SECRET`.
    pub jwt_secret: Secret,
    /// `SESSION_SECRET`.
    pub session_secret: Secret,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: CorsOrigins,
    /// `DB_POOL_SIZE`, `DB_CHECKOUT_TIMEOUT_MS`, `SQLITE_BUSY_TIMEOUT_MS`.
    pub pool: PoolOptions,
    /// `DATA_DIR`: where generated development secrets are kept.
    pub data_dir: PathBuf,
    /// `ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: idle lifetime of a session.
    pub refresh_token_ttl: Duration,
    /// `SESSION_MAX_AGE_SECS`: absolute lifetime of a session.
    pub session_max_age: Duration,
    /// `REFRESH_REUSE_GRACE_SECS`.
    pub refresh_reuse_grace: Duration,
    /// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`.
    pub argon2: HashParams,
    /// `HASH_CONCURRENCY`: password hashes at once; by default the number of cores minus one (at least 1).
    pub hash_concurrency: usize,
    /// `RATE_LIMIT_*`.
    pub rate_limit: RateLimits,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`, loaded into the server's TLS configuration.
    pub tls: Option<TlsSettings>,
    /// `GITHUB_*`, when GitHub sign-in is configured.
    pub github: Option<GithubSettings>,
    /// `OAUTH_REDIRECT_ALLOWLIST`.
    pub redirect_allowlist: Vec<String>,
    /// Whether `PUBLIC_URL` was left to its default (then a port-0 bind fills in the real port).
    pub public_url_is_default: bool,
    /// `MAINTENANCE_INTERVAL_SECS`: how often expired rows are deleted and idle rate-limit keys
    /// forgotten.
    pub maintenance_interval: Duration,
    /// `MAIL_*`, `SMTP_URL`, the mailed tokens' lifetimes and `REQUIRE_VERIFIED_EMAIL`.
    pub mail: MailSettings,
    /// `JWT_ALG` and `SIGNING_KEY_*`.
    pub signing: SigningSettings,
    /// `METRICS_BIND_ADDR`: where `/metrics` is served (off when unset).
    pub metrics_bind_addr: Option<SocketAddr>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `REDIS_URL` and `REDIS_KEY_PREFIX`, when the rate limits are shared.
    pub redis: Option<RedisSettings>,
}

const DAY: u64 = 24 * 60 * 60;

impl Settings {
    /// Reads `.env` (without overriding the real environment), then the environment.
    pub fn from_env() -> Result<Settings, ConfigErrors> {
        // A missing .env is normal; a broken one is worth a warning.
        if let Err(err) = dotenvy::dotenv() {
            if !err.not_found() {
                log::warn!("ignoring .env: {err}");
            }
        }
        Settings::from_vars(&std::env::vars().collect())
    }

    /// Builds settings from variables. Tests call this with a map, so they go through the same parsing
    /// and validation as a real start-up.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Settings, ConfigErrors> {
        let mut reader = Reader::new(vars);
        let app_env = reader.app_env();
        let database_url = reader.database_url();
        let bind_addr = reader.parse(
            "BIND_ADDR",
            "127.0.0.1:8080".parse::<SocketAddr>().ok(),
            "an address such as 127.0.0.1:8080",
        );
        let public_url = reader.public_url(bind_addr);
        let data_dir = PathBuf::from(reader.get("DATA_DIR").unwrap_or("data"));
        let jwt_secret = reader.secret("JWT_SECRET", JWT_SECRET_MIN, app_env, &data_dir);
        let session_secret = reader.secret("SESSION_SECRET", SESSION_SECRET_MIN, app_env, &data_dir);
        let cors_allowed_origins = reader.cors(app_env);
        let mail = reader.mail(app_env, &data_dir);
        let signing = reader.signing(app_env);
        let metrics_bind_addr = reader.metrics_bind_addr();
        let log_format = reader.log_format();
        let redis = reader.redis();
        let pool = reader.pool();
        let access_ttl = reader.seconds("ACCESS_TOKEN_TTL_SECS", 15 * 60, 1);
        let refresh_ttl = reader.seconds("REFRESH_TOKEN_TTL_SECS", 30 * DAY, 1);
        let session_max_age = reader.seconds("SESSION_MAX_AGE_SECS", 90 * DAY, 1);
        let reuse_grace = reader.seconds("REFRESH_REUSE_GRACE_SECS", 10, 0);
        let argon2 = reader.argon2();
        let hash_concurrency = reader.hash_concurrency();
        let maintenance_interval = reader
            .seconds("MAINTENANCE_INTERVAL_SECS", 600, 1)
            .unwrap_or(Duration::from_secs(600));
        let rate_limit = reader.rate_limits();
        let trusted_proxies = reader.trusted_proxies();
        let tls = reader.tls();
        let github = reader.github();
        let redirect_allowlist = reader.redirect_allowlist();
        reader.production_rules(app_env, rate_limit, &trusted_proxies, &redirect_allowlist);
        reader.public_url_rule(app_env, &public_url, &trusted_proxies);
        let public_url_is_default = reader.get("PUBLIC_URL").is_none();
        let tokens = (access_ttl, refresh_ttl, session_max_age, reuse_grace);
        let (
            Some(database_url),
            Some(bind_addr),
            Some(jwt_secret),
            Some(session_secret),
            Some(pool),
            (
                Some(access_token_ttl),
                Some(refresh_token_ttl),
                Some(session_max_age),
                Some(refresh_reuse_grace),
            ),
            Some(argon2),
            Some(hash_concurrency),
            Some(mail),
            Some(signing),
        ) = (
            database_url,
            bind_addr,
            jwt_secret,
            session_secret,
            pool,
            tokens,
            argon2,
            hash_concurrency,
            mail,
            signing,
        )
        else {
            return Err(reader.into_errors());
        };
        if !reader.is_clean() {
            return Err(reader.into_errors());
        }
        Ok(Settings {
            database_url,
            bind_addr,
            app_env,
            public_url,
            jwt_secret,
            session_secret,
            cors_allowed_origins,
            pool,
            data_dir,
            access_token_ttl,
            refresh_token_ttl,
            session_max_age,
            refresh_reuse_grace,
            argon2,
            hash_concurrency,
            rate_limit,
            trusted_proxies,
            tls,
            github,
            redirect_allowlist,
            public_url_is_default,
            maintenance_interval,
            mail,
            signing,
            metrics_bind_addr,
            log_format,
            redis,
        })
    }
}

impl Reader<'_> {
    fn app_env(&mut self) -> AppEnv {
        match self.get("APP_ENV").unwrap_or("development") {
            "development" => AppEnv::Development,
            "production" => AppEnv::Production,
            other => {
                self.problem(format!(
                    "APP_ENV must be `development` or `production`, not {other:?}"
                ));
                AppEnv::Development
            }
        }
    }

    /// `PUBLIC_URL` without its trailing slash, by default `http://` and the bind address.
    fn public_url(&mut self, bind_addr: Option<SocketAddr>) -> String {
        match (self.get("PUBLIC_URL"), bind_addr) {
            (Some(url), _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.problem(format!(
                        "PUBLIC_URL must start with http:// or https://, not {url:?}"
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{session, vars, JWT};
    use super::*;

    #[test]
    fn production_reports_every_problem_at_once() {
        let errors = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "short"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("BIND_ADDR", "nowhere"),
            ("DATABASE_URL", "mysql://x"),
            ("PUBLIC_URL", "http://auth.example.com"),
            ("TRUSTED_PROXIES", "not-an-ip"),
            ("TLS_CERT_FILE", "/nonexistent/cert.pem"),
        ]))
        .unwrap_err();
        let text = errors.to_string();
        for needle in [
            "PUBLIC_URL must be https://",
            "not-an-ip",
            "must be set together",
            "JWT_SECRET must be at least 32",
            "SESSION_SECRET is required",
            "not `*`",
            "BIND_ADDR",
            "DATABASE_URL",
            "MAIL_TRANSPORT=file",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(errors.0.len(), 9, "{text}");
    }

    #[test]
    fn public_url_defaults_to_the_bind_address() {
        let settings = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            ("BIND_ADDR", "0.0.0.0:9000"),
        ]))
        .unwrap();
        assert_eq!(settings.public_url, "http://0.0.0.0:9000");
        assert_eq!(settings.pool.checkout_timeout, Duration::from_secs(2));
    }
}
