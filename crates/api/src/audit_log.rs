//! Reading the tenant audit log.

use actix_web::{web, HttpResponse};
use portcullis_db::audit::{self, AuditEvent};
use portcullis_db::{DbConn, Pool};
use portcullis_rbac::{TenantAccess, TenantCall};
use portcullis_web::{rfc3339, ApiError, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `?limit&cursor&action`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    action: Option<String>,
}

impl AuditQuery {
    /// The action filter, if any.
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }
}

/// Who acted, or what was acted on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Party {
    /// `user`, `api_key`, `project`, …
    #[serde(rename = "type")]
    kind: String,
    /// Its id.
    id: String,
}

/// One audit event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventBody {
    id: String,
    action: String,
    actor: Party,
    target: Party,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: String,
    /// What changed, per action.
    #[schema(value_type = Object)]
    details: Value,
}

pub fn body(event: AuditEvent) -> AuditEventBody {
    AuditEventBody {
        details: serde_json::from_str::<Value>(&event.details).unwrap_or(Value::Null),
        id: event.id,
        action: event.action,
        actor: Party {
            kind: event.actor_type,
            id: event.actor_id,
        },
        target: Party {
            kind: event.target_type,
            id: event.target_id,
        },
        ip: event.ip,
        user_agent: event.user_agent,
        created_at: rfc3339(event.created_at),
    }
}

/// GET /tenants/{tid}/audit-events
pub async fn list(
    call: TenantCall,
    pool: web::Data<Pool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, rows) = call
        .read(&pool, move |conn, access| page_of(conn, access, &query))
        .await?;
    Ok(page.respond(rows, |e| e.id.as_str(), body))
}

/// A page of the tenant's audit log as `query` asks (the API's list and the console's log page).
pub fn page_of(
    conn: &mut DbConn,
    access: &TenantAccess,
    query: &AuditQuery,
) -> Result<(PageRequest, Vec<AuditEvent>), ApiError> {
    let (page, action) = filter(query)?;
    let rows = audit::page(
        conn,
        &access.tenant,
        action.as_deref(),
        page.after.as_deref(),
        page.fetch(),
    )?;
    Ok((page, rows))
}

/// The page and the action filter of an audit-log request.
fn filter(query: &AuditQuery) -> Result<(PageRequest, Option<String>), ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let action = query.action.clone().filter(|a| !a.is_empty());
    if action.as_ref().is_some_and(|a| {
        a.len() > 64
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    }) {
        return Err(ApiError::invalid_field(
            "action",
            "invalid",
            "must be an action name such as project.created",
        ));
    }
    Ok((page, action))
}
