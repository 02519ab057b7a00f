//! The browser session of the hosted pages, and the CSRF check of every form.
//!
//! A signed-in browser holds, in the encrypted session cookie, the id of a server-side session row
//! (the same rows as the API's sessions): every page checks that row is live, so signing out, revoking
//! the session from another device, a password change or an account deletion end the browser's
//! sign-in on its next request. The cookie never authenticates an `/api` route (those read only
//! `Authorization: Bearer`).
//!
//! Every state-changing form carries the session's CSRF token, compared in constant time, and a POST
//! whose `Origin` (or `Sec-Fetch-Site`) says it came from another site is refused before the token is
//! looked at.

use actix_session::Session;
use actix_web::HttpRequest;
use portcullis_auth::sessions::Grant;
use portcullis_auth::tokens::random_token;
use portcullis_db::{sessions, Pool};
use portcullis_web::{with_conn, ApiError};
use subtle::ConstantTimeEq;

use crate::form::Form;

const SESSION_ID: &str = "sid";
const USER_ID: &str = "uid";
const AMR: &str = "amr";
const CSRF: &str = "csrf";

/// A browser signed in to a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user.
    pub user_id: String,
    /// The session row.
    pub session_id: String,
    /// How the user signed in.
    pub amr: Vec<String>,
}

/// The session's CSRF token, made on first use (forms shown before sign-in need one too).
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = random_token();
    if let Err(err) = session.insert(CSRF, &token) {
        log::warn!("cannot store a CSRF token: {err}");
    }
    token
}

/// Why a POST was refused before it was read.
#[derive(Debug, PartialEq, Eq)]
pub enum Forged {
    /// `Origin` or `Sec-Fetch-Site` names another site.
    CrossSite,
    /// No token, or not this session's.
    BadToken,
}

/// Refuses a form that another site could have sent: a foreign `Origin` (or, without one, a
/// `Sec-Fetch-Site: cross-site`), or a CSRF token that is missing or not this session's.
pub fn check_form(req: &HttpRequest, session: &Session, form: &Form, public_url: &str) -> Result<(), Forged> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some(origin) if Some(origin) != own_origin(public_url).as_deref() => return Err(Forged::CrossSite),
        Some(_) => {}
        None if header("sec-fetch-site") == Some("cross-site") => return Err(Forged::CrossSite),
        None => {}
    }
    let expected = session.get::<String>(CSRF).ok().flatten();
    match (expected, form.get("csrf")) {
        (Some(expected), Some(sent)) if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) => Ok(()),
        _ => Err(Forged::BadToken),
    }
}

/// `https://auth.example.com` of `https://auth.example.com/base`.
fn own_origin(public_url: &str) -> Option<String> {
    url::Url::parse(public_url)
        .ok()
        .map(|url| url.origin().ascii_serialization())
}

/// The browser's sign-in, if its session row is still live; a dead one is forgotten.
pub async fn signed_in(session: &Session, pool: &Pool) -> Result<Option<SignedIn>, ApiError> {
    let read = |key: &str| session.get::<String>(key).ok().flatten();
    let (Some(session_id), Some(user_id)) = (read(SESSION_ID), read(USER_ID)) else {
        return Ok(None);
    };
    let amr = session.get::<Vec<String>>(AMR).ok().flatten().unwrap_or_default();
    let (sid, uid) = (session_id.clone(), user_id.clone());
    // Not only "not revoked": the cookie store expires cookies only in the browser, so the row's own
    // idle and absolute expiry are what end a copied cookie.
    let live = with_conn(pool, move |conn| {
        let now = portcullis_db::now();
        let Some(row) = sessions::find(conn, &sid)? else {
            return Ok(false);
        };
        if row.user_id != uid || !row.is_live(now) {
            return Ok(false);
        }
        // Use extends the idle expiry, as a refresh does for an application: by the same window the
        // session was given (its expiry minus its last use), never past its absolute end. At most
        // one write per session every few minutes.
        if now - row.last_used_at > chrono::Duration::minutes(5) {
            let window = row.expires_at - row.last_used_at;
            sessions::touch(conn, &sid, now, (now + window).min(row.absolute_expires_at))?;
        }
        Ok(true)
    })
    .await?;
    if !live {
        forget(session);
        return Ok(None);
    }
    Ok(Some(SignedIn {
        user_id,
        session_id,
        amr,
    }))
}

/// Binds the browser to the session just opened for `user_id`, with a fresh CSRF token (a token
/// seen before sign-in is not carried into the signed-in session).
pub fn remember(session: &Session, user_id: &str, grant: &Grant) -> Result<(), ApiError> {
    session.renew();
    // A half-finished sign-in (second factor, GitHub) does not outlive a completed one.
    for stale in ["mfa_pending", "github_pending"] {
        session.remove(stale);
    }
    put(session, SESSION_ID, &grant.session_id)?;
    put(session, USER_ID, user_id)?;
    put(session, AMR, &grant.amr)?;
    put(session, CSRF, &random_token())
}

fn put<T: serde::Serialize + ?Sized>(session: &Session, key: &str, value: &T) -> Result<(), ApiError> {
    session
        .insert(key, value)
        .map_err(|err| ApiError::internal(format!("session cookie: {err}")))
}

/// Forgets the sign-in (and the CSRF token with it).
pub fn forget(session: &Session) {
    session.purge();
}
