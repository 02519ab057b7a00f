//! GitHub sign-in and linking.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Duration;
use oauth2::url::Url;
use portcullis_db::identities::{self, Identity};
use portcullis_db::oauth::{LinkCode, NewCode};
use portcullis_db::users::{self, NewUser, User};
use portcullis_db::{oauth, write_transaction, DbConn, DbError, Pool};
use portcullis_web::{with_conn, ApiError, ClientInfo, FieldError, ValidJson};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::account::IdentityBody;
use super::body::{no_store, token_response};
use super::login::normalize_email;
use crate::email_tokens;
use crate::events::{self, action};
use crate::github::{self, GithubAccount, GithubConfig, GithubError};
use crate::pkce;
use crate::sessions::Grant;
use crate::tokens::{hash_token, random_token};
use crate::{mfa, sessions, Auth, Principal};
use portcullis_mail::Notice;

const PROVIDER: &str = "github";
const FLOW_KEY: &str = "github_flow";
const STATE_LIFETIME_MINUTES: i64 = 10;
/// `login_codes.purpose` of a finished sign-in, exchanged with the application's verifier.
const LOGIN: &str = "login";
/// `login_codes.purpose` of the ticket that carries a signed-in user from POST /auth/github/link to
/// the authorize redirect, so that no bearer token has to appear in a URL.
const LINK_TICKET: &str = "link_ticket";
const LOGIN_CODE_LIFETIME_SECS: i64 = 60;
const LINK_TICKET_LIFETIME_SECS: i64 = 60;
const LINK_CODE_LIFETIME_MINUTES: i64 = 5;

/// What the encrypted session cookie carries between the authorize redirect and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    redirect_uri: String,
    /// Set for a link flow: the user who started it.
    link_user: Option<String>,
    /// Set for a sign-in: the application's S256 challenge, stored with the login code.
    code_challenge: Option<String>,
}

fn provider(auth: &Auth) -> Result<&GithubConfig, ApiError> {
    auth.config.github.as_ref().ok_or(ApiError::NotFound {
        code: "provider_not_configured",
        detail: "GitHub sign-in is not configured on this server".into(),
    })
}

/// 400 `invalid_redirect_uri` unless `redirect_uri` is exactly one of `REDIRECT_ALLOWLIST`.
pub fn check_redirect(auth: &Auth, redirect_uri: &str) -> Result<(), ApiError> {
    if auth
        .config
        .redirect_allowlist
        .iter()
        .any(|allowed| allowed == redirect_uri)
    {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "invalid_redirect_uri",
            detail: "redirect_uri is not in the allowlist".into(),
        })
    }
}

/// The session key the hosted sign-in page sets when it starts a GitHub sign-in of its own: only such
/// a flow may come back to [`pages_callback`], so no application can have a user's login code
/// delivered to (and left in the history of) that page.
pub const PAGES_GITHUB_FLOW: &str = "github_pending";

/// Where a GitHub sign-in started from the hosted sign-in page comes back to.
pub fn pages_callback(auth: &Auth) -> String {
    format!("{}/login/github/done", auth.config.public_url)
}

/// Where a GitHub link started from the account page comes back to: allowed for link flows only
/// (their code is redeemable only by the user who started them).
pub fn pages_link_callback(auth: &Auth) -> String {
    format!("{}/account/github/linked", auth.config.public_url)
}

fn callback_url(auth: &Auth) -> String {
    format!("{}/api/v1/auth/github/callback", auth.config.public_url)
}

fn redirect_to(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header(no_store())
        .finish()
}

/// A redirect to `redirect_uri` with one query parameter added.
pub fn back_to(redirect_uri: &str, key: &str, value: &str) -> HttpResponse {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(key, value);
            redirect_to(url.as_str())
        }
        Err(err) => HttpResponse::from_error(ApiError::internal(format!(
            "allowlisted redirect_uri does not parse: {err}"
        ))),
    }
}

/// A new login code for `user_id`, bound to the application's challenge (what `/auth/oauth/exchange`
/// takes with the verifier). `amr` is how the user signed in for it: the session the exchange opens
/// says the same (a hosted sign-in that passed a second factor is not asked for it again).
pub fn new_login_code(
    conn: &mut DbConn,
    user_id: &str,
    code_challenge: Option<&str>,
    amr: &[&str],
) -> Result<String, DbError> {
    let code = random_token();
    let purpose = match amr {
        [sessions::GITHUB] => LOGIN.to_owned(),
        methods => format!("{LOGIN}:{}", methods.join(",")),
    };
    oauth::insert_code(
        conn,
        &NewCode {
            code_hash: &hash_token(&code),
            purpose: &purpose,
            user_id,
            code_challenge,
            expires_at: portcullis_db::now() + Duration::seconds(LOGIN_CODE_LIFETIME_SECS),
        },
    )?;
    Ok(code)
}

/// `?redirect_uri=…&code_challenge=…&code_challenge_method=S256`, or `?redirect_uri=…&link_ticket=…`
/// in the URL that POST /auth/github/link hands out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeQuery {
    redirect_uri: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    link_ticket: Option<String>,
}

/// The application's S256 challenge. A sign-in needs one: its login code goes through the browser,
/// and only the application that holds the verifier may exchange it. A link flow does not: it is
/// completed with the bearer token of the user who started it. A challenge sent anyway is checked.
fn app_challenge(query: &AuthorizeQuery) -> Result<Option<String>, ApiError> {
    let link_flow = query.link_ticket.is_some();
    let mut errors = Vec::new();
    match &query.code_challenge {
        None if !link_flow => errors.push(FieldError::new(
            "code_challenge",
            "required",
            "the S256 challenge of a code_verifier that the application keeps is required",
        )),
        Some(challenge) if !pkce::is_challenge(challenge) => errors.push(FieldError::new(
            "code_challenge",
            "invalid",
            "must be BASE64URL(SHA256(code_verifier)) without padding: 43 characters",
        )),
        _ => {}
    }
    if query.code_challenge.is_some() || !link_flow {
        match query.code_challenge_method.as_deref() {
            Some(pkce::METHOD) => {}
            // RFC 7636 reads a missing method as `plain`, which is refused.
            None => errors.push(FieldError::new(
                "code_challenge_method",
                "required",
                "must be S256",
            )),
            Some(_) => errors.push(FieldError::new(
                "code_challenge_method",
                "unsupported",
                "only S256 is supported",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(query.code_challenge.clone().filter(|_| !link_flow))
}

/// The S256 challenge of a hosted sign-in (`/login?redirect_uri=…&code_challenge=…`): required and
/// checked as for a GitHub sign-in.
pub fn sign_in_challenge(
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
) -> Result<String, ApiError> {
    let query = AuthorizeQuery {
        redirect_uri: String::new(),
        code_challenge,
        code_challenge_method,
        link_ticket: None,
    };
    app_challenge(&query)?.ok_or_else(|| ApiError::internal("a sign-in without a challenge passed"))
}

/// GET /auth/github/authorize
pub async fn authorize(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    session: Session,
    query: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    let config = provider(&auth)?;
    let own_page = if query.link_ticket.is_some() {
        query.redirect_uri == pages_link_callback(&auth)
    } else {
        query.redirect_uri == pages_callback(&auth)
            && session
                .get::<serde_json::Value>(PAGES_GITHUB_FLOW)
                .ok()
                .flatten()
                .is_some()
    };
    if !own_page {
        check_redirect(&auth, &query.redirect_uri)?;
    }
    let code_challenge = app_challenge(&query)?;
    let flow = github::authorize(config, &callback_url(&auth)).map_err(ApiError::internal)?;
    let (state_hash, link_ticket) = (hash_token(&flow.state), query.link_ticket.clone());
    let link_user = with_conn(&pool, move |conn| {
        let now = portcullis_db::now();
        let link_user = match link_ticket {
            // A ticket of a deleted user is gone with them (ON DELETE CASCADE): refused here too.
            Some(ticket) => Some(
                oauth::consume_code(conn, &hash_token(&ticket), LINK_TICKET, now)?
                    .ok_or(ApiError::BadRequest {
                        code: "invalid_link_ticket",
                        detail: "the link ticket is unknown, expired or used; start again with POST /auth/github/link"
                            .into(),
                    })?
                    .user_id,
            ),
            None => None,
        };
        oauth::insert_state(conn, &state_hash, now + Duration::minutes(STATE_LIFETIME_MINUTES))?;
        Ok(link_user)
    })
    .await?;
    let cookie = Flow {
        state: flow.state,
        verifier: flow.verifier,
        redirect_uri: query.redirect_uri.clone(),
        link_user,
        code_challenge,
    };
    session
        .insert(FLOW_KEY, cookie)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(redirect_to(&flow.url))
}

/// `?code=…&state=…` (or GitHub's `?error=…`)
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn state_mismatch() -> ApiError {
    ApiError::BadRequest {
        code: "oauth_state_mismatch",
        detail: "the sign-in state is missing, wrong or already used".into(),
    }
}

/// GET /auth/github/callback
pub async fn callback(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    session: Session,
    client: ClientInfo,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let config = provider(&auth)?.clone();
    let flow = session.get::<Flow>(FLOW_KEY).ok().flatten();
    // Only the flow: the same cookie may carry a hosted-pages sign-in.
    session.remove(FLOW_KEY);
    let flow = flow
        .filter(|f| query.state.as_deref() == Some(f.state.as_str()))
        .ok_or_else(state_mismatch)?;
    let state_hash = hash_token(&flow.state);
    // The state is single-use on the server too: a copied cookie cannot replay a finished flow.
    let fresh = with_conn(&pool, move |conn| {
        Ok(oauth::consume_state(conn, &state_hash, portcullis_db::now())?)
    })
    .await?;
    if !fresh {
        return Err(state_mismatch());
    }
    // From here on the browser goes back to the application, with an error code when needed.
    let fail = |code: &str| Ok(back_to(&flow.redirect_uri, "error", code));
    if query.error.is_some() {
        return fail("access_denied");
    }
    let Some(code) = query.code.clone() else {
        return fail("invalid_request");
    };
    let account = match github::account(
        &config,
        &auth.http,
        &callback_url(&auth),
        code,
        flow.verifier.clone(),
    )
    .await
    {
        Ok(account) => account,
        Err(err) => {
            log::warn!("GitHub sign-in failed: {err}");
            return fail(match err {
                GithubError::Exchange(_) => "oauth_exchange_failed",
                GithubError::Api(_) | GithubError::Url(_) => "github_unavailable",
            });
        }
    };
    let (link_user, code_challenge) = (flow.link_user.clone(), flow.code_challenge.clone());
    let outcome = with_conn(&pool, move |conn| match link_user {
        Some(user_id) => hand_over_link(conn, &user_id, &account),
        None => resolve(conn, &account, code_challenge.as_deref(), &client),
    })
    .await?;
    match outcome {
        Outcome::LoginCode(code) => Ok(back_to(&flow.redirect_uri, "login_code", &code)),
        Outcome::LinkCode(code) => Ok(back_to(&flow.redirect_uri, "link_code", &code)),
        Outcome::Refused(code) => fail(code),
    }
}

enum Outcome {
    LoginCode(String),
    LinkCode(String),
    Refused(&'static str),
}

/// The end of a link flow's callback. Nothing is linked here: the browser that finished the flow may
/// not belong to the user who started it (a link URL can be sent to a victim, who would link their
/// GitHub account to the sender's user). The GitHub account is parked under a single-use code that
/// only the starting user can redeem with their own token at POST /auth/github/link/complete.
fn hand_over_link(conn: &mut DbConn, user_id: &str, account: &GithubAccount) -> Result<Outcome, ApiError> {
    write_transaction(conn, |conn| {
        // The user may have deleted their account since the flow started; writing a code for them
        // would then fail on its foreign key (once a 500). Holding the row also keeps a deletion from
        // slipping in before the insert.
        if !oauth::hold_user(conn, user_id)? {
            return Ok(Outcome::Refused("account_not_found"));
        }
        let code = random_token();
        let now = portcullis_db::now();
        let parked = LinkCode {
            code_hash: hash_token(&code),
            user_id: user_id.to_owned(),
            provider: PROVIDER.to_owned(),
            provider_user_id: account.id.to_string(),
            login: account.login.clone(),
            expires_at: now + Duration::minutes(LINK_CODE_LIFETIME_MINUTES),
        };
        oauth::insert_link_code(conn, &parked, now)?;
        Ok(Outcome::LinkCode(code))
    })
}

/// Applies the account-resolution rules of the API to a sign-in: a GitHub account is known by its
/// numeric id only; an unknown id whose email belongs to a local account is never linked automatically.
fn resolve(
    conn: &mut DbConn,
    account: &GithubAccount,
    code_challenge: Option<&str>,
    client: &ClientInfo,
) -> Result<Outcome, ApiError> {
    write_transaction(conn, |conn| {
        let github_id = account.id.to_string();
        if let Some(identity) = identities::find(conn, PROVIDER, &github_id)? {
            return Ok(Outcome::LoginCode(new_login_code(
                conn,
                &identity.user_id,
                code_challenge,
                &[sessions::GITHUB],
            )?));
        }
        let Some(email) = account.verified_primary_email.as_deref() else {
            return Ok(Outcome::Refused("github_email_unverified"));
        };
        let normalized = normalize_email(email);
        if users::find_by_email(conn, &normalized)?.is_some() {
            return Ok(Outcome::Refused("account_exists"));
        }
        let now = portcullis_db::now();
        let user_id = uuid::Uuid::now_v7().to_string();
        let new_user = NewUser {
            id: &user_id,
            email,
            email_normalized: &normalized,
            display_name: Some(&account.login),
            password_hash: None,
            created_at: now,
            updated_at: now,
            // Only a primary email GitHub verified creates an account.
            email_verified: true,
        };
        match users::insert(conn, &new_user) {
            Err(DbError::UniqueViolation(_)) => return Ok(Outcome::Refused("account_exists")),
            other => other?,
        }
        link(conn, &user_id, &account.id.to_string(), &account.login, client)?;
        Ok(Outcome::LoginCode(new_login_code(
            conn,
            &user_id,
            code_challenge,
            &[sessions::GITHUB],
        )?))
    })
}

/// Links a GitHub account and records it; the caller's transaction makes both one change.
fn link(
    conn: &mut DbConn,
    user_id: &str,
    github_id: &str,
    login: &str,
    client: &ClientInfo,
) -> Result<(), DbError> {
    let identity = Identity {
        provider: PROVIDER.into(),
        provider_user_id: github_id.to_owned(),
        user_id: user_id.to_owned(),
        login: login.to_owned(),
        linked_at: portcullis_db::now(),
    };
    identities::insert(conn, &identity)?;
    events::record(conn, user_id, action::IDENTITY_LINKED, client)?;
    Ok(())
}

/// The body of `POST /auth/oauth/exchange`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    login_code: String,
    /// The verifier (RFC 7636) whose S256 challenge the application sent to authorize. Any
    /// attempt, with a wrong verifier or none, spends the login code.
    // An `Option` only so that a body without it still reaches the handler and spends the code.
    #[schema(
        value_type = String,
        required = true,
        min_length = 43,
        max_length = 128,
        pattern = "^[A-Za-z0-9._~-]{43,128}$"
    )]
    code_verifier: Option<String>,
}

fn invalid_login_code() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_login_code",
        detail: "the login code is unknown, expired or used, or the code_verifier does not match it",
        token_sent: false,
    }
}

/// POST /auth/oauth/exchange
pub async fn exchange(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<Exchange>,
) -> Result<HttpResponse, ApiError> {
    let verifier = body.code_verifier;
    let (user, grant) = redeem_login_code(&auth, &pool, client, body.login_code, verifier).await?;
    token_response(&auth, &user, grant, false)
}

/// Spends a login code for the session it stands for (`POST /auth/oauth/exchange`, and the hosted
/// pages' own GitHub sign-in): the verifier must match the code's challenge; every attempt spends
/// the code; an account with a second factor not yet passed gets `MfaRequired`.
pub async fn redeem_login_code(
    auth: &web::Data<Auth>,
    pool: &Pool,
    client: ClientInfo,
    login_code: String,
    code_verifier: Option<String>,
) -> Result<(User, Grant), ApiError> {
    let auth_for_db = auth.clone();
    let signed_in = with_conn(pool, move |conn| {
        // Spent before the verifier is looked at: every attempt uses the code up, so a wrong verifier
        // cannot be followed by another guess.
        let spent = oauth::consume_login_code(conn, &hash_token(&login_code), portcullis_db::now())?;
        let Some(verifier) = code_verifier else {
            return Err(ApiError::invalid_field(
                "code_verifier",
                "required",
                "the code_verifier whose S256 challenge was given at authorize is required",
            ));
        };
        // A code without a challenge (none was given at authorize) matches no verifier.
        let Some((spent, purpose)) = spent.filter(|(code, _)| {
            code.code_challenge
                .as_deref()
                .is_some_and(|challenge| pkce::verifier_matches(&verifier, challenge))
        }) else {
            return Ok(None);
        };
        // `login` is GitHub's; `login:pwd,otp` a hosted sign-in's methods.
        let amr: Vec<&str> = match purpose.strip_prefix("login:") {
            Some(methods) => methods.split(',').collect(),
            None => vec![sessions::GITHUB],
        };
        let user = users::find(conn, &spent.user_id)?;
        if user.mfa_enabled && !amr.contains(&sessions::OTP) {
            let first = amr.first().copied().unwrap_or(sessions::GITHUB);
            return Err(mfa::required(mfa::open_challenge(conn, &user.id, first)?));
        }
        let grant = sessions::start(conn, &auth_for_db, &user, &amr, &client)?;
        events::record(conn, &user.id, action::LOGIN_SUCCEEDED, &client)?;
        Ok(Some((user, grant)))
    })
    .await?;
    signed_in.ok_or_else(invalid_login_code)
}

/// `?redirect_uri=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    redirect_uri: String,
}

impl LinkQuery {
    /// A link flow that ends at `redirect_uri` (the account page's own).
    pub fn to(redirect_uri: String) -> LinkQuery {
        LinkQuery { redirect_uri }
    }
}

/// POST /auth/github/link: a URL that runs the GitHub flow for the signed-in user. It carries a
/// single-use 60-second link ticket rather than the access token, so no bearer token lands in a URL.
/// The flow ends at `redirect_uri?link_code=…`, which only this user can redeem (POST
/// /auth/github/link/complete).
pub async fn start_link(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    provider(&auth)?;
    if query.redirect_uri != pages_link_callback(&auth) {
        check_redirect(&auth, &query.redirect_uri)?;
    }
    let ticket = with_conn(&pool, move |conn| {
        let ticket = random_token();
        oauth::insert_code(
            conn,
            &NewCode {
                code_hash: &hash_token(&ticket),
                purpose: LINK_TICKET,
                user_id: &principal.user_id,
                code_challenge: None,
                expires_at: portcullis_db::now() + Duration::seconds(LINK_TICKET_LIFETIME_SECS),
            },
        )?;
        Ok(ticket)
    })
    .await?;
    let mut url = Url::parse(&format!(
        "{}/api/v1/auth/github/authorize",
        auth.config.public_url
    ))
    .map_err(ApiError::internal)?;
    url.query_pairs_mut()
        .append_pair("redirect_uri", &query.redirect_uri)
        .append_pair("link_ticket", &ticket);
    Ok(HttpResponse::Ok().insert_header(no_store()).json(AuthorizeUrl {
        authorize_url: url.to_string(),
    }))
}

/// Where to send the browser to link GitHub.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeUrl {
    authorize_url: String,
}

/// The body of `POST /auth/github/link/complete`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteLink {
    /// From `redirect_uri?link_code=…` at the end of the link flow.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    link_code: String,
}

/// The caller's linked accounts after a link, as in GET /me.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkedIdentities {
    identities: Vec<IdentityBody>,
}

/// How a link completion ended; every ending but a database failure keeps the code spent.
enum Completion {
    Linked(Vec<Identity>),
    UnknownCode,
    OtherUser,
    CallerGone,
    InUse,
    AlreadyLinked,
}

/// POST /auth/github/link/complete: links the GitHub account of a finished link flow, but only for
/// the user who started that flow.
pub async fn complete_link(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<CompleteLink>,
) -> Result<HttpResponse, ApiError> {
    // Without GitHub there are no link flows: answer as POST /auth/github/link does.
    provider(&auth)?;
    let db_auth = auth.clone();
    let completion = with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            complete(conn, &db_auth, &principal.user_id, &body.link_code, &client)
        })
    })
    .await?;
    auth.mailer.wake();
    match completion {
        Completion::Linked(identities) => Ok(HttpResponse::Ok().json(LinkedIdentities {
            identities: identities.into_iter().map(IdentityBody::from).collect(),
        })),
        Completion::UnknownCode => Err(ApiError::BadRequest {
            code: "invalid_link_code",
            detail: "the link code is unknown, expired or used".into(),
        }),
        Completion::OtherUser => Err(ApiError::Forbidden {
            code: "link_user_mismatch",
            detail: "this link was started by another user; nothing was linked".into(),
            required_scope: None,
        }),
        Completion::CallerGone => Err(ApiError::Unauthorized {
            code: "invalid_token",
            detail: "the access token is invalid or expired",
            token_sent: true,
        }),
        Completion::InUse => Err(identity_in_use()),
        Completion::AlreadyLinked => Err(ApiError::Conflict {
            code: "github_already_linked",
            detail: "another GitHub account is already linked to this account; unlink it first".into(),
        }),
    }
}

fn identity_in_use() -> ApiError {
    ApiError::Conflict {
        code: "identity_in_use",
        detail: "this GitHub account is linked to another user".into(),
    }
}

/// The body of a link completion, in the caller's write transaction. The outcomes other than
/// `Linked` are returned as values, not errors, so that the transaction commits and the code stays
/// spent: a code that reached the wrong user must not be tried again.
fn complete(
    conn: &mut DbConn,
    auth: &Auth,
    caller: &str,
    link_code: &str,
    client: &ClientInfo,
) -> Result<Completion, ApiError> {
    // The token was checked a moment ago, but the account may be deleted in between: answer as for any
    // token of a deleted user, and hold the row so that the identity below has a user to refer to.
    if !oauth::hold_user(conn, caller)? {
        return Ok(Completion::CallerGone);
    }
    let Some(code) = oauth::consume_link_code(conn, &hash_token(link_code), portcullis_db::now())? else {
        return Ok(Completion::UnknownCode);
    };
    if code.user_id != caller {
        log::warn!("a GitHub link code was presented by a user other than the one who started the flow");
        return Ok(Completion::OtherUser);
    }
    match identities::find(conn, &code.provider, &code.provider_user_id)? {
        Some(known) if known.user_id == caller => {
            return Ok(Completion::Linked(identities::of_user(conn, caller)?));
        }
        Some(_) => return Ok(Completion::InUse),
        None => {}
    }
    if identities::of_user(conn, caller)?
        .iter()
        .any(|i| i.provider == code.provider)
    {
        return Ok(Completion::AlreadyLinked);
    }
    match link(conn, caller, &code.provider_user_id, &code.login, client) {
        // A concurrent completion linked the same account first: this one rolls back.
        Err(DbError::UniqueViolation(_)) => return Err(identity_in_use()),
        other => other?,
    }
    // In this transaction, so the notice goes out only if the link commits.
    let user = users::find(conn, caller)?;
    let notice = Notice::GithubLinked {
        login: code.login.clone(),
    };
    email_tokens::notify(conn, auth, &user, notice)?;
    Ok(Completion::Linked(identities::of_user(conn, caller)?))
}

/// DELETE /me/identities/github
pub async fn unlink(
    principal: Principal,
    pool: web::Data<Pool>,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let user = users::find(conn, &principal.user_id)?;
            if user.password_hash.is_none() {
                return Err(ApiError::Conflict {
                    code: "last_login_method",
                    detail: "set a password before unlinking your only way to sign in".into(),
                });
            }
            if !identities::delete(conn, &user.id, PROVIDER)? {
                return Err(ApiError::not_found());
            }
            events::record(conn, &user.id, action::IDENTITY_UNLINKED, &client)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
