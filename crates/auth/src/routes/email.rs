//! The mailed-token routes: address verification, forgotten password, email change. Each handler
//! validates, then runs one write transaction in which the token, the change and the mail it causes
//! are written together (the outbox), then wakes the mail worker.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use portcullis_db::users::{self, User};
use portcullis_db::{
    identities, mfa as mfa_rows, sessions as session_rows, write_transaction, DbConn, DbError, Pool,
};
use portcullis_mail::Notice;
use portcullis_web::{lookup_form, parse_email, with_conn, ApiError, ClientInfo, FieldError, ValidJson};
use serde::Deserialize;
use validator::Validate;

use super::body::{Accepted, UserBody};
use super::login::{check_password_if_any, new_password_hash};
use crate::email_tokens::{self, Kind};
use crate::events::{self, action};
use crate::throttle::ThrottleKey;
use crate::{Auth, Principal};

/// `202 {}`: the request was taken; what follows arrives by mail.
fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(Accepted {})
}

/// Queues a verification mail for a new or unverified account (sign-up calls it in its transaction).
pub(crate) fn queue_verification(conn: &mut DbConn, auth: &Auth, user: &User) -> Result<bool, ApiError> {
    email_tokens::issue(
        conn,
        auth,
        user,
        Kind::Verify,
        &user.email,
        &user.email_normalized,
    )
}

/// POST /auth/email/verify/request
pub async fn request_verification(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, ApiError> {
    let db_auth = auth.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let user = users::find(conn, &principal.user_id)?;
            if user.email_verified {
                return Err(ApiError::Conflict {
                    code: "already_verified",
                    detail: "this address is already verified".into(),
                });
            }
            queue_verification(conn, &db_auth, &user)
        })
    })
    .await?;
    auth.mailer.wake();
    Ok(accepted())
}

/// A mailed token.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The `token` parameter of the mailed link.
    #[validate(length(min = 1, max = 128, code = "length", message = "must be 1 to 128 characters"))]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]*$")]
    token: String,
}

/// POST /auth/email/verify
pub async fn verify(
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let user = with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let (_, user) = email_tokens::redeem(conn, Kind::Verify, &body.token)?;
            let now = portcullis_db::now();
            users::set_email_verified(conn, &user.id, now)?;
            events::record(conn, &user.id, action::EMAIL_VERIFIED, &client)?;
            Ok(users::find(conn, &user.id)?)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    #[validate(length(max = 320, code = "too_long", message = "must be at most 320 characters"))]
    #[schema(max_length = 320, pattern = "^[^\\u0000]*$")]
    email: String,
}

/// The least time a forgot-password answer takes: the two inserts an existing account costs (about
/// 0.2 ms measured on SQLite) disappear below it, so timing does not tell which addresses have
/// accounts.
const FORGOT_FLOOR: Duration = Duration::from_millis(100);

/// POST /auth/password/forgot
///
/// The same answer, the same work and the same time whether or not the address has an account: one
/// write transaction that looks the account up, checks the address's hourly cap and renders the
/// mail (only an existing account also gets the token and the outbox row), and an answer held back
/// until [`FORGOT_FLOOR`] has passed.
pub async fn forgot_password(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    ValidJson(body): ValidJson<ForgotPassword>,
) -> Result<HttpResponse, ApiError> {
    let answer_at = tokio::time::Instant::now() + FORGOT_FLOOR;
    let key = lookup_form(&body.email);
    let db_auth = auth.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| match users::find_by_email(conn, &key)? {
            Some(user) => {
                email_tokens::issue(
                    conn,
                    &db_auth,
                    &user,
                    Kind::Reset,
                    &user.email,
                    &user.email_normalized,
                )?;
                Ok(())
            }
            None => email_tokens::rehearse_reset(conn, &db_auth, &key),
        })
    })
    .await?;
    auth.mailer.wake();
    tokio::time::sleep_until(answer_at).await;
    Ok(accepted())
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    #[validate(length(min = 1, max = 128, code = "length", message = "must be 1 to 128 characters"))]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]*$")]
    token: String,
    #[schema(min_length = 12, max_length = 128, pattern = "^[^\\u0000]*$")]
    new_password: String,
}

/// POST /auth/password/reset
pub async fn reset_password(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<ResetPassword>,
) -> Result<HttpResponse, ApiError> {
    // The token first: the strength estimate and the hash are spent only on a holder of a live link.
    let token = body.token.clone();
    let (_, user) = with_conn(&pool, move |conn| email_tokens::peek(conn, Kind::Reset, &token)).await?;
    let hash = new_password_hash(&auth, "new_password", body.new_password, &user).await?;
    let db_auth = auth.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let (_, user) = email_tokens::redeem(conn, Kind::Reset, &body.token)?;
            let now = portcullis_db::now();
            if !user.email_verified {
                // The first proof that this person reads the address: whoever created the account
                // before it was proven (someone squatting an address they do not own) loses every
                // way in they set up, so the owner takes back a clean account.
                remove_unproven_sign_in_methods(conn, &user, &client)?;
            }
            users::set_password_hash(conn, &user.id, &hash, now)?;
            // The link reached this address, which proves it.
            users::set_email_verified(conn, &user.id, now)?;
            session_rows::revoke_all_except(conn, &user.id, None, now)?;
            email_tokens::revoke_pending_changes(conn, &user.id)?;
            // A locked-out owner who proved their address starts with a fresh allowance.
            ThrottleKey::account(&user.email_normalized).succeeded(conn)?;
            events::record(conn, &user.id, action::PASSWORD_RESET, &client)?;
            email_tokens::notify(conn, &db_auth, &user, Notice::PasswordReset)
        })
    })
    .await?;
    auth.mailer.wake();
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the GitHub identities and the authenticator of an account whose address was never
/// proven, recording what went.
fn remove_unproven_sign_in_methods(
    conn: &mut DbConn,
    user: &User,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    for identity in identities::of_user(conn, &user.id)? {
        identities::delete(conn, &user.id, &identity.provider)?;
        events::record(conn, &user.id, action::IDENTITY_UNLINKED, client)?;
    }
    if mfa_rows::factor(conn, &user.id)?.is_some() {
        mfa_rows::disable(conn, &user.id, portcullis_db::now())?;
        events::record(conn, &user.id, action::MFA_DISABLED, client)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmail {
    #[schema(format = Email, max_length = 254)]
    new_email: String,
    /// The current password; omit it for an account that signs in only with GitHub.
    #[schema(pattern = "^[^\\u0000]*$")]
    password: Option<String>,
}

/// POST /me/email
pub async fn change_email(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<ChangeEmail>,
) -> Result<HttpResponse, ApiError> {
    let new = parse_email(&body.new_email).map_err(|problem| {
        ApiError::Validation(vec![FieldError::new("new_email", problem.code, problem.message)])
    })?;
    let user_id = principal.user_id.clone();
    let user = with_conn(&pool, move |conn| Ok(users::find(conn, &user_id)?)).await?;
    check_password_if_any(&auth, &pool, &user, body.password, &client).await?;
    if new.normalized == user.email_normalized {
        return Err(ApiError::Validation(vec![FieldError::new(
            "new_email",
            "unchanged",
            "is already the account's address",
        )]));
    }
    let db_auth = auth.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let user = users::find(conn, &user.id)?;
            if users::email_taken(conn, &new.normalized)? {
                return Err(email_taken());
            }
            if email_tokens::issue(conn, &db_auth, &user, Kind::Change, &new.display, &new.normalized)? {
                let notice = Notice::EmailChangeRequested {
                    new_email: new.display.clone(),
                };
                email_tokens::notify(conn, &db_auth, &user, notice)?;
            }
            Ok(())
        })
    })
    .await?;
    auth.mailer.wake();
    Ok(accepted())
}

/// POST /auth/email/change/confirm
pub async fn confirm_email_change(
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let user = with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let (row, user) = email_tokens::redeem(conn, Kind::Change, &body.token)?;
            let typed = row.new_email.as_deref().unwrap_or_default();
            let new = parse_email(typed).map_err(|_| email_tokens::invalid_token())?;
            match users::set_email(
                conn,
                &user.id,
                &new.display,
                &new.normalized,
                portcullis_db::now(),
            ) {
                // Someone signed up with the address since the change was asked for; the rollback
                // leaves the token unspent.
                Err(DbError::UniqueViolation(_)) => return Err(email_taken()),
                other => other?,
            }
            events::record(conn, &user.id, action::EMAIL_CHANGED, &client)?;
            Ok(users::find(conn, &user.id)?)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

fn email_taken() -> ApiError {
    ApiError::Conflict {
        code: "email_taken",
        detail: "an account with this email exists".into(),
    }
}
