//! Tenants: create, list, read, rename, delete.

use actix_web::{web, HttpResponse};
use portcullis_auth::Principal;
use portcullis_db::tenants::{self as tenant_rows, Tenant};
use portcullis_db::{memberships, write_transaction, DbConn, DbError, Pool, TenantId};
use portcullis_rbac::audit::{self, Actor, Change};
use portcullis_rbac::routes::invitations::tenant_body;
use portcullis_rbac::routes::members::ListQuery;
use portcullis_rbac::scopes::OWNER;
use portcullis_rbac::TenantCall;
use portcullis_web::{with_conn, ApiError, ClientInfo, JsonBody, Page, TextRule};
use serde::Deserialize;
use serde_json::json;
use validator::{Validate, ValidationError, ValidationErrors};

/// A tenant's name (`portcullis_web::TextRule` has the rules every name follows).
const TENANT_NAME: TextRule = TextRule::name(100);

fn name_schema() -> utoipa::openapi::schema::Object {
    TENANT_NAME.schema()
}

fn valid_slug(slug: &str) -> bool {
    (3..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// The body of `POST /tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(schema_with = name_schema)]
    name: String,
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")]
    slug: String,
}

impl Validate for CreateTenant {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Err(problem) = TENANT_NAME.check(&self.name) {
            errors.add("name", problem);
        }
        if !valid_slug(&self.slug) {
            errors.add(
                "slug",
                ValidationError::new("invalid_format")
                    .with_message("must be 3 to 40 of a-z, 0-9 and -, not starting or ending with -".into()),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// POST /tenants
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: CreateTenant = body.parse()?;
    let tenant = with_conn(&pool, move |conn| {
        create_tenant(conn, &principal.user_id, &client, body)
    })
    .await?;
    Ok(HttpResponse::Created().json(tenant_body(&tenant, vec![OWNER.to_owned()])))
}

/// Creates a tenant with `user_id` as its owner (`POST /tenants`, and the console's form), in one
/// write transaction with its audit rows.
pub fn create_tenant(
    conn: &mut DbConn,
    user_id: &str,
    client: &ClientInfo,
    body: CreateTenant,
) -> Result<Tenant, ApiError> {
    write_transaction(conn, |conn| {
        let now = portcullis_db::now();
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            name: body.name.trim().to_owned(),
            slug: body.slug,
            created_at: now,
            updated_at: now,
            require_mfa: false,
        };
        match tenant_rows::insert(conn, &tenant) {
            Err(DbError::UniqueViolation(_)) => {
                return Err(ApiError::Conflict {
                    code: "slug_taken",
                    detail: "a tenant with this slug exists".into(),
                })
            }
            other => other?,
        }
        let id = TenantId::new(tenant.id.clone());
        memberships::insert(conn, &id, user_id, &[OWNER.to_owned()], now)?;
        let actor = Actor {
            kind: "user",
            id: user_id.to_owned(),
        };
        let created = Change {
            action: "tenant.created",
            target_type: "tenant",
            target_id: &tenant.id,
            details: json!({"name": tenant.name, "slug": tenant.slug}),
        };
        audit::record(conn, &id, &actor, client, created)?;
        let added = Change {
            action: "member.added",
            target_type: "user",
            target_id: user_id,
            details: json!({"roles": [OWNER]}),
        };
        audit::record(conn, &id, &actor, client, added)?;
        Ok(tenant)
    })
}

/// GET /tenants
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let request = page.clone();
    let rows = with_conn(&pool, move |conn| {
        let tenants = tenant_rows::page_for_user(
            conn,
            &principal.user_id,
            request.after.as_deref(),
            request.fetch(),
        )?;
        let held = memberships::roles_by_tenant(conn, &principal.user_id)?;
        Ok(tenants
            .into_iter()
            .map(|t| {
                let mut roles: Vec<String> = held
                    .iter()
                    .filter(|(tid, _)| *tid == t.id)
                    .map(|(_, r)| r.clone())
                    .collect();
                roles.sort();
                (t, roles)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |(t, _)| t.id.as_str(),
        |(t, r)| tenant_body(&t, r),
    )))
}

/// GET /tenants/{tid}
pub async fn get(call: TenantCall, pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    let (tenant, roles) = call
        .read(&pool, move |conn, access| {
            Ok((tenant_rows::find(conn, &access.tenant)?, access.roles.clone()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(tenant_body(&tenant, roles)))
}

/// The body of `PATCH /tenants/{tid}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[schema(schema_with = name_schema)]
    name: Option<String>,
    /// Members must sign in with a second factor to act in this tenant (API keys are unaffected).
    /// Turning it on needs a sign-in that had one, so an admin cannot lock themself out.
    require_mfa: Option<bool>,
}

impl Validate for UpdateTenant {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(Err(problem)) = self.name.as_deref().map(|name| TENANT_NAME.check(name)) {
            errors.add("name", problem);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// PATCH /tenants/{tid}
pub async fn update(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (tenant, roles) = call
        .write(&pool, move |conn, access| {
            let body: UpdateTenant = body.parse()?;
            if body.require_mfa == Some(true) && access.api_key.is_none() && !access.second_factor {
                return Err(portcullis_rbac::mfa_required_by_tenant());
            }
            let before = tenant_rows::find(conn, &access.tenant)?;
            let name = body
                .name
                .as_deref()
                .map_or(before.name.as_str(), str::trim)
                .to_owned();
            let require_mfa = body.require_mfa.unwrap_or(before.require_mfa);
            let now = portcullis_db::now();
            let mut details = serde_json::Map::new();
            if name != before.name {
                tenant_rows::rename(conn, &access.tenant, &name, now)?;
                details.insert("name".into(), json!({"from": before.name, "to": name}));
            }
            if require_mfa != before.require_mfa {
                tenant_rows::set_require_mfa(conn, &access.tenant, require_mfa, now)?;
                details.insert(
                    "require_mfa".into(),
                    json!({"from": before.require_mfa, "to": require_mfa}),
                );
            }
            if !details.is_empty() {
                let change = Change {
                    action: "tenant.updated",
                    target_type: "tenant",
                    target_id: access.tenant.as_str(),
                    details: serde_json::Value::Object(details),
                };
                audit::record(conn, &access.tenant, &Actor::from(access), &client, change)?;
            }
            let after = Tenant {
                name,
                require_mfa,
                updated_at: now,
                ..before
            };
            Ok((after, access.roles.clone()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(tenant_body(&tenant, roles)))
}

/// DELETE /tenants/{tid}: the tenant and every row it owns (audit log included) are gone.
pub async fn delete(call: TenantCall, pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    call.write(&pool, move |conn, access| {
        Ok(tenant_rows::delete(conn, &access.tenant)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::valid_slug;

    #[test]
    fn slugs_follow_the_contract() {
        for ok in ["abc", "acme-corp", "a1-b2", &"a".repeat(40)] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in ["ab", "-abc", "abc-", "Acme", "a_b", "a b", &"a".repeat(41), "ünï"] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }
}
