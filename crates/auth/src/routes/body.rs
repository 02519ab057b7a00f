//! Response bodies shared by the identity routes.

use actix_web::http::header;
use actix_web::HttpResponse;
use chrono::NaiveDateTime;
use portcullis_db::users::User;
use portcullis_web::{rfc3339, ApiError};
use serde::Serialize;

use crate::sessions::Grant;
use crate::Auth;

/// `User` of API.md.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        UserBody {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            created_at: rfc3339(user.created_at),
            email_verified: user.email_verified,
            mfa_enabled: user.mfa_enabled,
        }
    }
}

/// The empty body of a `202 Accepted`: what follows arrives by mail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    refresh_expires_in: i64,
    session_id: String,
    user: UserBody,
}

fn seconds_until(at: NaiveDateTime) -> i64 {
    (at - portcullis_db::now()).num_seconds().max(0)
}

/// A `TokenResponse` with a fresh access token for the grant's session, marked `no-store`.
pub fn token_response(
    auth: &Auth,
    user: &User,
    grant: Grant,
    created: bool,
) -> Result<HttpResponse, ApiError> {
    let ttl = i64::try_from(auth.config.access_ttl.as_secs()).unwrap_or(i64::MAX);
    let access_token = auth
        .keys
        .issue_access(
            &user.id,
            &grant.session_id,
            &grant.amr,
            chrono::Utc::now().timestamp(),
            ttl,
        )
        .map_err(ApiError::from)?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: grant.refresh_token,
        refresh_expires_in: seconds_until(grant.refresh_expires_at),
        session_id: grant.session_id,
        user: UserBody::from(user),
    };
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.insert_header(no_store()).json(body))
}

/// `Cache-Control: no-store`, for every response that carries a token or secret.
pub fn no_store() -> (header::HeaderName, &'static str) {
    (header::CACHE_CONTROL, "no-store")
}

/// 401 `invalid_credentials`: the same for an unknown email and a wrong password.
pub fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_credentials",
        detail: "the email or password is incorrect",
        token_sent: false,
    }
}
