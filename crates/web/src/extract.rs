//! Extractors and error handlers that turn bad input into clear problem documents.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{error, web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::{ApiError, FieldError};

/// Largest request body accepted (64 KiB), per the API contract.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// A JSON body that was well-formed, had only known fields, held no NUL characters and passed its
/// `validator` rules. Each failure has its own answer: 415 wrong content type, 413 too large,
/// 400 not JSON, 422 with one entry per field otherwise.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> ValidJson<T> {
    /// The validated value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonBody::from_request(req, payload);
        Box::pin(async move { body.await?.parse().map(ValidJson) })
    }
}

/// A JSON request body that has been received (415 for another content type, 413 over the limit)
/// but not yet parsed. Handlers that authorize take this and call [`JsonBody::parse`] after the
/// authorization check, so a caller without access learns nothing from validation errors.
#[derive(Debug)]
pub struct JsonBody(web::Bytes);

impl JsonBody {
    /// A body built in the server rather than read from a request (the console turns its forms into
    /// the JSON the API takes, so both pass the same validation).
    pub fn from_value(value: &serde_json::Value) -> JsonBody {
        JsonBody(web::Bytes::from(value.to_string()))
    }

    /// Parses and validates: 400 for bad JSON, 422 for the wrong shape or broken rules.
    pub fn parse<T: DeserializeOwned + Validate>(&self) -> Result<T, ApiError> {
        parse(&self.0)
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared_length.is_some_and(|len| len > JSON_BODY_LIMIT) {
                return Err(ApiError::PayloadTooLarge {
                    limit: JSON_BODY_LIMIT,
                });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|err| ApiError::MalformedJson(err.to_string()))?;
                if body.len() + chunk.len() > JSON_BODY_LIMIT {
                    return Err(ApiError::PayloadTooLarge {
                        limit: JSON_BODY_LIMIT,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(JsonBody(body.freeze()))
        })
    }
}

/// Like [`ValidJson`], for routes whose body may be left out entirely (`DELETE /me` for an account
/// without a password): no body and no `Content-Type` is `None`; anything else must be valid JSON.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let empty = !req.headers().contains_key(header::CONTENT_TYPE)
            && !req.headers().contains_key(header::TRANSFER_ENCODING)
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.trim() == "0");
        if empty {
            return Box::pin(async { Ok(OptionalJson(None)) });
        }
        let body = ValidJson::<T>::from_request(req, payload);
        Box::pin(async move { body.await.map(|ValidJson(value)| OptionalJson(Some(value))) })
    }
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Parses and validates a body: syntax first (400), then repeated keys, NUL characters, shape and
/// rules (422).
pub(crate) fn parse<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    let (value, duplicates) = read_json(body).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    if !duplicates.is_empty() {
        return Err(ApiError::Validation(
            duplicates
                .into_iter()
                .map(|field| FieldError::new(field, "duplicate_key", "is given more than once"))
                .collect(),
        ));
    }
    // PostgreSQL cannot store NUL in text and would answer 500; refuse it on both backends alike.
    let mut errors = Vec::new();
    find_nul_strings(&value, String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|err| shape_error(&err))?;
    parsed
        .validate()
        .map_err(|errs| ApiError::Validation(field_errors(&errs)))?;
    Ok(parsed)
}

/// Reads a JSON document into a [`Value`], noting the path of every key that an object repeats.
///
/// `serde_json::Value` (like most parsers) quietly keeps one of the repeated values, and parsers
/// disagree on which: a body that a proxy or a client library reads one way could be acted on here
/// the other way. So repeated keys, at any depth and however their names are escaped, are reported
/// and the body refused. The document is read to the end first, so a body that is not JSON at all is
/// still a syntax error.
fn read_json(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut walk = Walk::default();
    let value = Node(&mut walk).deserialize(&mut de)?;
    de.end()?;
    Ok((value, walk.duplicates))
}

/// Where [`read_json`] is in the document, and what it found.
#[derive(Default)]
struct Walk {
    /// The keys and indices from the root to the value being read. Paths are rendered only for a
    /// repeated key, so a large body costs no string building.
    at: Vec<Step>,
    /// The paths of repeated keys, each once.
    duplicates: Vec<String>,
}

enum Step {
    Key(String),
    Index(usize),
}

impl Walk {
    fn path_to(&self, key: &str) -> String {
        let mut path = String::new();
        for step in &self.at {
            match step {
                Step::Key(name) => path = join(&path, name),
                Step::Index(i) if !path.ends_with(CLIPPED) => path = clip(format!("{path}[{i}]")),
                Step::Index(_) => {}
            }
        }
        join(&path, key)
    }
}

/// One value of the document, read as `serde_json::Value` reads it, except that objects check their
/// keys.
struct Node<'w>(&'w mut Walk);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity; serde_json's own `Value` maps them to null the same way.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let walk = self.0;
        let mut items = Vec::new();
        loop {
            walk.at.push(Step::Index(items.len()));
            let item = seq.next_element_seed(Node(&mut *walk));
            walk.at.pop();
            match item? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let walk = self.0;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let repeated = fields.contains_key(&key);
            if repeated && walk.duplicates.len() < MAX_REPORTED {
                let path = walk.path_to(&key);
                if !walk.duplicates.contains(&path) {
                    walk.duplicates.push(path);
                }
            }
            walk.at.push(Step::Key(key));
            let value = map.next_value_seed(Node(&mut *walk));
            let Some(Step::Key(key)) = walk.at.pop() else {
                // The step pushed just above; nothing else touches the stack in between.
                return Err(serde::de::Error::custom("unbalanced key path"));
            };
            let value = value?;
            // The body is refused anyway; keeping the first value or the last makes no difference.
            if !repeated {
                fields.insert(key, value);
            }
        }
        Ok(Value::Object(fields))
    }
}

fn find_nul_strings(value: &Value, path: String, errors: &mut Vec<FieldError>) {
    if errors.len() >= MAX_REPORTED {
        return;
    }
    match value {
        Value::String(s) if s.contains('\0') => errors.push(FieldError::new(
            path,
            "invalid_characters",
            "must not contain NUL characters",
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = if path.ends_with(CLIPPED) {
                    path.clone()
                } else {
                    clip(format!("{path}[{i}]"))
                };
                find_nul_strings(item, item_path, errors);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                if name.contains('\0') {
                    errors.push(FieldError::new(
                        join(&path, "?"),
                        "invalid_characters",
                        "field names must not contain NUL",
                    ));
                    continue;
                }
                find_nul_strings(item, join(&path, name), errors);
            }
        }
        _ => {}
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        clip(name.to_owned())
    } else if parent.ends_with(CLIPPED) {
        parent.to_owned()
    } else {
        clip(format!("{parent}.{name}"))
    }
}

/// At most this many problems of one kind are reported for a body, and a reported path is cut to
/// [`PATH_CHARS`]: a 64 KiB body of long keys and many elements would otherwise make the server build
/// (and answer) megabytes of paths.
const MAX_REPORTED: usize = 10;
const PATH_CHARS: usize = 200;
const CLIPPED: &str = "…";

fn clip(path: String) -> String {
    match path.char_indices().nth(PATH_CHARS) {
        Some((end, _)) => format!("{}{CLIPPED}", &path[..end]),
        None => path,
    }
}

/// Turns a serde error (unknown field, missing field, wrong type) into a field error.
fn shape_error(err: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let message = err.inner().to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    let path = err.path().to_string();
    let parent = if path == "." { String::new() } else { path };
    let named = message.split('`').nth(1).unwrap_or_default();
    let (code, field) = if message.starts_with("unknown field") {
        ("unknown_field", field_under(&parent, named))
    } else if message.starts_with("missing field") {
        ("required", field_under(&parent, named))
    } else if message.starts_with("invalid type") {
        ("invalid_type", parent_or_body(parent))
    } else {
        ("invalid", parent_or_body(parent))
    };
    ApiError::Validation(vec![FieldError::new(field, code, message)])
}

fn field_under(parent: &str, named: &str) -> String {
    if parent == named || parent.ends_with(&format!(".{named}")) {
        parent.to_owned()
    } else {
        join(parent, named)
    }
}

fn parent_or_body(parent: String) -> String {
    if parent.is_empty() {
        "body".to_owned()
    } else {
        parent
    }
}

/// Flattens `validator`'s nested errors into sorted field errors.
pub fn field_errors(errs: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errs, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field).then(a.code.cmp(&b.code)));
    out
}

fn collect(errs: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errs.errors() {
        let path = join(prefix, field);
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let message = e
                    .message
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| format!("is invalid ({})", e.code));
                FieldError::new(path.clone(), e.code.clone(), message)
            })),
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

/// Query-string errors are 422 `validation_failed`, never actix's plain-text 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            error::QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::invalid_field("query", "invalid", message).into()
    })
}

/// A path segment that does not parse (say, an id that is not a UUID) names nothing that exists: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::not_found().into())
}

/// An id taken from the path (`{tid}`, `{uid}`, `{pid}`, the `{id}` of a session, invitation or API
/// key). Every id Portcullis hands out is a UUID, so anything else names nothing that exists and gets
/// the 404 `not_found` of an unknown id. Handlers check it where they would look the id up (after
/// authentication and the scope check, so the answer is the unknown id's in every respect), and
/// before any query: PostgreSQL fails a query whose text holds NUL (`%00` in the path), which would
/// be a 500 where SQLite finds nothing.
pub fn path_id(raw: String) -> Result<String, ApiError> {
    match uuid::Uuid::try_parse(&raw) {
        Ok(_) => Ok(raw),
        Err(_) => Err(ApiError::not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Signup {
        #[validate(email(code = "invalid_email", message = "must be an email address"))]
        email: String,
        #[validate(length(min = 12, code = "too_short", message = "must be at least 12 characters"))]
        password: String,
        #[allow(dead_code)]
        display_name: Option<String>,
    }

    fn errors(body: &str) -> Vec<(String, String)> {
        match parse::<Signup>(body.as_bytes()) {
            Err(ApiError::Validation(list)) => {
                list.into_iter().map(|e| (e.field, e.code.into_owned())).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_body_built_to_multiply_reported_paths_gets_a_short_answer() {
        let key = "k".repeat(30_000);
        let repeats = vec![r#"{"a":0,"a":0}"#; 2000].join(",");
        let nuls = vec![r#""\u0000""#; 2000].join(",");
        for body in [
            format!(r#"{{"{key}":[{repeats}]}}"#),
            format!(r#"{{"{key}":[{nuls}]}}"#),
        ] {
            let found = errors(&body);
            assert!(
                (1..=MAX_REPORTED).contains(&found.len()),
                "{} problems",
                found.len()
            );
            assert!(found
                .iter()
                .all(|(path, _)| path.chars().count() <= PATH_CHARS + 1));
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in ["", "{", "{\"email\": }", "nope"] {
            assert!(
                matches!(parse::<Signup>(body.as_bytes()), Err(ApiError::MalformedJson(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let ok = r#""email":"a@example.com","password":"correct horse battery""#;
        assert_eq!(
            errors(&format!("{{{ok},\"tenant_id\":\"x\"}}")),
            [("tenant_id".into(), "unknown_field".into())]
        );
        assert_eq!(
            errors(r#"{"email":"a@example.com"}"#),
            [("password".into(), "required".into())]
        );
        assert_eq!(
            errors(r#"{"email":5,"password":"x"}"#),
            [("email".into(), "invalid_type".into())]
        );
        assert_eq!(errors("\"text\""), [("body".into(), "invalid_type".into())]);
        assert_eq!(errors("[]"), [("body".into(), "invalid".into())]);
    }

    #[test]
    fn rules_report_every_field() {
        assert_eq!(
            errors(r#"{"email":"nope","password":"short"}"#),
            [
                ("email".into(), "invalid_email".into()),
                ("password".into(), "too_short".into())
            ]
        );
    }

    fn duplicates(body: &str) -> Vec<(String, String)> {
        errors(body)
            .into_iter()
            .filter(|(_, code)| code == "duplicate_key")
            .collect()
    }

    fn dup(fields: &[&str]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|f| ((*f).to_owned(), "duplicate_key".to_owned()))
            .collect()
    }

    #[test]
    fn repeated_keys_are_refused_wherever_they_are() {
        let ok = r#""password":"correct horse battery""#;
        assert_eq!(
            errors(&format!(
                r#"{{"email":"a@example.com",{ok},"email":"b@example.com"}}"#
            )),
            dup(&["email"])
        );
        // Escapes do not make a different key.
        assert_eq!(
            duplicates(&format!(
                r#"{{"email":"a@example.com",{ok},"em\u0061il":"b@example.com"}}"#
            )),
            dup(&["email"])
        );
        // A key given three times is reported once; every repeated key is, in document order.
        assert_eq!(
            duplicates(&format!(
                r#"{{"email":"a@example.com",{ok},{ok},"email":"b","email":"c"}}"#
            )),
            dup(&["password", "email"])
        );
        // Nested objects, and objects inside arrays, are checked too (before the shape is).
        assert_eq!(
            duplicates(r#"{"email":"a@example.com","nested":{"a":{"b":1,"b":2}}}"#),
            dup(&["nested.a.b"])
        );
        assert_eq!(
            duplicates(r#"{"list":[{"k":1},{"k":1,"j":[{"x":0,"x":0}],"k":2}]}"#),
            dup(&["list[1].j[0].x", "list[1].k"])
        );
        assert_eq!(
            duplicates(r#"[[{"a":1}],[{},{"a":1,"a":1}]]"#),
            dup(&["[1][1].a"])
        );
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_repeats() {
        let value =
            read_json(br#"{"a":{"x":1,"y":[{"x":2},{"x":3}]},"b":{"x":1.5,"n":null,"t":true}}"#).unwrap();
        assert_eq!(value.1, Vec::<String>::new());
        // The value is exactly what serde_json reads.
        let plain: Value =
            serde_json::from_str(r#"{"a":{"x":1,"y":[{"x":2},{"x":3}]},"b":{"x":1.5,"n":null,"t":true}}"#)
                .unwrap();
        assert_eq!(value.0, plain);
        for body in [
            "-12",
            "18446744073709551615",
            "2.5e300",
            "\"s\"",
            "[]",
            "{}",
            "null",
        ] {
            let (read, found) = read_json(body.as_bytes()).unwrap();
            assert_eq!(read, serde_json::from_str::<Value>(body).unwrap(), "{body}");
            assert!(found.is_empty());
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed_even_with_repeated_keys() {
        for body in [
            r#"{"email":"a","email":"b""#,
            r#"{"email":"a","email":"b"} trailing"#,
            r#"{"a":{"b":1,"b":2},}"#,
        ] {
            assert!(
                matches!(parse::<Signup>(body.as_bytes()), Err(ApiError::MalformedJson(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn path_ids_must_be_uuids() {
        let id = "0190f5c2-3c4d-7e8f-9a0b-1c2d3e4f5a6b";
        assert_eq!(path_id(id.to_owned()).unwrap(), id);
        for bad in [
            "",
            "abc",
            "\0",
            &format!("{id}\0"),
            &format!("\0{id}"),
            "ü",
            &id[1..],
        ] {
            assert!(
                matches!(
                    path_id(bad.to_owned()),
                    Err(ApiError::NotFound {
                        code: "not_found",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nul_characters_are_refused_before_anything_else() {
        assert_eq!(
            errors(r#"{"email":"a\u0000@example.com","password":"correct horse battery"}"#),
            [("email".into(), "invalid_characters".into())]
        );
    }
}
