//! The account page: who is signed in, and their sessions (API and browser alike) with revoke.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use portcullis_auth::{sessions, Auth};
use portcullis_db::{sessions as session_rows, users, Pool};
use portcullis_web::{rfc3339, with_conn, ClientInfo};

use crate::browser::{self, csrf_token, SignedIn};
use crate::form::Form;
use crate::render::{message, page, see_other};
use crate::sign_in::{failed, forged, signed_in_nav, PageNav};

struct SessionRow {
    id: String,
    created_at: String,
    user_agent: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: PageNav,
    csrf: String,
    email: String,
    display_name: String,
    verified: bool,
    mfa: bool,
    sessions: Vec<SessionRow>,
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
pub async fn show(session: Session, pool: web::Data<Pool>) -> HttpResponse {
    let user = match require(&session, &pool).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let current = user.session_id.clone();
    let loaded = with_conn(&pool, move |conn| {
        let account = users::find(conn, &user.user_id)?;
        let live = session_rows::list_live(conn, &user.user_id, portcullis_db::now())?;
        Ok((account, live))
    })
    .await;
    let (account, live) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return failed(&session, &err),
    };
    page(
        StatusCode::OK,
        &AccountPage {
            nav: signed_in_nav(&session),
            csrf: csrf_token(&session),
            email: account.email,
            display_name: account.display_name.unwrap_or_default(),
            verified: account.email_verified,
            mfa: account.mfa_enabled,
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
