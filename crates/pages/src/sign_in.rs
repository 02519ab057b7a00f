//! Sign-in (also for applications: `/login?redirect_uri=…&code_challenge=…` ends at
//! `redirect_uri?login_code=…`), sign-up and sign-out.

use actix_session::Session;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use portcullis_auth::pkce;
use portcullis_auth::routes::github::{
    back_to, check_redirect, new_login_code, pages_callback, redeem_login_code, sign_in_challenge,
    PAGES_GITHUB_FLOW,
};
use portcullis_auth::routes::login::{create_account, sign_in_with_password, SignupRequest};
use portcullis_auth::routes::mfa::complete_sign_in;
use portcullis_auth::sessions::Grant;
use portcullis_auth::tokens::random_token;
use portcullis_auth::{sessions, Auth};
use portcullis_db::Pool;
use portcullis_web::{with_conn, ApiError, ClientInfo};
use serde::{Deserialize, Serialize};

use crate::browser::{self, csrf_token, Forged};
use crate::form::Form;
use crate::render::{self, explain, message, page, see_other, status_of, Nav};

/// Where a signed-in browser lands.
const HOME: &str = "/console";

/// The session key of a sign-in waiting for its second factor.
const PENDING: &str = "mfa_pending";

/// A sign-in whose password was right, waiting for its second factor on `/mfa`.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    mfa_token: String,
    hosted: HostedQuery,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
}

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
    next: String,
    /// The "Sign in with GitHub" link, with this sign-in's parameters, when GitHub is configured.
    github: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    nav: Nav,
    csrf: String,
    errors: Vec<String>,
    email: String,
    display_name: String,
    next: String,
}

/// An application's hosted sign-in: where to send the browser back, and the S256 challenge its login
/// code is bound to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HostedQuery {
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// A page of this site to return to after sign-in (an invitation link opened signed out).
    next: Option<String>,
}

impl HostedQuery {
    fn from_form(form: &Form) -> HostedQuery {
        HostedQuery {
            redirect_uri: form.optional("redirect_uri"),
            code_challenge: form.optional("code_challenge"),
            code_challenge_method: form.optional("code_challenge_method"),
            next: form.optional("next"),
        }
    }

    /// Where to go after signing in to the pages: `next` when it is a path of this site (never
    /// another host: `//evil.example` and backslashes are refused), else the console.
    fn landing(&self) -> String {
        match self.next.as_deref() {
            Some(next) if is_local_path(next) => next.to_owned(),
            _ => HOME.to_owned(),
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

/// A path on this site: one leading slash, no scheme or host, no backslash or control character.
pub(crate) fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
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
        (Some(_), None) => see_other(&query.landing()),
        // An application's sign-in always asks: a GET must not mint a login code, or any page that
        // links here with its own challenge would get one for a signed-in visitor.
        (_, Some(_)) | (None, None) => login_form(
            &session,
            auth.github_enabled(),
            &query,
            Vec::new(),
            String::new(),
            StatusCode::OK,
        ),
    }
}

fn login_form(
    session: &Session,
    github: bool,
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
            next: hosted
                .next
                .clone()
                .filter(|n| is_local_path(n))
                .unwrap_or_default(),
            github: github.then(|| match serde_urlencoded_pairs(hosted) {
                query if query.is_empty() => "/login/github".to_owned(),
                query => format!("/login/github?{query}"),
            }),
        },
    )
}

/// The query string of a sign-in's parameters (to carry them through the GitHub detour).
fn serde_urlencoded_pairs(hosted: &HostedQuery) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("redirect_uri", &hosted.redirect_uri),
        ("code_challenge", &hosted.code_challenge),
        ("code_challenge_method", &hosted.code_challenge_method),
        ("next", &hosted.next),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// The session key of a GitHub sign-in started here: the PKCE verifier of its login code, and the
/// sign-in's own parameters. The authorize route lets only such a flow come back to this page.
const GITHUB_PENDING: &str = PAGES_GITHUB_FLOW;

#[derive(Debug, Serialize, Deserialize)]
struct GithubPending {
    verifier: String,
    hosted: HostedQuery,
}

/// GET /login/github: a GitHub sign-in that comes back to this browser, through the same authorize
/// route and login code an application uses, with a PKCE pair of this browser session's own.
pub async fn github_start(
    session: Session,
    auth: web::Data<Auth>,
    query: web::Query<HostedQuery>,
) -> HttpResponse {
    if !auth.github_enabled() {
        return message(
            StatusCode::NOT_FOUND,
            nav(&session, false),
            "Not available",
            "GitHub sign-in is not configured on this server.",
            Some(("/login", "Sign in with a password")),
        );
    }
    if let Err(err) = query.checked(&auth) {
        return failed(&session, &err);
    }
    let verifier = random_token();
    let challenge = pkce::challenge_of(&verifier);
    let pending = GithubPending {
        verifier,
        hosted: query.into_inner(),
    };
    if let Err(err) = session.insert(GITHUB_PENDING, &pending) {
        return failed(&session, &ApiError::internal(format!("session cookie: {err}")));
    }
    let start = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("redirect_uri", &pages_callback(&auth))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", pkce::METHOD)
        .finish();
    see_other(&format!("/api/v1/auth/github/authorize?{start}"))
}

/// `?login_code=…`, or `?error=…` when GitHub or the account rules said no.
#[derive(Debug, Deserialize)]
pub struct GithubDone {
    login_code: Option<String>,
    error: Option<String>,
}

/// GET /login/github/done: the login code of the flow this browser started, redeemed with its
/// verifier (a code from anyone else's flow does not match it, so nobody can sign a victim in to
/// the attacker's account this way).
pub async fn github_done(
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    query: web::Query<GithubDone>,
) -> HttpResponse {
    let Ok(Some(pending)) = session.get::<GithubPending>(GITHUB_PENDING) else {
        // Not this browser's flow: the code is spent all the same (no verifier matches), so it is
        // useless wherever else it was copied to.
        if let Some(code) = query.login_code.clone() {
            let _ = redeem_login_code(&auth, &pool, client, code, None).await;
        }
        return see_other("/login");
    };
    session.remove(GITHUB_PENDING);
    let refused = |text: &str| {
        login_form(
            &session,
            auth.github_enabled(),
            &pending.hosted,
            vec![text.to_owned()],
            String::new(),
            StatusCode::FORBIDDEN,
        )
    };
    if let Some(error) = query.error.as_deref() {
        return refused(match error {
            "account_exists" => "An account with the email of this GitHub account exists: sign in with its password, then link GitHub from your account.",
            "github_email_unverified" => "GitHub has not verified this account's primary email address.",
            _ => "GitHub sign-in did not complete.",
        });
    }
    let Some(code) = query.login_code.clone() else {
        return see_other("/login");
    };
    let hosted = match pending.hosted.checked(&auth) {
        Ok(hosted) => hosted,
        Err(err) => return failed(&session, &err),
    };
    let redeemed = redeem_login_code(&auth, &pool, client, code, Some(pending.verifier.clone())).await;
    let (user, grant) = match redeemed {
        Ok(signed) => signed,
        Err(ApiError::MfaRequired { mfa_token }) => {
            let waiting = Pending {
                mfa_token,
                hosted: pending.hosted,
            };
            return match session.insert(PENDING, &waiting) {
                Ok(()) => see_other("/mfa"),
                Err(err) => failed(&session, &ApiError::internal(format!("session cookie: {err}"))),
            };
        }
        Err(err) => return failed(&session, &err),
    };
    let landing = pending.hosted.landing();
    signed_in_to(&session, &pool, (&user.id, &grant), hosted, &landing, None).await
}

/// The end of every sign-in here (password, second factor, GitHub): the browser is bound to the new
/// session, then sent back to the application with its login code, or to `landing`; a password
/// sign-in also sets the device cookie that exempts this browser from the account's back-off.
async fn signed_in_to(
    session: &Session,
    pool: &Pool,
    (user_id, grant): (&str, &Grant),
    hosted: Option<(String, String)>,
    landing: &str,
    device: Option<Cookie<'static>>,
) -> HttpResponse {
    if let Err(err) = browser::remember(session, user_id, grant) {
        return failed(session, &err);
    }
    let mut response = match hosted {
        Some((redirect_uri, challenge)) => {
            match hand_over(pool, user_id, grant.amr.clone(), &redirect_uri, challenge).await {
                Ok(response) => response,
                Err(err) => return failed(session, &err),
            }
        }
        None => see_other(landing),
    };
    if let Some(device) = device {
        if let Err(err) = response.add_cookie(&device) {
            log::warn!("device cookie not set: {err}");
        }
    }
    response
}

/// Sends the browser back to the application with a login code bound to its challenge and to how
/// the user signed in (`amr`).
async fn hand_over(
    pool: &Pool,
    user_id: &str,
    amr: Vec<String>,
    redirect_uri: &str,
    challenge: String,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.to_owned();
    let code = with_conn(pool, move |conn| {
        let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
        Ok(new_login_code(conn, &user_id, Some(&challenge), &amr)?)
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
        Err(ApiError::MfaRequired { mfa_token }) => {
            // The password was right; the second step happens on /mfa, with the application's
            // redirect (if any) carried along in the session.
            let pending = Pending {
                mfa_token,
                hosted: query.clone(),
            };
            return match session.insert(PENDING, &pending) {
                Ok(()) => see_other("/mfa"),
                Err(err) => failed(&session, &ApiError::internal(format!("session cookie: {err}"))),
            };
        }
        Err(err) => {
            return login_form(
                &session,
                auth.github_enabled(),
                &query,
                explain(&err),
                email,
                status_of(&err),
            )
        }
    };
    let landing = query.landing();
    signed_in_to(
        &session,
        &pool,
        (&user.id, &grant),
        hosted,
        &landing,
        Some(device),
    )
    .await
}

/// GET /mfa
pub async fn mfa_page(session: Session) -> HttpResponse {
    match session.get::<Pending>(PENDING) {
        Ok(Some(_)) => mfa_form(&session, Vec::new(), StatusCode::OK),
        _ => see_other("/login"),
    }
}

fn mfa_form(session: &Session, errors: Vec<String>, status: StatusCode) -> HttpResponse {
    page(
        status,
        &MfaPage {
            nav: nav(session, false),
            csrf: csrf_token(session),
            errors,
        },
    )
}

/// POST /mfa: the code completes the sign-in begun on /login.
pub async fn mfa(
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
    let Ok(Some(pending)) = session.get::<Pending>(PENDING) else {
        return see_other("/login");
    };
    let hosted = match pending.hosted.checked(&auth) {
        Ok(hosted) => hosted,
        Err(err) => return failed(&session, &err),
    };
    let signed = complete_sign_in(&auth, &pool, client, &req, pending.mfa_token, form.text("code")).await;
    let (user, grant, device) = match signed {
        Ok(signed) => signed,
        // A challenge that expired or was used: start the sign-in again.
        Err(ApiError::Unauthorized {
            code: "invalid_mfa_token",
            ..
        }) => {
            session.remove(PENDING);
            return see_other("/login");
        }
        Err(err) => return mfa_form(&session, explain(&err), status_of(&err)),
    };
    session.remove(PENDING);
    let landing = pending.hosted.landing();
    signed_in_to(
        &session,
        &pool,
        (&user.id, &grant),
        hosted,
        &landing,
        Some(device),
    )
    .await
}

/// GET /signup
pub async fn signup_page(
    session: Session,
    pool: web::Data<Pool>,
    query: web::Query<HostedQuery>,
) -> HttpResponse {
    match browser::signed_in(&session, &pool).await {
        Ok(Some(_)) => see_other(&query.landing()),
        Ok(None) => {
            let form = SignupForm {
                next: query
                    .next
                    .clone()
                    .filter(|n| is_local_path(n))
                    .unwrap_or_default(),
                ..SignupForm::default()
            };
            signup_form(&session, Vec::new(), form, StatusCode::OK)
        }
        Err(err) => failed(&session, &err),
    }
}

/// What the sign-up form shows again after a refusal (never the password).
#[derive(Default)]
struct SignupForm {
    email: String,
    display_name: String,
    next: String,
}

fn signup_form(session: &Session, errors: Vec<String>, form: SignupForm, status: StatusCode) -> HttpResponse {
    page(
        status,
        &SignupPage {
            nav: nav(session, false),
            csrf: csrf_token(session),
            errors,
            email: form.email,
            display_name: form.display_name,
            next: form.next,
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
    let next = form.optional("next").filter(|n| is_local_path(n));
    let request = SignupRequest::new(email.clone(), form.text("password"), display_name.clone());
    match create_account(&auth, &pool, client, request).await {
        Ok((user, grant)) => match browser::remember(&session, &user.id, &grant) {
            Ok(()) => see_other(next.as_deref().unwrap_or("/account")),
            Err(err) => failed(&session, &err),
        },
        Err(err) => {
            let shown = SignupForm {
                email,
                display_name: display_name.unwrap_or_default(),
                next: next.unwrap_or_default(),
            };
            signup_form(&session, explain(&err), shown, status_of(&err))
        }
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
