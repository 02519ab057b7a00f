//! Running as an operated service: `METRICS_BIND_ADDR` (the Prometheus endpoint, off by default),
//! `LOG_FORMAT` (`text` or `json`) and `REDIS_URL` / `REDIS_KEY_PREFIX` (rate limits shared by several
//! instances).

use std::net::SocketAddr;

use super::reader::Reader;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// env_logger's human-readable lines, fields as `key=value`.
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `msg` and the line's fields (`request_id`…).
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Where the shared rate limits are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `REDIS_URL`: `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// `REDIS_KEY_PREFIX` (`portcullis`): keys are `<prefix>:rl:<quota>:<client>`, so deployments can
    /// share one Redis.
    pub key_prefix: String,
}

impl Reader<'_> {
    pub(super) fn redis(&mut self) -> Option<RedisSettings> {
        let url = self.get("REDIS_URL")?;
        if !url.starts_with("redis://") {
            self.problem(format!(
                "REDIS_URL must be redis://host[:port][/db], not {:?}",
                url.split('@').next_back().unwrap_or(url)
            ));
            return None;
        }
        let key_prefix = self.get("REDIS_KEY_PREFIX").unwrap_or("portcullis");
        if key_prefix.is_empty()
            || key_prefix.len() > 64
            || !key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            self.problem("REDIS_KEY_PREFIX must be 1 to 64 letters, digits, '-', '_', '.' or ':'".into());
        }
        Some(RedisSettings {
            url: url.to_owned(),
            key_prefix: key_prefix.to_owned(),
        })
    }

    pub(super) fn metrics_bind_addr(&mut self) -> Option<SocketAddr> {
        self.parse::<SocketAddr>("METRICS_BIND_ADDR", None, "an address such as 127.0.0.1:9100")
    }

    pub(super) fn log_format(&mut self) -> LogFormat {
        match self.get("LOG_FORMAT") {
            None => LogFormat::Text,
            Some(name) => LogFormat::parse(name).unwrap_or_else(|| {
                self.problem(format!("LOG_FORMAT must be text or json, not {name:?}"));
                LogFormat::Text
            }),
        }
    }
}
