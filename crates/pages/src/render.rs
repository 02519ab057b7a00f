//! Turning templates and errors into responses.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use portcullis_web::ApiError;

/// What every page's header needs: whether someone is signed in, and the token of the sign-out form.
pub struct Nav {
    /// Signed in.
    pub signed_in: bool,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A rendered page with `status`. Pages are never cached: they show a person's own data.
pub fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(err) => HttpResponse::from_error(ApiError::internal(format!("page template: {err}"))),
    }
}

/// After a successful form: back to a page with GET, so a reload does not post again.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A page that only says something (a refused form, a page that needs sign-in, an error).
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    /// Header.
    pub nav: Nav,
    /// Heading.
    pub title: String,
    /// The sentence.
    pub text: String,
    /// Where to go next.
    pub next: Option<(String, String)>,
}

/// A message page with `status`.
pub fn message(
    status: StatusCode,
    nav: Nav,
    title: &str,
    text: &str,
    next: Option<(&str, &str)>,
) -> HttpResponse {
    page(
        status,
        &Message {
            nav,
            title: title.to_owned(),
            text: text.to_owned(),
            next: next.map(|(href, label)| (href.to_owned(), label.to_owned())),
        },
    )
}

/// The error of an operation as a person reads it: its sentence, then each field's problem. Server
/// errors say nothing of their cause (it was logged with the request id).
pub fn explain(err: &ApiError) -> Vec<String> {
    if let ApiError::Internal(cause) = err {
        log::error!("page operation failed: {cause}");
    }
    match err {
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field.replace('_', " "), f.message))
            .collect(),
        other => vec![capitalised(&other.detail())],
    }
}

/// The status an operation's error is shown with.
pub fn status_of(err: &ApiError) -> StatusCode {
    actix_web::ResponseError::status_code(err)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
