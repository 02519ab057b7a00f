//! Timestamps on the wire: RFC 3339 in UTC.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// `2026-11-23T14:20:44.123456Z` for a stored UTC timestamp.
pub fn rfc3339(at: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(at, Utc).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde helper for `Option<Option<T>>` fields of PATCH bodies: absent is `None`, `null` is
/// `Some(None)` (clear it), a value is `Some(Some(v))`. Use with `#[serde(default, deserialize_with)]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
