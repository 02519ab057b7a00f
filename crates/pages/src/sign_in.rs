//! Sign-in (also for applications: `/login?redirect_uri=…&code_challenge=…` ends at
//! `redirect_uri?login_code=…`), sign-up and sign-out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use portcullis_auth::routes::github::{back_to, check_redirect, new_login_code, sign_in_challenge};
use portcullis_auth::routes::login::{create_account, sign_in_with_password, SignupRequest};
use portcullis_auth::{sessions, Auth};
use portcullis_db::Pool;
use portcullis_web::{with_conn, ApiError, ClientInfo};
use serde::Deserialize;

use crate::browser::{self, csrf_token, Forged};
use crate::form::Form;
use crate::render::{self, explain, message, page, see_other, status_of, Nav};

/// Where a signed-in browser lands.
const HOME: &str = "/console";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
    email: String,
    app: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
    email: String,
    display_name: String,
}

/// An application's hosted sign-in: where to send the browser back, and the S256 challenge its login
/// code is bound to.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostedQuery {
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl HostedQuery {
    fn from_form(form: &Form) -> HostedQuery {
        HostedQuery {
            redirect_uri: form.optional("redirect_uri"),
            code_challenge: form.optional("code_challenge"),
            code_challenge_method: form.optional("code_challenge_method"),
        }
    }

    /// `None` for a sign-in to the pages themselves; the checked redirect and challenge otherwise.
    fn checked(&self, auth: &Auth) -> Result<Option<(String, String)>, ApiError> {
        let Some(redirect_uri) = &self.redirect_uri else {
            return Ok(None);
        };
        check_redirect(auth, redirect_uri)?;
        let challenge = sign_in_challenge(self.code_challenge.clone(), self.code_challenge_method.clone())?;
        Ok(Some((redirect_uri.clone(), challenge)))
    }
}

fn nav(session: &Session, signed_in: bool) -> Nav {
    Nav {
        signed_in,
        csrf: csrf_token(session),
    }
}

/// The page for a form refused before it was read.
pub(crate) fn forged(session: &Session, why: &Forged) -> HttpResponse {
    let text = match why {
        Forged::CrossSite => "This form was sent from another site, so nothing was changed.",
        Forged::BadToken => "This form has expired or was not sent from this site, so nothing was changed. Reload the page and try again.",
    };
    message(
        StatusCode::FORBIDDEN,
        nav(session, false),
        "Request refused",
        text,
        None,
    )
}

/// The page for an error outside any form.
pub(crate) fn failed(session: &Session, err: &ApiError) -> HttpResponse {
    let text = explain(err).join(" ");
    message(
        status_of(err),
        nav(session, false),
        "Something went wrong",
        &text,
        Some(("/", "Start again")),
    )
}

/// GET /
pub async fn home(session: Session, pool: web::Data<Pool>) -> HttpResponse {
    match browser::signed_in(&session, &pool).await {
        Ok(Some(_)) => see_other(HOME),
        Ok(None) => see_other("/login"),
        Err(err) => failed(&session, &err),
    }
}

/// GET /login
pub async fn login_page(
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    query: web::Query<HostedQuery>,
) -> HttpResponse {
    let hosted = match query.checked(&auth) {
        Ok(hosted) => hosted,
        Err(err) => return failed(&session, &err),
    };
    let signed_in = match browser::signed_in(&session, &pool).await {
        Ok(signed_in) => signed_in,
        Err(err) => return failed(&session, &err),
    };
    match (signed_in, hosted) {
        (Some(_), None) => see_other(HOME),
        // An application's sign-in always asks: a GET must not mint a login code, or any page that
        // links here with its own challenge would get one for a signed-in visitor.
        (_, Some(_)) | (None, None) => {
            login_form(&session, &query, Vec::new(), String::new(), StatusCode::OK)
        }
    }
}

fn login_form(
    session: &Session,
    hosted: &HostedQuery,
    errors: Vec<String>,
    email: String,
    status: StatusCode,
) -> HttpResponse {
    let redirect_uri = hosted.redirect_uri.clone().unwrap_or_default();
    let app = url::Url::parse(&redirect_uri)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    page(
        status,
        &LoginPage {
            nav: nav(session, false),
            csrf: csrf_token(session),
            errors,
            email,
            app,
            redirect_uri,
            code_challenge: hosted.code_challenge.clone().unwrap_or_default(),
            code_challenge_method: hosted.code_challenge_method.clone().unwrap_or_default(),
        },
    )
}

/// Sends the browser back to the application with a login code bound to its challenge.
async fn hand_over(
    pool: &Pool,
    user_id: &str,
    redirect_uri: &str,
    challenge: String,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.to_owned();
    let code = with_conn(pool, move |conn| {
        Ok(new_login_code(conn, &user_id, Some(&challenge))?)
    })
    .await?;
    Ok(back_to(redirect_uri, "login_code", &code))
}

/// POST /login
pub async fn login(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let query = HostedQuery::from_form(&form);
    let hosted = match query.checked(&auth) {
        Ok(hosted) => hosted,
        Err(err) => return failed(&session, &err),
    };
    let email = form.text("email");
    let signed =
        sign_in_with_password(&auth, &pool, &req, client, email.clone(), form.text("password")).await;
    let (user, grant, device) = match signed {
        Ok(signed) => signed,
        Err(ApiError::MfaRequired { .. }) => {
            return message(
                StatusCode::UNAUTHORIZED,
                nav(&session, false),
                "Second factor required",
                "This account signs in with a second factor, which these pages do not ask for yet: sign in through an application that supports it.",
                None,
            )
        }
        Err(err) => return login_form(&session, &query, explain(&err), email, status_of(&err)),
    };
    if let Err(err) = browser::remember(&session, &user.id, &grant) {
        return failed(&session, &err);
    }
    let mut response = match hosted {
        Some((redirect_uri, challenge)) => match hand_over(&pool, &user.id, &redirect_uri, challenge).await {
            Ok(response) => response,
            Err(err) => return failed(&session, &err),
        },
        None => see_other(HOME),
    };
    if let Err(err) = response.add_cookie(&device) {
        log::warn!("device cookie not set: {err}");
    }
    response
}

/// GET /signup
pub async fn signup_page(session: Session, pool: web::Data<Pool>) -> HttpResponse {
    match browser::signed_in(&session, &pool).await {
        Ok(Some(_)) => see_other(HOME),
        Ok(None) => signup_form(&session, Vec::new(), String::new(), String::new(), StatusCode::OK),
        Err(err) => failed(&session, &err),
    }
}

fn signup_form(
    session: &Session,
    errors: Vec<String>,
    email: String,
    display_name: String,
    status: StatusCode,
) -> HttpResponse {
    page(
        status,
        &SignupPage {
            nav: nav(session, false),
            csrf: csrf_token(session),
            errors,
            email,
            display_name,
        },
    )
}

/// POST /signup
pub async fn signup(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let (email, display_name) = (form.text("email"), form.optional("display_name"));
    let request = SignupRequest::new(email.clone(), form.text("password"), display_name.clone());
    match create_account(&auth, &pool, client, request).await {
        Ok((user, grant)) => match browser::remember(&session, &user.id, &grant) {
            Ok(()) => see_other("/account"),
            Err(err) => failed(&session, &err),
        },
        Err(err) => signup_form(
            &session,
            explain(&err),
            email,
            display_name.unwrap_or_default(),
            status_of(&err),
        ),
    }
}

/// POST /logout: ends the session row (so its refresh token dies too) and forgets the cookie.
pub async fn logout(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    if let Ok(Some(user)) = browser::signed_in(&session, &pool).await {
        let ended = with_conn(&pool, move |conn| {
            sessions::revoke(conn, &user.user_id, &user.session_id, &client)
        })
        .await;
        if let Err(err) = ended {
            return failed(&session, &err);
        }
    }
    browser::forget(&session);
    see_other("/login")
}

pub(crate) use render::Nav as PageNav;

/// The header of a page for a signed-in browser.
pub(crate) fn signed_in_nav(session: &Session) -> PageNav {
    nav(session, true)
}
