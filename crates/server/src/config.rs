//! Typed configuration, read once from the environment (and a `.env` file) and validated before
//! anything binds. Every problem is collected and reported together, so one start-up shows them all.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ipnet::IpNet;
use portcullis_auth::password::HashParams;
use portcullis_db::{DatabaseUrl, PoolOptions};
use rand::RngCore;

/// Which rules apply: production refuses unsafe settings that development tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work: generated secrets, no HSTS.
    Development,
    /// Real deployments.
    Production,
}

/// A secret value; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The raw bytes, for key derivation.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// Which cross-origin callers may read responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Exact origins (`scheme://host[:port]`).
    List(Vec<String>),
    /// `*`: any origin, without credentials (refused in production).
    Any,
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
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`, checked to load.
    pub tls: Option<TlsFiles>,
    /// `GITHUB_*`, when GitHub sign-in is configured.
    pub github: Option<GithubSettings>,
    /// `OAUTH_REDIRECT_ALLOWLIST`.
    pub redirect_allowlist: Vec<String>,
    /// Whether `PUBLIC_URL` was left to its default (then a port-0 bind fills in the real port).
    pub public_url_is_default: bool,
    /// `MAINTENANCE_INTERVAL_SECS`: how often expired rows are deleted and idle rate-limit keys
    /// forgotten.
    pub maintenance_interval: Duration,
}

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

/// Per-client request quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `RATE_LIMIT_ENABLED`.
    pub enabled: bool,
    /// `RATE_LIMIT_AUTH_PER_MIN`.
    pub auth_per_min: u32,
    /// `RATE_LIMIT_AUTH_BURST`.
    pub auth_burst: u32,
    /// `RATE_LIMIT_API_PER_SEC`.
    pub api_per_sec: u32,
    /// `RATE_LIMIT_API_BURST`.
    pub api_burst: u32,
}

/// A certificate chain and private key in PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `TLS_CERT_FILE`.
    pub cert: PathBuf,
    /// `TLS_KEY_FILE`.
    pub key: PathBuf,
}

/// Every configuration problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const JWT_SECRET_MIN: usize = 32;
const DAY: u64 = 24 * 60 * 60;
const SESSION_SECRET_MIN: usize = 64;

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
        let mut reader = Reader {
            vars,
            problems: Vec::new(),
        };
        let app_env = match reader.get("APP_ENV").unwrap_or("development") {
            "development" => AppEnv::Development,
            "production" => AppEnv::Production,
            other => {
                reader.problem(format!(
                    "APP_ENV must be `development` or `production`, not {other:?}"
                ));
                AppEnv::Development
            }
        };
        let database_url = reader
            .get("DATABASE_URL")
            .unwrap_or("sqlite://data/portcullis.db")
            .to_owned();
        let database_url = match DatabaseUrl::parse(&database_url) {
            Ok(url) => Some(url),
            Err(err) => {
                reader.problem(format!("DATABASE_URL: {err}"));
                None
            }
        };
        let bind_addr = reader.parse(
            "BIND_ADDR",
            "127.0.0.1:8080".parse::<SocketAddr>().ok(),
            "an address such as 127.0.0.1:8080",
        );
        let public_url = match (reader.get("PUBLIC_URL"), bind_addr) {
            (Some(url), _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    reader.problem(format!(
                        "PUBLIC_URL must start with http:// or https://, not {url:?}"
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => String::new(),
        };
        let data_dir = PathBuf::from(reader.get("DATA_DIR").unwrap_or("data"));
        let jwt_secret = reader.secret("JWT_SECRET", JWT_SECRET_MIN, app_env, &data_dir);
        let session_secret = reader.secret("SESSION_SECRET", SESSION_SECRET_MIN, app_env, &data_dir);
        let cors_allowed_origins = reader.cors(app_env);
        let max_size = reader.parse(
            "DB_POOL_SIZE",
            Some(10u32),
            "a number of connections from 1 to 1000",
        );
        if max_size.is_some_and(|n| n == 0 || n > 1000) {
            reader.problem("DB_POOL_SIZE must be from 1 to 1000".into());
        }
        let checkout_ms = reader.parse("DB_CHECKOUT_TIMEOUT_MS", Some(2000u64), "milliseconds");
        let busy_ms = reader.parse("SQLITE_BUSY_TIMEOUT_MS", Some(2000u64), "milliseconds");
        let access_ttl = reader.seconds("ACCESS_TOKEN_TTL_SECS", 15 * 60, 1);
        let refresh_ttl = reader.seconds("REFRESH_TOKEN_TTL_SECS", 30 * DAY, 1);
        let session_max_age = reader.seconds("SESSION_MAX_AGE_SECS", 90 * DAY, 1);
        let reuse_grace = reader.seconds("REFRESH_REUSE_GRACE_SECS", 10, 0);
        let argon2 = reader.argon2();
        // Default: all cores but one (at least one), so a login storm leaves a core for other requests.
        let spare = std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let hash_concurrency = reader.parse("HASH_CONCURRENCY", Some(spare), "a number from 1 to 256");
        if hash_concurrency.is_some_and(|n| n == 0 || n > 256) {
            reader.problem("HASH_CONCURRENCY must be from 1 to 256".into());
        }

        let maintenance_interval = reader
            .seconds("MAINTENANCE_INTERVAL_SECS", 600, 1)
            .unwrap_or(Duration::from_secs(600));
        let rate_limit = reader.rate_limits();
        let trusted_proxies = reader.trusted_proxies();
        let tls = reader.tls();
        let github = reader.github();
        let redirect_allowlist = reader.redirect_allowlist();
        // Settings that work but leave the service weak: refused in production, where they would be
        // a vulnerability, and only warned about in development, where they are convenient.
        for weakness in reader.weaknesses(rate_limit, &trusted_proxies, &redirect_allowlist) {
            match app_env {
                AppEnv::Production => reader.problem(weakness),
                AppEnv::Development => log::warn!("{weakness} (refused in production)"),
            }
        }
        let public_url_is_default = reader.get("PUBLIC_URL").is_none();
        let insecure_public_url = public_url.starts_with("http://") && trusted_proxies.is_empty();
        if app_env == AppEnv::Production && insecure_public_url {
            reader.problem(
                "PUBLIC_URL must be https:// in production (or name the TLS-terminating proxy in TRUSTED_PROXIES)".into(),
            );
        }
        let tokens = (
            access_ttl,
            refresh_ttl,
            session_max_age,
            reuse_grace,
            argon2,
            hash_concurrency,
        );
        let (
            Some(database_url),
            Some(bind_addr),
            Some(jwt_secret),
            Some(session_secret),
            Some(max_size),
            Some(checkout),
            Some(busy),
            (
                Some(access_token_ttl),
                Some(refresh_token_ttl),
                Some(session_max_age),
                Some(refresh_reuse_grace),
                Some(argon2),
                Some(hash_concurrency),
            ),
        ) = (
            database_url,
            bind_addr,
            jwt_secret,
            session_secret,
            max_size,
            checkout_ms,
            busy_ms,
            tokens,
        )
        else {
            return Err(ConfigErrors(reader.problems));
        };
        if !reader.problems.is_empty() {
            return Err(ConfigErrors(reader.problems));
        }
        Ok(Settings {
            database_url,
            bind_addr,
            app_env,
            public_url,
            jwt_secret,
            session_secret,
            cors_allowed_origins,
            pool: PoolOptions {
                max_size: max_size.clamp(1, 1000),
                checkout_timeout: Duration::from_millis(checkout),
                sqlite_busy_timeout: Duration::from_millis(busy),
            },
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
        })
    }
}

struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A set, non-blank variable.
    fn get(&self, name: &str) -> Option<&'a str> {
        let vars: &'a HashMap<String, String> = self.vars;
        vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str, default: Option<T>, expected: &str) -> Option<T> {
        match self.get(name) {
            None => default,
            Some(raw) => match raw.parse() {
                Ok(value) => Some(value),
                Err(_) => {
                    self.problem(format!("{name} must be {expected}, not {raw:?}"));
                    None
                }
            },
        }
    }

    fn seconds(&mut self, name: &str, default: u64, min: u64) -> Option<Duration> {
        let value = self.parse(name, Some(default), "a whole number of seconds")?;
        if value < min {
            self.problem(format!("{name} must be at least {min}"));
            return None;
        }
        Some(Duration::from_secs(value))
    }

    fn rate_limits(&mut self) -> RateLimits {
        let enabled = match self
            .get("RATE_LIMIT_ENABLED")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                self.problem(format!("RATE_LIMIT_ENABLED must be true or false, not {other:?}"));
                true
            }
        };
        let mut positive = |name: &str, default: u32| {
            let value = self
                .parse(name, Some(default), "a positive number")
                .unwrap_or(default);
            if value == 0 {
                self.problem(format!("{name} must be at least 1"));
            }
            value.max(1)
        };
        RateLimits {
            enabled,
            auth_per_min: positive("RATE_LIMIT_AUTH_PER_MIN", 30),
            auth_burst: positive("RATE_LIMIT_AUTH_BURST", 10),
            api_per_sec: positive("RATE_LIMIT_API_PER_SEC", 100),
            api_burst: positive("RATE_LIMIT_API_BURST", 200),
        }
    }

    fn url(&mut self, name: &str, default: &str) -> String {
        let value = self.get(name).unwrap_or(default).trim_end_matches('/').to_owned();
        if !is_http_url(&value) {
            self.problem(format!(
                "{name} must be an http:// or https:// URL, not {value:?}"
            ));
        }
        value
    }

    fn github(&mut self) -> Option<GithubSettings> {
        let authorize_url = self.url("GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize");
        let token_url = self.url("GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token");
        let api_url = self.url("GITHUB_API_URL", "https://api.github.com");
        match (self.get("GITHUB_CLIENT_ID"), self.get("GITHUB_CLIENT_SECRET")) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(GithubSettings {
                client_id: id.to_owned(),
                client_secret: Secret(secret.as_bytes().to_vec()),
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

    fn redirect_allowlist(&mut self) -> Vec<String> {
        let entries: Vec<String> = self
            .get("OAUTH_REDIRECT_ALLOWLIST")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
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

    fn trusted_proxies(&mut self) -> Vec<IpNet> {
        let Some(raw) = self.get("TRUSTED_PROXIES") else {
            return Vec::new();
        };
        let mut nets = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let parsed = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => nets.push(net),
                Err(_) => self.problem(format!(
                    "TRUSTED_PROXIES: {entry:?} is not an address or CIDR range"
                )),
            }
        }
        nets
    }

    fn tls(&mut self) -> Option<TlsFiles> {
        match (self.get("TLS_CERT_FILE"), self.get("TLS_KEY_FILE")) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                };
                match crate::tls::server_config(&files) {
                    Ok(_) => Some(files),
                    Err(err) => {
                        self.problem(format!("TLS_CERT_FILE/TLS_KEY_FILE: {err}"));
                        None
                    }
                }
            }
            _ => {
                self.problem("TLS_CERT_FILE and TLS_KEY_FILE must be set together".into());
                None
            }
        }
    }

    fn argon2(&mut self) -> Option<HashParams> {
        let defaults = HashParams::default();
        let memory_kib = self.parse("ARGON2_MEMORY_KIB", Some(defaults.memory_kib), "a size in KiB");
        let iterations = self.parse(
            "ARGON2_ITERATIONS",
            Some(defaults.iterations),
            "a number of passes",
        );
        let parallelism = self.parse(
            "ARGON2_PARALLELISM",
            Some(defaults.parallelism),
            "a number of lanes",
        );
        let params = HashParams {
            memory_kib: memory_kib?,
            iterations: iterations?,
            parallelism: parallelism?,
        };
        // argon2's own limits: at least 8 KiB per lane, one pass, one lane.
        if params.parallelism == 0 || params.parallelism > 64 {
            self.problem("ARGON2_PARALLELISM must be from 1 to 64".into());
            return None;
        }
        if params.iterations == 0 {
            self.problem("ARGON2_ITERATIONS must be at least 1".into());
            return None;
        }
        if params.memory_kib < 8 * params.parallelism || params.memory_kib > 4 * 1024 * 1024 {
            self.problem("ARGON2_MEMORY_KIB must be from 8 × ARGON2_PARALLELISM to 4194304".into());
            return None;
        }
        Some(params)
    }

    fn secret(&mut self, name: &str, min_len: usize, env: AppEnv, data_dir: &Path) -> Option<Secret> {
        match (self.get(name), env) {
            (Some(value), _) if value.len() >= min_len => Some(Secret(value.as_bytes().to_vec())),
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

    fn cors(&mut self, env: AppEnv) -> CorsOrigins {
        let Some(raw) = self.get("CORS_ALLOWED_ORIGINS") else {
            return CorsOrigins::List(Vec::new());
        };
        let entries: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if entries.iter().any(|origin| origin == "*") {
            if env == AppEnv::Production {
                self.problem("CORS_ALLOWED_ORIGINS must list exact origins in production, not `*`".into());
            }
            if entries.len() > 1 {
                self.problem("CORS_ALLOWED_ORIGINS: `*` cannot be combined with other origins".into());
            }
            return CorsOrigins::Any;
        }
        for origin in &entries {
            if !is_origin(origin) {
                self.problem(format!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin (scheme://host[:port], no path or trailing slash)"
                ));
            }
        }
        CorsOrigins::List(entries)
    }
}

impl Reader<'_> {
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
        for name in ["GITHUB_AUTHORIZE_URL", "GITHUB_TOKEN_URL", "GITHUB_API_URL"] {
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
}

/// `TRUSTED_PROXIES` ranges shorter than these are refused in production: a /8 is the widest private
/// IPv4 network (10.0.0.0/8), and no real proxy fleet spans more than a /16 of IPv6; anything wider is
/// a typo or "trust everyone" (0.0.0.0/0, ::/0), which lets any client pick its rate-limit bucket.
const TRUSTED_V4_MIN_PREFIX: u8 = 8;
const TRUSTED_V6_MIN_PREFIX: u8 = 16;

fn too_broad(net: &IpNet) -> bool {
    match net {
        IpNet::V4(v4) => v4.prefix_len() < TRUSTED_V4_MIN_PREFIX,
        // ::ffff:0:0/96 is all of IPv4 written as IPv6: judge such a range by its IPv4 part.
        IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.network().to_ipv4_mapped().is_some() => {
            v6.prefix_len() - 96 < TRUSTED_V4_MIN_PREFIX
        }
        IpNet::V6(v6) => v6.prefix_len() < TRUSTED_V6_MIN_PREFIX,
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
fn weak_secret(value: &str) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    let normalized: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if let Some(word) = PLACEHOLDER_WORDS.iter().find(|w| normalized.contains(*w)) {
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

/// Whether an http(s) URL names this machine: localhost, 127.0.0.0/8 or [::1].
fn is_loopback_url(url: &str) -> bool {
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

fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(' ')
    })
}

fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '?', '#', '@', ' '])
}

/// In development a missing secret is generated once and kept in the data folder, so restarts keep
/// tokens and cookies valid.
fn load_or_generate(data_dir: &Path, name: &str, min_len: usize) -> std::io::Result<Secret> {
    let path = data_dir.join(name.to_ascii_lowercase());
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= min_len {
            return Ok(Secret(existing.as_bytes().to_vec()));
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
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const JWT: &str = "0123456789abcdef0123456789abcdef";

    fn session() -> String {
        "s".repeat(64)
    }

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
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(errors.0.len(), 8, "{text}");
    }

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
    fn cors_origins_must_be_exact() {
        let ok = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:3000",
            ),
        ]))
        .unwrap();
        assert_eq!(
            ok.cors_allowed_origins,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
        let bad = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com/,example.com,ftp://files.example.com",
            ),
        ]))
        .unwrap_err();
        assert_eq!(bad.0.len(), 3, "{bad}");
        let any = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ]))
        .unwrap();
        assert_eq!(any.cors_allowed_origins, CorsOrigins::Any);
    }

    /// Random secrets (made once with `openssl rand -base64`) that pass every strength check.
    const STRONG_JWT: &str = "PaIMLFzIY1rtxDR_K_gfPasMp4NCWkZsx6uljiczeVV-";
    const STRONG_SESSION: &str = "R3Gb7LvGTv2Ur_HdJh34HfUZdpy53meoDcocZa9pKln_GGceXTIDh8l8_TDFUzA4";

    fn production(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env = vars(&[
            ("APP_ENV", "production"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("JWT_SECRET", STRONG_JWT),
            ("SESSION_SECRET", STRONG_SESSION),
        ]);
        env.extend(vars(extra));
        env
    }

    /// Every weak setting at once, plus entries that are fine and must not be reported.
    const WEAK: &[(&str, &str)] = &[
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
        let mut rng = rand::rng();
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

    #[test]
    fn trusted_proxy_ranges_wider_than_a_slash_8_or_slash_16_are_too_broad() {
        for (net, broad) in [
            ("0.0.0.0/0", true),
            ("10.0.0.0/7", true),
            ("10.0.0.0/8", false),
            ("192.168.1.10/32", false),
            ("::/0", true),
            ("fc00::/7", true),
            ("2001:db8::/16", false),
            ("2001:db8::/32", false),
            ("::ffff:0:0/96", true),
            ("::ffff:10.0.0.0/104", false),
        ] {
            let parsed: IpNet = net.parse().unwrap();
            assert_eq!(too_broad(&parsed), broad, "{net}");
        }
    }

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
