//! Sign-up and password sign-in.

use std::borrow::Cow;

use actix_web::{web, HttpResponse};
use chrono::Duration;
use portcullis_db::users::{self, Attempt, NewUser, User};
use portcullis_db::{DbError, Pool};
use portcullis_web::{with_conn, ApiError, ClientInfo, ValidJson};
use serde::Deserialize;
use validator::{Validate, ValidateEmail, ValidationError, ValidationErrors};

use super::body::{invalid_credentials, token_response};
use crate::events::{self, action};
use crate::password::policy_violations;
use crate::{sessions, Auth};

const EMAIL_MAX: usize = 254;
const DISPLAY_NAME_MAX: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(min_length = 12, max_length = 128, pattern = "^[^\\u0000]*$")]
    password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    display_name: Option<String>,
}

fn error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Checks an email address for sign-up and invitations.
pub(crate) fn email_error(email: &str) -> Option<ValidationError> {
    if email.chars().count() > EMAIL_MAX {
        Some(error("too_long", "must be at most 254 characters"))
    } else if !email.validate_email() {
        Some(error("invalid_email", "must be an email address"))
    } else {
        None
    }
}

/// Checks a display name: 1–100 characters, not only spaces.
pub(crate) fn display_name_error(name: &str) -> Option<ValidationError> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        Some(error("blank", "must not be blank"))
    } else if length > DISPLAY_NAME_MAX {
        Some(error("too_long", "must be at most 100 characters"))
    } else if name.chars().any(char::is_control) {
        Some(error("invalid_characters", "must not contain control characters"))
    } else {
        None
    }
}

impl Validate for SignupRequest {
    // Written out rather than derived: the password policy needs the email and display name too,
    // and every violation of every field is reported in one answer.
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        // Surrounding spaces are a copy-paste accident, not part of the address.
        let email_problem = email_error(self.email.trim());
        let email_ok = email_problem.is_none();
        if let Some(problem) = email_problem {
            errors.add("email", problem);
        }
        if let Some(problem) = self.display_name.as_deref().and_then(display_name_error) {
            errors.add("display_name", problem);
        }
        let email = if email_ok { self.email.trim() } else { "" };
        for violation in policy_violations("password", &self.password, email, self.display_name.as_deref()) {
            errors.add(
                "password",
                ValidationError::new(static_code(violation.code)).with_message(violation.message.into()),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// validator wants `&'static str` codes; ours are all string constants already.
fn static_code(code: Cow<'static, str>) -> &'static str {
    match code {
        Cow::Borrowed(code) => code,
        Cow::Owned(_) => "invalid",
    }
}

/// The canonical form emails are compared in.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// POST /auth/signup
pub async fn signup(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = auth.hasher.hash(body.password).await?;
    let auth_for_db = auth.clone();
    let (user, grant) = with_conn(&pool, move |conn| {
        let now = portcullis_db::now();
        let id = uuid::Uuid::now_v7().to_string();
        let email = body.email.trim();
        let normalized = normalize_email(email);
        let display_name = body.display_name.as_deref().map(str::trim);
        let new_user = NewUser {
            id: &id,
            email,
            email_normalized: &normalized,
            display_name,
            password_hash: Some(&hash),
            created_at: now,
            updated_at: now,
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
        let grant = sessions::start(conn, &auth_for_db, &user, &client)?;
        Ok((user, grant))
    })
    .await?;
    token_response(&auth, &user, grant, true)
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
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = normalize_email(&body.email);
    let user = with_conn(&pool, move |conn| Ok(users::find_by_email(conn, &email)?)).await?;
    let Some(user) = user.filter(|user| user.password_hash.is_some()) else {
        // Same cost as a real check, so timing does not tell which accounts exist.
        auth.hasher.verify(None, body.password).await?;
        return Err(invalid_credentials());
    };
    check_password(&auth, &pool, &user, body.password, &client).await?;
    let auth_for_db = auth.clone();
    let grant = with_conn(&pool, move |conn| {
        let grant = sessions::start(conn, &auth_for_db, &user, &client)?;
        events::record(conn, &user.id, action::LOGIN_SUCCEEDED, &client)?;
        Ok((user, grant))
    })
    .await?;
    token_response(&auth, &grant.0, grant.1, false)
}

/// Consecutive failures after which sign-ins back off.
const THROTTLE_AFTER: i32 = 5;
const MAX_BACKOFF_SECS: i64 = 15 * 60;

/// 1 s after the fifth consecutive failure, doubling with each further one, at most 15 minutes.
pub(crate) fn backoff(failures: i32) -> Option<Duration> {
    if failures < THROTTLE_AFTER {
        return None;
    }
    let doublings = u32::try_from(failures - THROTTLE_AFTER).unwrap_or(0).min(20);
    Some(Duration::seconds((1i64 << doublings).min(MAX_BACKOFF_SECS)))
}

/// Checks `password` for `user` under the per-account throttle: refused without checking during a
/// back-off (429 `login_throttled`), 401 `invalid_credentials` when wrong, and on success the failure
/// count is cleared and an outdated hash upgraded. Every outcome is a security event.
pub(crate) async fn check_password(
    auth: &Auth,
    pool: &Pool,
    user: &User,
    password: String,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let (user_id, event_client) = (user.id.clone(), client.clone());
    let attempt = with_conn(pool, move |conn| {
        let attempt = users::begin_login_attempt(conn, &user_id, portcullis_db::now(), backoff)?;
        if let Attempt::Throttled { .. } = attempt {
            events::record(conn, &user_id, action::LOGIN_THROTTLED, &event_client)?;
        }
        Ok(attempt)
    })
    .await?;
    if let Attempt::Throttled { until } = attempt {
        let wait = (until - portcullis_db::now()).num_milliseconds().max(0);
        let retry_after_secs = u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1);
        return Err(ApiError::TooManyRequests {
            code: "login_throttled",
            retry_after_secs,
        });
    }
    let verified = auth.hasher.verify(user.password_hash.clone(), password).await?;
    let (user_id, event_client) = (user.id.clone(), client.clone());
    with_conn(pool, move |conn| {
        if !verified.ok {
            events::record(conn, &user_id, action::LOGIN_FAILED, &event_client)?;
            return Ok(());
        }
        users::reset_login_failures(conn, &user_id)?;
        if let Some(rehash) = verified.rehash {
            users::set_password_hash(conn, &user_id, &rehash, portcullis_db::now())?;
        }
        Ok(())
    })
    .await?;
    if verified.ok {
        Ok(())
    } else {
        Err(invalid_credentials())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_fifth_failure_and_doubles_to_fifteen_minutes() {
        assert_eq!(backoff(4), None);
        assert_eq!(backoff(5), Some(Duration::seconds(1)));
        assert_eq!(backoff(6), Some(Duration::seconds(2)));
        assert_eq!(backoff(9), Some(Duration::seconds(16)));
        assert_eq!(backoff(15), Some(Duration::seconds(900)));
        assert_eq!(backoff(1000), Some(Duration::seconds(900)));
    }
}
