//! What an operator watches: `METRICS_BIND_ADDR` (the Prometheus endpoint, off by default) and
//! `LOG_FORMAT` (`text` or `json`).

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

impl Reader<'_> {
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
