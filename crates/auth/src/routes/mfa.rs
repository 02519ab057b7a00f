//! Multi-factor routes: enrolling a TOTP authenticator, confirming it, turning it off, regenerating
//! recovery codes, and the second step of a sign-in (`/auth/mfa/verify`). Every code check is
//! counted by the account's second-factor throttle before it is made (429 `mfa_throttled` after 5
//! consecutive failures, the passwords' back-off).

use actix_web::cookie::Cookie;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_db::users::{self, User};
use portcullis_db::{mfa as factors, write_transaction, DbConn, Pool};
use portcullis_mail::Notice;
use portcullis_web::{with_conn, ApiError, ClientInfo, OptionalJson, ValidJson};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::body::{no_store, token_response};
use super::login::check_password_if_any;
use crate::email_tokens;
use crate::events::{self, action};
use crate::mfa::{self, invalid_code};
use crate::sessions::Grant;
use crate::throttle::ThrottleKey;
use crate::{sessions, Auth, Principal};

/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Portcullis";

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrol {
    /// The current password; omit it for an account that signs in only with GitHub.
    #[schema(pattern = "^[^\\u0000]*$")]
    password: Option<String>,
}

/// A new authenticator's secret, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// Base32, for typing into an authenticator app.
    secret: String,
    /// The same secret as an `otpauth://` URI (what a QR code holds).
    otpauth_uri: String,
}

/// POST /me/mfa/totp
pub async fn enrol(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<Enrol>,
) -> Result<HttpResponse, ApiError> {
    let user_id = principal.user_id.clone();
    let user = with_conn(&pool, move |conn| Ok(users::find(conn, &user_id)?)).await?;
    check_password_if_any(&auth, &pool, &user, body.and_then(|b| b.password), &client).await?;
    if user.mfa_enabled {
        return Err(already_enabled());
    }
    let secret = mfa::new_secret();
    let sealed = auth.secrets.seal(&user.id, &secret);
    let user_id = user.id.clone();
    with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            // Checked again under the write lock: a confirmation may have landed meanwhile.
            if users::find(conn, &user_id)?.mfa_enabled {
                return Err(already_enabled());
            }
            factors::start_enrolment(conn, &user_id, &sealed, portcullis_db::now())?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(Enrolment {
        otpauth_uri: mfa::otpauth_uri(ISSUER, &user.email, &secret),
        secret: mfa::base32(&secret),
    }))
}

/// A code from the authenticator app, or (where allowed) a recovery code.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    #[validate(length(min = 1, max = 64, code = "length", message = "must be 1 to 64 characters"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        example = "123456",
        pattern = "^[^\\u0000]*$"
    )]
    code: String,
}

/// A new set of recovery codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// What a code check of a signed-in user's own factor should do on success.
enum Change {
    Confirm,
    Disable,
    Regenerate,
}

/// POST /me/mfa/totp/confirm
pub async fn confirm(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let codes = change_with_code(principal, auth, pool, client, body.code, Change::Confirm).await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// DELETE /me/mfa/totp
pub async fn disable(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    change_with_code(principal, auth, pool, client, body.code, Change::Disable).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// POST /me/mfa/recovery-codes
pub async fn regenerate(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let codes = change_with_code(principal, auth, pool, client, body.code, Change::Regenerate).await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Counts the attempt, checks the code against the caller's own factor and makes the change in one
/// transaction (a wrong code commits only its `mfa.failed` event). Returns new recovery codes where
/// the change makes them.
async fn change_with_code(
    principal: Principal,
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    code: String,
    change: Change,
) -> Result<Vec<String>, ApiError> {
    let throttle = ThrottleKey::mfa(&principal.user_id);
    let (user_id, key, event_client) = (principal.user_id.clone(), throttle.clone(), client.clone());
    with_conn(&pool, move |conn| key.begin(conn, Some(&user_id), &event_client)).await?;
    let db_auth = auth.clone();
    let outcome = with_conn(&pool, move |conn| {
        write_transaction(conn, |conn| {
            let user = users::find(conn, &principal.user_id)?;
            match (&change, user.mfa_enabled) {
                (Change::Confirm, true) => return Err(already_enabled()),
                (Change::Disable | Change::Regenerate, false) => return Err(not_enabled()),
                _ => {}
            }
            let (allow_recovery, pending) = match change {
                Change::Confirm => (false, true),
                Change::Disable => (true, false),
                Change::Regenerate => (false, false),
            };
            if !mfa::check_code(conn, &db_auth.secrets, &user.id, &code, allow_recovery, pending)? {
                events::record(conn, &user.id, action::MFA_FAILED, &client)?;
                return Ok(None);
            }
            throttle.succeeded(conn)?;
            let now = portcullis_db::now();
            let (codes, event, notice) = match change {
                Change::Confirm => {
                    factors::confirm(conn, &user.id, now)?;
                    (
                        new_codes(conn, &user, now)?,
                        action::MFA_ENABLED,
                        Notice::MfaEnabled,
                    )
                }
                Change::Disable => {
                    factors::disable(conn, &user.id, now)?;
                    (Vec::new(), action::MFA_DISABLED, Notice::MfaDisabled)
                }
                Change::Regenerate => (
                    new_codes(conn, &user, now)?,
                    action::RECOVERY_CODES_REGENERATED,
                    Notice::RecoveryCodesRegenerated,
                ),
            };
            events::record(conn, &user.id, event, &client)?;
            email_tokens::notify(conn, &db_auth, &user, notice)?;
            Ok(Some(codes))
        })
    })
    .await?;
    auth.mailer().wake();
    outcome.ok_or_else(invalid_code)
}

fn new_codes(conn: &mut DbConn, user: &User, now: chrono::NaiveDateTime) -> Result<Vec<String>, ApiError> {
    let (codes, hashes) = mfa::new_recovery_codes();
    factors::replace_recovery_codes(conn, &user.id, &hashes, now)?;
    Ok(codes)
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyMfa {
    /// From the 401 `mfa_required` of the sign-in.
    #[validate(length(min = 1, max = 128, code = "length", message = "must be 1 to 128 characters"))]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]*$")]
    mfa_token: String,
    /// A code from the authenticator app, or an unused recovery code.
    #[validate(length(min = 1, max = 64, code = "length", message = "must be 1 to 64 characters"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        example = "123456",
        pattern = "^[^\\u0000]*$"
    )]
    code: String,
}

/// POST /auth/mfa/verify: the second step of a sign-in.
pub async fn verify(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    req: HttpRequest,
    ValidJson(body): ValidJson<VerifyMfa>,
) -> Result<HttpResponse, ApiError> {
    let (user, grant, device) =
        complete_sign_in(&auth, &pool, client, &req, body.mfa_token, body.code).await?;
    let mut response = token_response(&auth, &user, grant, false)?;
    response.add_cookie(&device).map_err(ApiError::internal)?;
    Ok(response)
}

/// The second step of a sign-in (`POST /auth/mfa/verify`, and the hosted `/mfa` page): the
/// challenge's code, under the account's MFA throttle; opens the session. Answers it with the device
/// cookie, which a browser gets only now, so a stranger guessing the password cannot lock an MFA
/// user's own browser out either.
pub async fn complete_sign_in(
    auth: &web::Data<Auth>,
    pool: &Pool,
    client: ClientInfo,
    req: &HttpRequest,
    mfa_token: String,
    code: String,
) -> Result<(User, Grant, Cookie<'static>), ApiError> {
    let token_hash = crate::tokens::hash_token(&mfa_token);
    let (lookup, event_client) = (token_hash.clone(), client.clone());
    let challenge = with_conn(pool, move |conn| {
        let challenge =
            factors::live_challenge(conn, &lookup, portcullis_db::now())?.ok_or_else(invalid_mfa_token)?;
        // Counted before the code is looked at, so parallel guesses cannot exceed the limit.
        ThrottleKey::mfa(&challenge.user_id).begin(conn, Some(&challenge.user_id), &event_client)?;
        Ok(challenge)
    })
    .await?;
    let db_auth = auth.clone();
    let signed_in = with_conn(pool, move |conn| {
        write_transaction(conn, |conn| {
            let user_id = challenge.user_id.as_str();
            if !mfa::check_code(conn, &db_auth.secrets, user_id, &code, true, false)? {
                events::record(conn, user_id, action::MFA_FAILED, &client)?;
                return Ok(None);
            }
            // Spent only by a right code, so a typo does not cost the user their sign-in; a
            // challenge used meanwhile by a concurrent request is refused here.
            if !factors::spend_challenge(conn, &token_hash, portcullis_db::now())? {
                return Err(invalid_mfa_token());
            }
            ThrottleKey::mfa(user_id).succeeded(conn)?;
            let user = users::find(conn, user_id)?;
            let amr = [challenge.first_factor.as_str(), sessions::OTP];
            let grant = sessions::start(conn, &db_auth, &user, &amr, &client)?;
            events::record(conn, user_id, action::LOGIN_SUCCEEDED, &client)?;
            Ok(Some((user, grant)))
        })
    })
    .await?;
    let (user, grant) = signed_in.ok_or_else(invalid_code)?;
    let device = ThrottleKey::for_request(auth, req, &user.email_normalized);
    let cookie = device.device_cookie(auth, &user.email_normalized);
    Ok((user, grant, cookie))
}

fn already_enabled() -> ApiError {
    ApiError::Conflict {
        code: "mfa_already_enabled",
        detail: "two-factor sign-in is already on; turn it off first to enrol another authenticator".into(),
    }
}

fn not_enabled() -> ApiError {
    ApiError::Conflict {
        code: "mfa_not_enabled",
        detail: "two-factor sign-in is not on for this account".into(),
    }
}

fn invalid_mfa_token() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_mfa_token",
        detail: "the mfa_token is unknown, expired or already used: sign in again",
        token_sent: false,
    }
}
