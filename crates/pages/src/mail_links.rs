//! The pages the mailed links open (`/verify-email`, `/confirm-email`, `/reset-password`) and the
//! request for a reset link (`/forgot-password`). Each calls the API route's own handler, so the token
//! rules, the throttles and the security events are the API's. A link never acts on GET: mail
//! scanners follow links, so the page asks for a click (a POST with the CSRF token).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use portcullis_auth::routes::email::{
    confirm_email_change, forgot_password, reset_password, verify, ForgotPassword, ResetPassword, TokenBody,
};
use portcullis_auth::Auth;
use portcullis_db::Pool;
use portcullis_web::{ApiError, ClientInfo, JsonBody, ValidJson};
use serde::Deserialize;
use serde_json::json;

use crate::browser::{self, csrf_token};
use crate::form::Form;
use crate::render::{explain, message, page, status_of, Nav};
use crate::sign_in::forged;

/// `?token=…` of a mailed link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
    title: &'static str,
    text: &'static str,
    button: &'static str,
    action: &'static str,
    token: String,
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
    token: String,
}

/// What a link page confirms.
#[derive(Clone, Copy)]
enum Link {
    Verify,
    Confirm,
}

impl Link {
    fn page(self, session: &Session, token: String, errors: Vec<String>, status: StatusCode) -> HttpResponse {
        let (title, text, button, action) = match self {
            Link::Verify => (
                "Verify your email address",
                "Confirm that this address is yours.",
                "Verify my address",
                "/verify-email",
            ),
            Link::Confirm => (
                "Confirm your new email address",
                "Confirm the change: you will sign in with this address from now on.",
                "Confirm the new address",
                "/confirm-email",
            ),
        };
        page(
            status,
            &ConfirmPage {
                nav: nav(session),
                csrf: csrf_token(session),
                errors,
                title,
                text,
                button,
                action,
                token,
            },
        )
    }
}

fn nav(session: &Session) -> Nav {
    // The header offers sign-in links; a signed-in visitor still reaches their pages from `/`.
    Nav {
        signed_in: false,
        csrf: csrf_token(session),
    }
}

/// A form's fields as the API route's validated body.
fn body<T: serde::de::DeserializeOwned + validator::Validate>(
    fields: serde_json::Value,
) -> Result<ValidJson<T>, ApiError> {
    JsonBody::from_value(&fields).parse().map(ValidJson)
}

/// GET /verify-email?token=…
pub async fn verify_page(session: Session, query: web::Query<LinkQuery>) -> HttpResponse {
    Link::Verify.page(
        &session,
        query.token.clone().unwrap_or_default(),
        Vec::new(),
        StatusCode::OK,
    )
}

/// GET /confirm-email?token=…
pub async fn confirm_page(session: Session, query: web::Query<LinkQuery>) -> HttpResponse {
    Link::Confirm.page(
        &session,
        query.token.clone().unwrap_or_default(),
        Vec::new(),
        StatusCode::OK,
    )
}

/// POST /verify-email
pub async fn verify_email(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    redeem(Link::Verify, req, session, auth, pool, client, raw).await
}

/// POST /confirm-email
pub async fn confirm_email(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    redeem(Link::Confirm, req, session, auth, pool, client, raw).await
}

async fn redeem(
    link: Link,
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&raw);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let token = form.text("token");
    let outcome = match body::<TokenBody>(json!({ "token": token })) {
        Ok(valid) => match link {
            Link::Verify => verify(pool, client, valid).await,
            Link::Confirm => confirm_email_change(pool, client, valid).await,
        },
        Err(err) => Err(err),
    };
    match outcome {
        Ok(_) => {
            let text = match link {
                Link::Verify => "Your email address is verified.",
                Link::Confirm => "Your email address is changed. Sign in with the new one from now on.",
            };
            message(
                StatusCode::OK,
                nav(&session),
                "Done",
                text,
                Some(("/", "Continue")),
            )
        }
        Err(err) => link.page(&session, token, explain(&err), status_of(&err)),
    }
}

/// GET /forgot-password
pub async fn forgot_page(session: Session) -> HttpResponse {
    forgot_form(&session, Vec::new(), StatusCode::OK)
}

fn forgot_form(session: &Session, errors: Vec<String>, status: StatusCode) -> HttpResponse {
    page(
        status,
        &ForgotPage {
            nav: nav(session),
            csrf: csrf_token(session),
            errors,
        },
    )
}

/// POST /forgot-password: the same answer whether or not the address has an account.
pub async fn forgot(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    raw: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&raw);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let outcome = match body::<ForgotPassword>(json!({ "email": form.text("email") })) {
        Ok(valid) => forgot_password(auth, pool, valid).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(_) => message(
            StatusCode::OK,
            nav(&session),
            "Check your inbox",
            "If an account uses that address, we sent it a link to choose a new password.",
            Some(("/login", "Back to sign-in")),
        ),
        Err(err) => forgot_form(&session, explain(&err), status_of(&err)),
    }
}

/// GET /reset-password?token=…
pub async fn reset_page(session: Session, query: web::Query<LinkQuery>) -> HttpResponse {
    reset_form(
        &session,
        query.token.clone().unwrap_or_default(),
        Vec::new(),
        StatusCode::OK,
    )
}

fn reset_form(session: &Session, token: String, errors: Vec<String>, status: StatusCode) -> HttpResponse {
    page(
        status,
        &ResetPage {
            nav: nav(session),
            csrf: csrf_token(session),
            errors,
            token,
        },
    )
}

/// POST /reset-password: every session of the account ends, this browser's too.
pub async fn reset(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&raw);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let token = form.text("token");
    let fields = json!({ "token": token, "new_password": form.text("new_password") });
    let outcome = match body::<ResetPassword>(fields) {
        Ok(valid) => reset_password(auth, pool, client, valid).await,
        Err(err) => Err(err),
    };
    match outcome {
        // The API ends every session of the account; a browser signed in to it finds out on its next page.
        Ok(_) => message(
            StatusCode::OK,
            nav(&session),
            "Password changed",
            "Your password is changed and every session of your account has ended.",
            Some(("/login", "Sign in")),
        ),
        Err(err) => reset_form(&session, token, explain(&err), status_of(&err)),
    }
}
