//! Writing the tenant audit log, inside the transaction of the change.

use actix_web::HttpResponse;
use portcullis_db::audit::{self, AuditEvent};
use portcullis_db::{DbConn, DbError, Pool, TenantId};
use portcullis_web::{path_id, ApiError, ClientInfo};
use serde_json::Value;

use crate::{TenantAccess, TenantCall};

/// Who did it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user` or `api_key`.
    pub kind: &'static str,
    /// Their id.
    pub id: String,
}

impl From<&TenantAccess> for Actor {
    fn from(access: &TenantAccess) -> Self {
        match &access.api_key {
            Some(key) => Actor {
                kind: "api_key",
                id: key.clone(),
            },
            None => Actor {
                kind: "user",
                id: access.user_id.clone(),
            },
        }
    }
}

/// What changed.
pub struct Change<'a> {
    /// The action name, such as `member.added`.
    pub action: &'a str,
    /// The kind of thing changed.
    pub target_type: &'a str,
    /// Its id.
    pub target_id: &'a str,
    /// A JSON object of details.
    pub details: Value,
}

/// Records one change in the tenant's audit log. Call it inside the change's transaction.
pub fn record(
    conn: &mut DbConn,
    tenant: &TenantId,
    actor: &Actor,
    client: &ClientInfo,
    change: Change<'_>,
) -> Result<(), DbError> {
    audit::insert(conn, &event(tenant, actor, client, change))
}

/// The audit row of one change, for a write that stores it together with the change itself (such
/// as `projects::insert_audited`).
pub fn event(tenant: &TenantId, actor: &Actor, client: &ClientInfo, change: Change<'_>) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        action: change.action.to_owned(),
        actor_type: actor.kind.to_owned(),
        actor_id: actor.id.clone(),
        target_type: change.target_type.to_owned(),
        target_id: change.target_id.to_owned(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        details: change.details.to_string(),
        created_at: portcullis_db::now(),
    }
}

/// Removes (deletes or revokes) one resource of the tenant and records `action` in the same
/// transaction (the caller's one unit of work); `id` is the path's raw id, and a malformed id or
/// `remove` answering false means there was no such resource in this tenant: 404, and nothing is
/// recorded. Answers 204.
pub async fn remove_audited<F>(
    pool: &Pool,
    call: TenantCall,
    client: ClientInfo,
    (action, target_type): (&'static str, &'static str),
    id: String,
    remove: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConn, &TenantId, &str) -> Result<bool, DbError> + Send + 'static,
{
    call.write(pool, move |conn, access| {
        let id = path_id(id)?;
        if !remove(conn, &access.tenant, &id)? {
            return Err(ApiError::not_found());
        }
        let change = Change {
            action,
            target_type,
            target_id: &id,
            details: serde_json::json!({}),
        };
        record(conn, &access.tenant, &Actor::from(access), &client, change).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
