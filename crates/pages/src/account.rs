//! The account page: who is signed in, profile, email, password, the second factor (enrolment with a
//! QR code, recovery codes shown once, turning it off), recent security events, and every session
//! (API and browser alike) with revoke. Each form calls the API route's own handler for the signed-in
//! user, so the password checks, throttles, mails and events are the API's.

use actix_session::Session;
use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine;
use portcullis_auth::routes::{
    account as account_routes, email as email_routes, github as github_routes, mfa as mfa_routes,
};
use portcullis_auth::{sessions, Auth, Principal};
use portcullis_db::{identities, security_events, sessions as session_rows, users, Pool};
use portcullis_web::{rfc3339, with_conn, ApiError, ClientInfo, JsonBody, OptionalJson, ValidJson};
use serde_json::{json, Value};

use crate::browser::{self, csrf_token, SignedIn};
use crate::console::posted;
use crate::form::Form;
use crate::render::{explain, message, page, see_other, status_of};
use crate::sign_in::{failed, forged, signed_in_nav, PageNav};

struct SessionRow {
    id: String,
    created_at: String,
    user_agent: String,
    current: bool,
}

struct EventRow {
    at: String,
    action: String,
    from: String,
}

/// An authenticator being set up: its secret, and the QR code of its `otpauth://` URI.
struct Enrolment {
    secret: String,
    qr_data_uri: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: PageNav,
    csrf: String,
    errors: Vec<String>,
    errors_at: &'static str,
    notice: Option<String>,
    email: String,
    display_name: String,
    verified: bool,
    mfa: bool,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    events: Vec<EventRow>,
    sessions: Vec<SessionRow>,
    /// GitHub sign-in is configured, and the login of the linked GitHub account if there is one.
    github_enabled: bool,
    github_login: Option<String>,
}

/// What a form adds to the account page it shows again.
#[derive(Default)]
struct Outcome {
    errors: Vec<String>,
    /// The section whose form failed, where its errors are shown.
    at: &'static str,
    notice: Option<String>,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
}

/// The signed-in browser, or the page that asks to sign in.
pub(crate) async fn require(session: &Session, pool: &Pool) -> Result<SignedIn, HttpResponse> {
    match browser::signed_in(session, pool).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(see_other("/login")),
        Err(err) => Err(failed(session, &err)),
    }
}

/// GET /account
pub async fn show(session: Session, auth: web::Data<Auth>, pool: web::Data<Pool>) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    account_page(&session, &auth, &pool, &user, Outcome::default(), StatusCode::OK).await
}

async fn account_page(
    session: &Session,
    auth: &Auth,
    pool: &Pool,
    user: &SignedIn,
    outcome: Outcome,
    status: StatusCode,
) -> HttpResponse {
    let (user_id, current) = (user.user_id.clone(), user.session_id.clone());
    let loaded = with_conn(pool, move |conn| {
        let account = users::find(conn, &user_id)?;
        let live = session_rows::list_live(conn, &user_id, portcullis_db::now())?;
        let events = security_events::page(conn, &user_id, None, 10)?;
        let github = identities::of_user(conn, &user_id)?
            .into_iter()
            .find(|i| i.provider == "github")
            .map(|i| i.login);
        Ok((account, live, events, github))
    })
    .await;
    let (account, live, events, github_login) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return failed(session, &err),
    };
    page(
        status,
        &AccountPage {
            nav: signed_in_nav(session),
            csrf: csrf_token(session),
            errors: outcome.errors,
            errors_at: outcome.at,
            notice: outcome.notice,
            email: account.email,
            display_name: account.display_name.unwrap_or_default(),
            verified: account.email_verified,
            mfa: account.mfa_enabled,
            enrolment: outcome.enrolment,
            recovery_codes: outcome.recovery_codes,
            github_enabled: auth.github_enabled(),
            github_login,
            events: events
                .into_iter()
                .map(|e| EventRow {
                    at: rfc3339(e.created_at),
                    action: e.action,
                    from: e.ip.unwrap_or_default(),
                })
                .collect(),
            sessions: live
                .into_iter()
                .map(|s| SessionRow {
                    current: s.id == current,
                    id: s.id,
                    created_at: rfc3339(s.created_at),
                    user_agent: s.user_agent.unwrap_or_else(|| "unknown device".into()),
                })
                .collect(),
        },
    )
}

/// The signed-in user as the API's handlers take them.
fn principal(user: &SignedIn) -> Principal {
    Principal {
        user_id: user.user_id.clone(),
        session_id: user.session_id.clone(),
        amr: user.amr.clone(),
    }
}

/// A form's fields as an API route's validated body.
fn valid<T: serde::de::DeserializeOwned + validator::Validate>(fields: &Value) -> Result<T, ApiError> {
    JsonBody::from_value(fields).parse()
}

/// The JSON an API handler answered with.
async fn json_of(response: HttpResponse) -> Result<Value, ApiError> {
    let bytes = response
        .into_body()
        .try_into_bytes()
        .map_err(|_| ApiError::internal("an API answer with a streamed body"))?;
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

/// Shows the account page after a form: the outcome, or the error next to the forms.
async fn after(
    session: &Session,
    auth: &Auth,
    pool: &Pool,
    (user, at): (&SignedIn, &'static str),
    result: Result<Outcome, ApiError>,
) -> HttpResponse {
    match result {
        Ok(outcome) => account_page(session, auth, pool, user, outcome, StatusCode::OK).await,
        Err(err) => {
            let outcome = Outcome {
                errors: explain(&err),
                at,
                ..Outcome::default()
            };
            account_page(session, auth, pool, user, outcome, status_of(&err)).await
        }
    }
}

fn done(notice: &str) -> Outcome {
    Outcome {
        notice: Some(notice.to_owned()),
        ..Outcome::default()
    }
}

/// POST /account/profile
pub async fn update_profile(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let name = form.optional("display_name");
    let body = JsonBody::from_value(&json!({ "display_name": name }));
    let result = account_routes::update_me(principal(&user), pool.clone(), body)
        .await
        .map(|_| done("Your name is saved."));
    after(&session, &auth, &pool, (&user, "profile"), result).await
}

/// POST /account/email: a confirmation link goes to the new address.
pub async fn change_email(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let fields = json!({"new_email": form.text("new_email"), "password": form.optional("password")});
    let result = match valid(&fields) {
        Ok(body) => email_routes::change_email(
            principal(&user),
            auth.clone(),
            pool.clone(),
            client,
            ValidJson(body),
        )
        .await
        .map(|_| done("We sent a link to the new address: the change happens when you follow it.")),
        Err(err) => Err(err),
    };
    after(&session, &auth, &pool, (&user, "email"), result).await
}

/// POST /account/password: the other sessions end, this one stays.
pub async fn change_password(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let body = JsonBody::from_value(&json!({
        "current_password": form.text("current_password"),
        "new_password": form.text("new_password"),
    }));
    let result = account_routes::change_password(principal(&user), auth.clone(), pool.clone(), client, body)
        .await
        .map(|_| done("Your password is changed."));
    after(&session, &auth, &pool, (&user, "password"), result).await
}

/// POST /account/mfa/enrol: a new authenticator's secret and QR code, to confirm with a code.
pub async fn enrol_mfa(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let result = match valid(&json!({ "password": form.optional("password") })) {
        Ok(body) => {
            let answer = mfa_routes::enrol(
                principal(&user),
                auth.clone(),
                pool.clone(),
                client,
                OptionalJson(Some(body)),
            )
            .await;
            match answer {
                Ok(response) => json_of(response).await.and_then(|enrolment| {
                    let secret = enrolment["secret"].as_str().unwrap_or_default().to_owned();
                    let uri = enrolment["otpauth_uri"].as_str().unwrap_or_default();
                    Ok(Outcome {
                        enrolment: Some(Enrolment {
                            qr_data_uri: qr_data_uri(uri)?,
                            secret,
                        }),
                        ..Outcome::default()
                    })
                }),
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    };
    after(&session, &auth, &pool, (&user, "mfa"), result).await
}

/// The QR code of `uri` as an SVG `data:` URI (an `<img>`, so the page needs no inline markup).
fn qr_data_uri(uri: &str) -> Result<String, ApiError> {
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|err| ApiError::internal(format!("QR code: {err}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// POST /account/mfa/confirm: the first code turns the factor on; the recovery codes are shown once.
pub async fn confirm_mfa(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let result = match valid(&json!({ "code": form.text("code") })) {
        Ok(body) => match mfa_routes::confirm(principal(&user), auth.clone(), pool.clone(), client, ValidJson(body)).await {
            Ok(response) => json_of(response).await.map(|answer| Outcome {
                notice: Some("Two-factor sign-in is on. Keep these recovery codes somewhere safe: they are shown once.".into()),
                recovery_codes: answer["recovery_codes"]
                    .as_array()
                    .map(|codes| codes.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                ..Outcome::default()
            }),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    after(&session, &auth, &pool, (&user, "mfa"), result).await
}

/// POST /account/mfa/disable
pub async fn disable_mfa(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, form) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let result = match valid(&json!({ "code": form.text("code") })) {
        Ok(body) => mfa_routes::disable(
            principal(&user),
            auth.clone(),
            pool.clone(),
            client,
            ValidJson(body),
        )
        .await
        .map(|_| done("Two-factor sign-in is off.")),
        Err(err) => Err(err),
    };
    after(&session, &auth, &pool, (&user, "mfa"), result).await
}

/// POST /account/github/link: the GitHub flow for the signed-in user, back at
/// `/account/github/linked`.
pub async fn link_github(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, _) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let query = web::Query(github_routes::LinkQuery::to(github_routes::pages_link_callback(
        &auth,
    )));
    let started = match github_routes::start_link(principal(&user), auth.clone(), pool.clone(), query).await {
        Ok(response) => json_of(response).await,
        Err(err) => Err(err),
    };
    match started {
        Ok(answer) => see_other(answer["authorize_url"].as_str().unwrap_or("/account")),
        Err(err) => after(&session, &auth, &pool, (&user, "github"), Err(err)).await,
    }
}

/// `?link_code=…`, or `?error=…`.
#[derive(Debug, serde::Deserialize)]
pub struct LinkedQuery {
    link_code: Option<String>,
    error: Option<String>,
}

/// GET /account/github/linked: completes the link (only the user who started it can redeem the
/// code, so a code from anyone else's flow fails here).
pub async fn github_linked(
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    query: web::Query<LinkedQuery>,
) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let result = match (&query.link_code, query.error.as_deref()) {
        (Some(code), None) => match valid(&json!({ "link_code": code })) {
            Ok(body) => github_routes::complete_link(
                principal(&user),
                auth.clone(),
                pool.clone(),
                client,
                ValidJson(body),
            )
            .await
            .map(|_| done("Your GitHub account is linked: you can sign in with it.")),
            Err(err) => Err(err),
        },
        _ => Err(ApiError::BadRequest {
            code: "github_link_failed",
            detail: "linking GitHub did not complete".into(),
        }),
    };
    after(&session, &auth, &pool, (&user, "github"), result).await
}

/// POST /account/github/unlink
pub async fn unlink_github(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    raw: web::Bytes,
) -> HttpResponse {
    let (user, _) = match posted(&req, &session, &auth, &pool, &raw).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let result = github_routes::unlink(principal(&user), pool.clone(), client)
        .await
        .map(|_| done("GitHub is unlinked from your account."));
    after(&session, &auth, &pool, (&user, "github"), result).await
}

/// POST /account/sessions/{id}/revoke
pub async fn revoke_session(
    req: HttpRequest,
    session: Session,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    if let Err(why) = browser::check_form(&req, &session, &form, auth.public_url()) {
        return forged(&session, &why);
    }
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let target = path.into_inner();
    let own = target == user.session_id;
    let revoked = with_conn(&pool, move |conn| {
        sessions::revoke(conn, &user.user_id, &target, &client)
    })
    .await;
    match revoked {
        Ok(_) if own => {
            browser::forget(&session);
            see_other("/login")
        }
        Ok(true) => see_other("/account"),
        Ok(false) => message(
            StatusCode::NOT_FOUND,
            signed_in_nav(&session),
            "Session not found",
            "That session has already ended.",
            Some(("/account", "Back to your account")),
        ),
        Err(err) => failed(&session, &err),
    }
}
