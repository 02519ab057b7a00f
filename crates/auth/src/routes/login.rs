//! Sign-up and password sign-in.

use std::borrow::Cow;

use actix_web::cookie::Cookie;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_db::users::{self, NewUser, User};
use portcullis_db::{write_transaction, DbError, Pool};
use portcullis_web::{
    lookup_form, parse_email, with_conn, ApiError, ClientInfo, FieldError, TextRule, ValidJson,
};
use serde::Deserialize;
use validator::{Validate, ValidationError, ValidationErrors};

use super::body::{invalid_credentials, token_response};
use super::email::queue_verification;
use crate::events::{self, action};
use crate::sessions::Grant;
use crate::throttle::ThrottleKey;
use crate::{mfa, sessions, Auth};

/// A user's display name (`portcullis_web::TextRule` has the rules every name follows).
pub(crate) const DISPLAY_NAME: TextRule = TextRule::name(100);

/// The OpenAPI schema of a display name, which may be `null`.
pub(crate) fn display_name_schema() -> utoipa::openapi::schema::Object {
    DISPLAY_NAME.nullable_schema()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(min_length = 12, max_length = 128, pattern = "^[^\\u0000]*$")]
    password: String,
    #[schema(schema_with = display_name_schema)]
    display_name: Option<String>,
}

impl SignupRequest {
    /// A sign-up as a form other than the JSON body gives it (the sign-up page).
    pub fn new(email: String, password: String, display_name: Option<String>) -> Self {
        SignupRequest {
            email,
            password,
            display_name,
        }
    }
}

fn error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Checks an email address for sign-up (see `portcullis_web::parse_email` for the rules).
pub(crate) fn email_error(email: &str) -> Option<ValidationError> {
    parse_email(email)
        .err()
        .map(|problem| error(problem.code, problem.message))
}

fn invalid_email_error(code: &'static str, message: &'static str) -> ApiError {
    ApiError::Validation(vec![FieldError::new("email", code, message)])
}

impl Validate for SignupRequest {
    // Nothing here: the password policy's strength estimate must run off the async workers, and every
    // violation of every field is reported in one answer, so the handler checks the whole body
    // (`SignupRequest::violations`).
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

impl SignupRequest {
    /// Every rule of every field, the password policy on the hashing threads.
    async fn violations(&self, auth: &Auth) -> Result<Vec<FieldError>, ApiError> {
        let mut errors = Vec::new();
        let field_error = |field: &str, problem: ValidationError| {
            let message = problem.message.map(|m| m.into_owned()).unwrap_or_default();
            FieldError::new(field, problem.code, message)
        };
        let email_problem = email_error(&self.email);
        let email = if email_problem.is_none() {
            self.email.trim()
        } else {
            ""
        };
        if let Some(problem) = email_problem {
            errors.push(field_error("email", problem));
        }
        if let Some(problem) = self
            .display_name
            .as_deref()
            .and_then(|name| DISPLAY_NAME.check(name).err())
        {
            errors.push(field_error("display_name", problem));
        }
        let password_errors = auth
            .hasher
            .policy_violations(
                "password",
                self.password.clone(),
                email.to_owned(),
                self.display_name.clone(),
            )
            .await?;
        errors.extend(password_errors);
        Ok(errors)
    }
}

/// The canonical form emails are compared in (`portcullis_web::lookup_form`).
pub(crate) fn normalize_email(email: &str) -> String {
    lookup_form(email)
}

/// POST /auth/signup
pub async fn signup(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let (user, grant) = create_account(&auth, &pool, client, body).await?;
    token_response(&auth, &user, grant, true)
}

/// Creates an account from a sign-up form and opens its first session (`POST /auth/signup`, and the
/// sign-up page): every rule of every field is checked first, the verification mail is queued in the
/// same transaction as the account.
pub async fn create_account(
    auth: &web::Data<Auth>,
    pool: &Pool,
    client: ClientInfo,
    body: SignupRequest,
) -> Result<(User, Grant), ApiError> {
    let violations = body.violations(auth).await?;
    if !violations.is_empty() {
        return Err(ApiError::Validation(violations));
    }
    let hash = auth.hasher.hash(body.password).await?;
    let auth_for_db = auth.clone();
    let (user, grant) = with_conn(pool, move |conn| {
        write_transaction(conn, |conn| {
            let now = portcullis_db::now();
            let id = uuid::Uuid::now_v7().to_string();
            // Validated above, so this cannot fail; the fallback keeps the handler total.
            let parsed = parse_email(&body.email).map_err(|p| invalid_email_error(p.code, p.message))?;
            let (email, normalized) = (parsed.display.as_str(), parsed.normalized.clone());
            let display_name = body.display_name.as_deref().map(str::trim);
            let new_user = NewUser {
                id: &id,
                email,
                email_normalized: &normalized,
                display_name,
                password_hash: Some(&hash),
                created_at: now,
                updated_at: now,
                email_verified: false,
            };
            match users::insert(conn, &new_user) {
                Err(DbError::UniqueViolation(_)) => {
                    return Err(ApiError::Conflict {
                        code: "email_taken",
                        detail: "an account with this email exists".into(),
                    })
                }
                other => other?,
            }
            let user = users::find(conn, &id)?;
            // In the same transaction: the account and its verification mail exist together.
            queue_verification(conn, &auth_for_db, &user)?;
            let grant = sessions::start(conn, &auth_for_db, &user, &[sessions::PWD], &client)?;
            Ok((user, grant))
        })
    })
    .await?;
    auth.mailer.wake();
    Ok((user, grant))
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(pattern = "^[^\\u0000]*$")]
    email: String,
    #[schema(pattern = "^[^\\u0000]*$")]
    password: String,
}

/// POST /auth/login
pub async fn login(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    req: HttpRequest,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (user, grant, device) =
        sign_in_with_password(&auth, &pool, &req, client, body.email, body.password).await?;
    let mut response = token_response(&auth, &user, grant, false)?;
    response.add_cookie(&device).map_err(ApiError::internal)?;
    Ok(response)
}

/// Checks a password sign-in under the throttle and opens a session (`POST /auth/login`, and the
/// sign-in page). Answers the session and the device cookie that exempts this browser from the
/// account's back-off; `MfaRequired` when the account has a second factor.
pub async fn sign_in_with_password(
    auth: &web::Data<Auth>,
    pool: &Pool,
    req: &HttpRequest,
    client: ClientInfo,
    email: String,
    password: String,
) -> Result<(User, Grant, Cookie<'static>), ApiError> {
    let email = normalize_email(&email);
    let throttle = ThrottleKey::for_request(auth, req, &email);
    let (lookup, key, event_client) = (email.clone(), throttle.clone(), client.clone());
    let user = with_conn(pool, move |conn| {
        let user = users::find_by_email(conn, &lookup)?;
        key.begin(conn, user.as_ref().map(|u| u.id.as_str()), &event_client)?;
        Ok(user)
    })
    .await?;
    // An unknown email, or an account without a password, is checked against a dummy hash: the
    // same argon2 work, so neither the answer nor its timing tells which accounts exist.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = throttle.verify(auth, pool, stored, password).await?;
    let (auth_for_db, key) = (auth.clone(), throttle.clone());
    let user = with_conn(pool, move |conn| {
        let user = match user {
            Some(user) if verified.ok => user,
            Some(user) => {
                events::record(conn, &user.id, action::LOGIN_FAILED, &client)?;
                return Ok(None);
            }
            None => return Ok(None),
        };
        key.succeeded(conn)?;
        if let Some(rehash) = verified.rehash {
            users::set_password_hash(conn, &user.id, &rehash, portcullis_db::now())?;
        }
        // After the password check, so the answer tells nothing to someone without the password.
        if auth_for_db.config.email.require_verified && !user.email_verified {
            return Err(ApiError::Forbidden {
                code: "email_not_verified",
                detail: "verify your email address first: follow the link in the mail we sent".into(),
                required_scope: None,
            });
        }
        if user.mfa_enabled {
            // The password was right (its count is cleared); no session until the second factor.
            return Err(mfa::required(mfa::open_challenge(conn, &user.id, sessions::PWD)?));
        }
        let grant = sessions::start(conn, &auth_for_db, &user, &[sessions::PWD], &client)?;
        events::record(conn, &user.id, action::LOGIN_SUCCEEDED, &client)?;
        Ok(Some((user, grant)))
    })
    .await?;
    let Some((user, grant)) = user else {
        return Err(invalid_credentials());
    };
    Ok((user, grant, throttle.device_cookie(auth, &email)))
}

/// Checks the password of a signed-in `user` (password change, account deletion) under the
/// account's throttle: refused without checking during a back-off (429 `login_throttled`), 401
/// `invalid_credentials` when wrong; on success the count is cleared and an outdated hash upgraded.
pub(crate) async fn check_password(
    auth: &Auth,
    pool: &Pool,
    user: &User,
    password: String,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let throttle = ThrottleKey::account(&user.email_normalized);
    let (user_id, key, event_client) = (user.id.clone(), throttle.clone(), client.clone());
    with_conn(pool, move |conn| key.begin(conn, Some(&user_id), &event_client)).await?;
    let verified = throttle
        .verify(auth, pool, user.password_hash.clone(), password)
        .await?;
    let (user_id, event_client) = (user.id.clone(), client.clone());
    let ok = verified.ok;
    with_conn(pool, move |conn| {
        if !verified.ok {
            events::record(conn, &user_id, action::LOGIN_FAILED, &event_client)?;
            return Ok(());
        }
        throttle.succeeded(conn)?;
        if let Some(rehash) = verified.rehash {
            users::set_password_hash(conn, &user_id, &rehash, portcullis_db::now())?;
        }
        Ok(())
    })
    .await?;
    if ok {
        Ok(())
    } else {
        Err(invalid_credentials())
    }
}

/// Checks the password of an account that has one (`password` required: 401 without it); an
/// account that signs in only with GitHub must send none (401 when it does, as for a wrong one).
pub(crate) async fn check_password_if_any(
    auth: &Auth,
    pool: &Pool,
    user: &User,
    password: Option<String>,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    match (user.password_hash.is_some(), password) {
        (true, Some(password)) => check_password(auth, pool, user, password, client).await,
        (true, None) | (false, Some(_)) => Err(invalid_credentials()),
        (false, None) => Ok(()),
    }
}

/// Judges a new password for `user` against the policy (on the hashing threads; 422 naming `field`)
/// and hashes it: the last step before storing a password of an existing account.
pub(crate) async fn new_password_hash(
    auth: &Auth,
    field: &'static str,
    password: String,
    user: &User,
) -> Result<String, ApiError> {
    let violations = auth
        .hasher
        .policy_violations(
            field,
            password.clone(),
            user.email.clone(),
            user.display_name.clone(),
        )
        .await?;
    if !violations.is_empty() {
        return Err(ApiError::Validation(violations));
    }
    auth.hasher.hash(password).await
}
