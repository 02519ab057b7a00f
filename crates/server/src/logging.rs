//! The log format: env_logger's text lines (structured fields as `key=value`), or with
//! `LOG_FORMAT=json` one JSON object per line for log shippers: `ts`, `level`, `target`, `msg`, the
//! line's structured fields, and the `request_id` of the request being answered when the line was
//! written during one (on its task or in its database work).

use std::io::Write;

use log::kv::{Key, Value, VisitSource};
use serde_json::{Map, Value as Json};

use crate::config::LogFormat;

/// Installs the process logger (`RUST_LOG` filters, `info` by default).
pub fn init(format: LogFormat) {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| writeln!(buf, "{}", json_line(record, chrono::Utc::now())));
    }
    builder.init();
}

/// The JSON object of one record. A field named like one of the fixed keys is prefixed with `field_`.
pub fn json_line(record: &log::Record<'_>, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut line = Map::new();
    line.insert(
        "ts".into(),
        now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
    );
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    line.insert("msg".into(), record.args().to_string().into());
    let mut fields = Fields(&mut line);
    // A visitor that never fails cannot make this fail.
    let _ = record.key_values().visit(&mut fields);
    if !line.contains_key("request_id") {
        if let Some(id) = portcullis_web::current_request_id() {
            line.insert("request_id".into(), id.into());
        }
    }
    Json::Object(line).to_string()
}

struct Fields<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else if let Some(x) = value.to_f64() {
            serde_json::Number::from_f64(x).map_or_else(|| value.to_string().into(), Json::Number)
        } else {
            value.to_string().into()
        };
        let name = key.as_str();
        let name = if matches!(name, "ts" | "level" | "target" | "msg") {
            format!("field_{name}")
        } else {
            name.to_owned()
        };
        self.0.insert(name, json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_object_with_its_fields() {
        let fields: &[(&str, Value<'_>)] = &[
            ("request_id", Value::from("0192-abc")),
            ("status", Value::from(401u16)),
            ("msg", Value::from("a field that clashes")),
        ];
        let line = json_line(
            &log::Record::builder()
                .args(format_args!("request \"quoted\"\nnext line"))
                .level(log::Level::Info)
                .target("portcullis::access")
                .key_values(&fields)
                .build(),
            chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let parsed: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "ts": "2027-01-15T08:00:00.000000Z",
                "level": "INFO",
                "target": "portcullis::access",
                "msg": "request \"quoted\"\nnext line",
                "request_id": "0192-abc",
                "status": 401,
                "field_msg": "a field that clashes",
            })
        );
    }
}
