//! API key management.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use portcullis_auth::api_keys::{display_prefix, generate};
use portcullis_auth::tokens::hash_token;
use portcullis_db::api_keys::{self as key_rows, ApiKey};
use portcullis_db::{DbConn, Pool, TenantId};
use portcullis_rbac::audit::{self, Actor, Change};
use portcullis_rbac::grants::may_grant;
use portcullis_rbac::grants::Authority;
use portcullis_rbac::routes::members::ListQuery;
use portcullis_rbac::scopes::Scopes;
use portcullis_rbac::{TenantAccess, TenantCall};
use portcullis_web::{rfc3339, ApiError, ClientInfo, FieldError, JsonBody, TextRule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::{Validate, ValidationError, ValidationErrors};

/// Scopes a key may never hold: managing people, roles or keys, and deleting the tenant stay with
/// humans.
const NEVER_ON_KEYS: [&str; 5] = [
    "api_keys:manage",
    "members:invite",
    "members:manage",
    "roles:manage",
    "tenant:delete",
];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyBody {
    id: String,
    name: String,
    prefix: String,
    scopes: Vec<&'static str>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl KeyBody {
    fn new(stored: &ApiKey, key: Option<String>) -> Self {
        KeyBody {
            id: stored.id.clone(),
            name: stored.name.clone(),
            prefix: stored.prefix.clone(),
            scopes: Scopes::from_stored(&stored.scopes).names(),
            created_at: rfc3339(stored.created_at),
            expires_at: stored.expires_at.map(rfc3339),
            last_used_at: stored.last_used_at.map(rfc3339),
            key,
        }
    }
}

/// An API key's name (`portcullis_web::TextRule` has the rules every name follows).
const KEY_NAME: TextRule = TextRule::name(100);

fn name_schema() -> utoipa::openapi::schema::Object {
    KEY_NAME.schema()
}

/// The body of `POST …/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(schema_with = name_schema)]
    name: String,
    #[schema(value_type = Vec<portcullis_rbac::scopes::KeyScopeName>)]
    scopes: Vec<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

impl Validate for CreateKey {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Err(problem) = KEY_NAME.check(&self.name) {
            errors.add("name", problem);
        }
        if self
            .expires_at
            .as_deref()
            .is_some_and(|at| parse_expiry(at).is_none())
        {
            errors.add(
                "expires_at",
                ValidationError::new("invalid").with_message("must be an RFC 3339 time in the future".into()),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn parse_expiry(at: &str) -> Option<NaiveDateTime> {
    let parsed = DateTime::parse_from_rfc3339(at)
        .ok()?
        .with_timezone(&Utc)
        .naive_utc();
    (parsed > portcullis_db::now()).then_some(parsed)
}

/// Known scopes that keys may hold; each problem is a field error on `scopes[i]`.
fn key_scopes(names: &[String]) -> Result<Scopes, ApiError> {
    let mut scopes = Scopes::NONE;
    let mut errors = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Scopes::named(name) {
            None => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "unknown_scope",
                format!("{name:?} is not in the scope catalog"),
            )),
            Some(_) if NEVER_ON_KEYS.contains(&name.as_str()) => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "forbidden_scope",
                format!("API keys cannot hold {name}"),
            )),
            Some(scope) => scopes = scopes | scope,
        }
    }
    if errors.is_empty() {
        Ok(scopes)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Stores a new API key (`POST …/api-keys`, and the console's key form) given its display prefix
/// and hash: only scopes its creator holds.
pub fn create_key(
    conn: &mut DbConn,
    access: &TenantAccess,
    client: &ClientInfo,
    (prefix, key_hash): (String, String),
    body: &JsonBody,
) -> Result<ApiKey, ApiError> {
    let body: CreateKey = body.parse()?;
    let scopes = key_scopes(&body.scopes)?;
    // A key may only carry what its creator holds (the no-escalation rule).
    may_grant(access.authority, Authority { scopes, owner: false }).map_err(|denied| {
        ApiError::Forbidden {
            code: "forbidden",
            detail: denied.explain().into(),
            required_scope: None,
        }
    })?;
    let stored = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: access.tenant.as_str().to_owned(),
        name: body.name.trim().to_owned(),
        prefix,
        key_hash,
        scopes: scopes.to_stored(),
        created_by: access.user_id.clone(),
        created_at: portcullis_db::now(),
        expires_at: body.expires_at.as_deref().and_then(parse_expiry),
        revoked_at: None,
        last_used_at: None,
    };
    key_rows::insert(conn, &stored)?;
    let details = json!({"name": stored.name, "scopes": scopes.names()});
    let change = Change {
        action: "api_key.created",
        target_type: "api_key",
        target_id: &stored.id,
        details,
    };
    audit::record(conn, &access.tenant, &Actor::from(access), client, change)?;
    Ok(stored)
}

/// POST /tenants/{tid}/api-keys
pub async fn create(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = generate();
    let key_hash = hash_token(&key);
    let prefix = display_prefix(&key);
    let stored = call
        .write(&pool, move |conn, access| {
            create_key(conn, access, &client, (prefix, key_hash), &body)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(KeyBody::new(&stored, Some(key))))
}

/// GET /tenants/{tid}/api-keys
pub async fn list(
    call: TenantCall,
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, rows) = call
        .read(&pool, move |conn, access| {
            let page = query.page()?;
            let rows = key_rows::page(conn, &access.tenant, page.after.as_deref(), page.fetch())?;
            Ok((page, rows))
        })
        .await?;
    Ok(page.respond(rows, |k| k.id.as_str(), |k| KeyBody::new(&k, None)))
}

/// DELETE /tenants/{tid}/api-keys/{id}
pub async fn revoke(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().1;
    let revoke = |conn: &mut DbConn, tenant: &TenantId, id: &str| {
        key_rows::revoke(conn, tenant, id, portcullis_db::now())
    };
    audit::remove_audited(&pool, call, client, ("api_key.revoked", "api_key"), id, revoke).await
}
