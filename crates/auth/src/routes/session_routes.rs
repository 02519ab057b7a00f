//! Refresh, logout and the session list.

use actix_web::{web, HttpResponse};
use portcullis_db::{sessions as session_rows, Pool};
use portcullis_web::{path_id, rfc3339, with_conn, ApiError, ClientInfo, ValidJson};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::body::token_response;
use crate::sessions::{self, Rotation};
use crate::{Auth, Principal};

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    refresh_token: String,
}

fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_refresh_token",
        detail: "the refresh token is invalid, expired or revoked",
        token_sent: true,
    }
}

/// POST /auth/refresh
pub async fn refresh(
    auth: web::Data<Auth>,
    pool: web::Data<Pool>,
    client: ClientInfo,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth_for_db = auth.clone();
    let outcome = with_conn(&pool, move |conn| {
        match sessions::rotate(conn, &auth_for_db, &body.refresh_token, &client)? {
            Rotation::Rotated { user, grant } => Ok(Some((*user, grant))),
            Rotation::Invalid | Rotation::Reused => Ok(None),
        }
    })
    .await?;
    let (user, grant) = outcome.ok_or_else(invalid_refresh_token)?;
    token_response(&auth, &user, grant, false)
}

/// POST /auth/logout
pub async fn logout(
    principal: Principal,
    pool: web::Data<Pool>,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    with_conn(&pool, move |conn| {
        sessions::revoke(conn, &principal.user_id, &principal.session_id, &client)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionBody {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    items: Vec<SessionBody>,
}

/// GET /auth/sessions
pub async fn list(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    let user_id = principal.user_id.clone();
    let rows = with_conn(&pool, move |conn| {
        Ok(session_rows::list_live(conn, &user_id, portcullis_db::now())?)
    })
    .await?;
    let items = rows
        .into_iter()
        .map(|s| SessionBody {
            current: s.id == principal.session_id,
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at.min(s.absolute_expires_at)),
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

/// DELETE /auth/sessions/{id}
pub async fn revoke(
    principal: Principal,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path_id(path.into_inner())?;
    let revoked = with_conn(&pool, move |conn| {
        sessions::revoke(conn, &principal.user_id, &session_id, &client)
    })
    .await?;
    if !revoked {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
