//! GitHub sign-in and linking.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Duration;
use oauth2::url::Url;
use portcullis_db::identities::{self, Identity};
use portcullis_db::users::{self, NewUser};
use portcullis_db::{oauth, write_transaction, DbConn, DbError, Pool};
use portcullis_web::{with_conn, ApiError, ClientInfo, ValidJson};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::body::{no_store, token_response};
use super::login::normalize_email;
use crate::events::{self, action};
use crate::github::{self, GithubAccount, GithubConfig, GithubError};
use crate::tokens::{hash_token, random_token};
use crate::{sessions, Auth, Principal};

const PROVIDER: &str = "github";
const FLOW_KEY: &str = "github_flow";
const STATE_LIFETIME_MINUTES: i64 = 10;
const CODE_LIFETIME_SECS: i64 = 60;

/// What the encrypted session cookie carries between the authorize redirect and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    redirect_uri: String,
    link_user: Option<String>,
}

fn provider(auth: &Auth) -> Result<&GithubConfig, ApiError> {
    auth.config.github.as_ref().ok_or(ApiError::NotFound {
        code: "provider_not_configured",
        detail: "GitHub sign-in is not configured on this server".into(),
    })
}

fn check_redirect(auth: &Auth, redirect_uri: &str) -> Result<(), ApiError> {
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

fn callback_url(auth: &Auth) -> String {
    format!("{}/api/v1/auth/github/callback", auth.config.public_url)
}

fn redirect_to(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header(no_store())
        .finish()
}

/// `redirect_uri` with one query parameter added.
fn back_to(redirect_uri: &str, key: &str, value: &str) -> HttpResponse {
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

fn new_code(conn: &mut DbConn, purpose: &str, user_id: &str) -> Result<String, DbError> {
    let code = random_token();
    oauth::insert_code(
        conn,
        &hash_token(&code),
        purpose,
        user_id,
        portcullis_db::now() + Duration::seconds(CODE_LIFETIME_SECS),
    )?;
    Ok(code)
}

/// `?redirect_uri=…&link_code=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeQuery {
    redirect_uri: String,
    link_code: Option<String>,
}

/// GET /auth/github/authorize
pub async fn authorize(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    session: Session,
    query: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    let config = provider(&auth)?;
    check_redirect(&auth, &query.redirect_uri)?;
    let flow = github::authorize(config, &callback_url(&auth)).map_err(ApiError::internal)?;
    let (state_hash, link_code) = (hash_token(&flow.state), query.link_code.clone());
    let link_user = with_conn(&pool, move |conn| {
        let now = portcullis_db::now();
        let link_user = match link_code {
            Some(code) => Some(oauth::consume_code(conn, &hash_token(&code), "link", now)?.ok_or(
                ApiError::BadRequest {
                    code: "invalid_link_code",
                    detail: "the link code is unknown, expired or used".into(),
                },
            )?),
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
    session.purge();
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
    let link_user = flow.link_user.clone();
    let outcome = with_conn(&pool, move |conn| {
        resolve(conn, &account, link_user.as_deref(), &client)
    })
    .await?;
    match outcome {
        Outcome::LoginCode(code) => Ok(back_to(&flow.redirect_uri, "login_code", &code)),
        Outcome::Linked => Ok(back_to(&flow.redirect_uri, "linked", PROVIDER)),
        Outcome::Refused(code) => fail(code),
    }
}

enum Outcome {
    LoginCode(String),
    Linked,
    Refused(&'static str),
}

/// Applies the account-resolution rules of the API: a GitHub account is known by its numeric id only;
/// an unknown id whose email belongs to a local account is never linked automatically.
fn resolve(
    conn: &mut DbConn,
    account: &GithubAccount,
    link_user: Option<&str>,
    client: &ClientInfo,
) -> Result<Outcome, ApiError> {
    write_transaction(conn, |conn| {
        let github_id = account.id.to_string();
        let known = identities::find(conn, PROVIDER, &github_id)?;
        if let Some(user_id) = link_user {
            return match known {
                Some(identity) if identity.user_id == user_id => Ok(Outcome::Linked),
                Some(_) => Ok(Outcome::Refused("identity_in_use")),
                None => {
                    if identities::of_user(conn, user_id)?
                        .iter()
                        .any(|i| i.provider == PROVIDER)
                    {
                        return Ok(Outcome::Refused("github_already_linked"));
                    }
                    link(conn, user_id, account, client)?;
                    Ok(Outcome::Linked)
                }
            };
        }
        if let Some(identity) = known {
            return Ok(Outcome::LoginCode(new_code(conn, "login", &identity.user_id)?));
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
        };
        match users::insert(conn, &new_user) {
            Err(DbError::UniqueViolation(_)) => return Ok(Outcome::Refused("account_exists")),
            other => other?,
        }
        link(conn, &user_id, account, client)?;
        Ok(Outcome::LoginCode(new_code(conn, "login", &user_id)?))
    })
}

fn link(
    conn: &mut DbConn,
    user_id: &str,
    account: &GithubAccount,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let identity = Identity {
        provider: PROVIDER.into(),
        provider_user_id: account.id.to_string(),
        user_id: user_id.to_owned(),
        login: account.login.clone(),
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
}

/// POST /auth/oauth/exchange
pub async fn exchange(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<Exchange>,
) -> Result<HttpResponse, ApiError> {
    let auth_for_db = auth.clone();
    let signed_in = with_conn(&pool, move |conn| {
        let Some(user_id) =
            oauth::consume_code(conn, &hash_token(&body.login_code), "login", portcullis_db::now())?
        else {
            return Ok(None);
        };
        let user = users::find(conn, &user_id)?;
        let grant = sessions::start(conn, &auth_for_db, &user, &client)?;
        events::record(conn, &user.id, action::LOGIN_SUCCEEDED, &client)?;
        Ok(Some((user, grant)))
    })
    .await?;
    let (user, grant) = signed_in.ok_or(ApiError::Unauthorized {
        code: "invalid_login_code",
        detail: "the login code is unknown, expired or used",
        token_sent: false,
    })?;
    token_response(&auth, &user, grant, false)
}

/// `?redirect_uri=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    redirect_uri: String,
}

/// POST /auth/github/link: a URL that runs the GitHub flow for the signed-in user. It carries a
/// single-use 60-second link code rather than the access token, so no bearer token lands in a URL.
pub async fn start_link(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    provider(&auth)?;
    check_redirect(&auth, &query.redirect_uri)?;
    let code = with_conn(&pool, move |conn| Ok(new_code(conn, "link", &principal.user_id)?)).await?;
    let mut url = Url::parse(&format!(
        "{}/api/v1/auth/github/authorize",
        auth.config.public_url
    ))
    .map_err(ApiError::internal)?;
    url.query_pairs_mut()
        .append_pair("redirect_uri", &query.redirect_uri)
        .append_pair("link_code", &code);
    Ok(HttpResponse::Ok().insert_header(no_store()).json(AuthorizeUrl {
        authorize_url: url.to_string(),
    }))
}

/// Where to send the browser to link GitHub.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeUrl {
    authorize_url: String,
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
