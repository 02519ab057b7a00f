//! Built-in and custom roles.

use actix_web::{web, HttpResponse};
use portcullis_db::roles::{self as role_rows, Role};
use portcullis_db::{memberships, DbConn, DbError, Pool};
use portcullis_web::{double_option, ApiError, ClientInfo, FieldError, JsonBody, TextRule};
use serde::Deserialize;
use serde_json::json;
use validator::{Validate, ValidationError, ValidationErrors};

use super::forbidden;
use crate::audit::{self, Actor, Change};
use crate::grants::may_define_role;
use crate::scopes::{builtin, builtin_roles, Scopes};
use crate::{TenantAccess, TenantCall};

const MAX_CUSTOM_ROLES: i64 = 100;
/// A custom role's description (`portcullis_web::TextRule` has the rules every description follows).
const DESCRIPTION: TextRule = TextRule::description(500);

fn description_schema() -> utoipa::openapi::schema::Object {
    DESCRIPTION.nullable_schema()
}

/// A role as the API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RoleBody {
    name: String,
    description: Option<String>,
    scopes: Vec<&'static str>,
    builtin: bool,
}

/// The tenant's roles.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RoleList {
    items: Vec<RoleBody>,
}

fn role_body(name: &str, description: Option<&str>, scopes: Scopes, builtin: bool) -> RoleBody {
    RoleBody {
        name: name.to_owned(),
        description: description.map(str::to_owned),
        scopes: scopes.names(),
        builtin,
    }
}

fn custom_body(role: &Role) -> RoleBody {
    role_body(
        &role.name,
        role.description.as_deref(),
        Scopes::from_stored(&role.scopes),
        false,
    )
}

/// GET /tenants/{tid}/roles
pub async fn list(call: TenantCall, pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    let custom = call
        .read(&pool, move |conn, access| {
            Ok(role_rows::list(conn, &access.tenant)?)
        })
        .await?;
    let mut items: Vec<RoleBody> = builtin_roles()
        .iter()
        .map(|(n, d, s)| role_body(n, Some(d), *s, true))
        .collect();
    items.extend(custom.iter().map(custom_body));
    Ok(HttpResponse::Ok().json(RoleList { items }))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest: Vec<char> = chars.collect();
    first_ok
        && (1..=31).contains(&rest.len())
        && rest
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
}

/// The `{name}` of a role path: a name no role can have (see [`valid_name`]) names nothing, so it is
/// the 404 of an unknown role, decided before any query (PostgreSQL fails a query whose text holds
/// NUL, which `%00` in the path would bring).
fn path_role_name(name: String) -> Result<String, ApiError> {
    if valid_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::not_found())
    }
}

fn check_description(errors: &mut ValidationErrors, description: Option<&str>) {
    if let Some(Err(problem)) = description.map(|d| DESCRIPTION.check(d)) {
        errors.add("description", problem);
    }
}

/// Parses scope names; unknown ones are field errors on `scopes[i]`.
fn parse_scopes(names: &[String]) -> Result<Scopes, ApiError> {
    let mut scopes = Scopes::NONE;
    let mut errors = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Scopes::named(name) {
            Some(scope) => scopes = scopes | scope,
            None => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "unknown_scope",
                format!("{name:?} is not in the scope catalog"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(scopes)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn finish(errors: ValidationErrors) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The body of `POST …/roles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    #[schema(pattern = "^[a-z][a-z0-9_-]{1,31}$")]
    name: String,
    #[schema(schema_with = description_schema)]
    description: Option<String>,
    #[schema(value_type = Vec<crate::scopes::Scope>)]
    scopes: Vec<String>,
}

impl Validate for CreateRole {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if !valid_name(&self.name) {
            errors.add(
                "name",
                ValidationError::new("invalid_format")
                    .with_message("must match ^[a-z][a-z0-9_-]{1,31}$".into()),
            );
        }
        check_description(&mut errors, self.description.as_deref());
        finish(errors)
    }
}

fn builtin_role() -> ApiError {
    ApiError::Conflict {
        code: "builtin_role",
        detail: "built-in roles cannot be changed or deleted".into(),
    }
}

/// Defines a custom role (`POST …/roles`, and the console's role form): only scopes the caller holds.
pub fn create_role(
    conn: &mut DbConn,
    access: &TenantAccess,
    client: &ClientInfo,
    body: &JsonBody,
) -> Result<Role, ApiError> {
    let taken = || ApiError::Conflict {
        code: "role_name_taken",
        detail: "a role with this name exists".into(),
    };
    let body: CreateRole = body.parse()?;
    let scopes = parse_scopes(&body.scopes)?;
    if builtin(&body.name).is_some() {
        return Err(taken());
    }
    let tenant = &access.tenant;
    may_define_role(access.authority, Scopes::NONE, scopes).map_err(forbidden)?;
    if role_rows::count(conn, tenant)? >= MAX_CUSTOM_ROLES {
        return Err(ApiError::Conflict {
            code: "role_limit_reached",
            detail: "a tenant has at most 100 custom roles".into(),
        });
    }
    let now = portcullis_db::now();
    let role = Role {
        tenant_id: tenant.as_str().to_owned(),
        name: body.name,
        description: body.description,
        scopes: scopes.to_stored(),
        created_at: now,
        updated_at: now,
    };
    match role_rows::insert(conn, &role) {
        Err(DbError::UniqueViolation(_)) => return Err(taken()),
        other => other?,
    }
    let change = Change {
        action: "role.created",
        target_type: "role",
        target_id: &role.name,
        details: json!({"scopes": scopes.names()}),
    };
    audit::record(conn, tenant, &Actor::from(access), client, change)?;
    Ok(role)
}

/// POST /tenants/{tid}/roles
pub async fn create(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let role = call
        .write_locked(&pool, move |conn, access| {
            create_role(conn, access, &client, &body)
        })
        .await?;
    Ok(HttpResponse::Created().json(custom_body(&role)))
}

/// The body of `PATCH …/roles/{name}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = description_schema)]
    description: Option<Option<String>>,
    #[schema(value_type = Option<Vec<crate::scopes::Scope>>)]
    scopes: Option<Vec<String>>,
}

impl Validate for UpdateRole {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_description(&mut errors, self.description.clone().flatten().as_deref());
        finish(errors)
    }
}

/// PATCH /tenants/{tid}/roles/{name}
pub async fn update(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let role = call
        .write_locked(&pool, move |conn, access| {
            let body: UpdateRole = body.parse()?;
            let (_, name) = path.into_inner();
            if builtin(&name).is_some() {
                return Err(builtin_role());
            }
            let name = path_role_name(name)?;
            let new_scopes = body.scopes.as_deref().map(parse_scopes).transpose()?;
            let tenant = &access.tenant;
            let role = role_rows::find(conn, tenant, &name)?;
            let before = Scopes::from_stored(&role.scopes);
            let after = new_scopes.unwrap_or(before);
            may_define_role(access.authority, before, after).map_err(forbidden)?;
            let description = match body.description {
                Some(description) => description,
                None => role.description.clone(),
            };
            role_rows::update(
                conn,
                tenant,
                &name,
                description.as_deref(),
                &after.to_stored(),
                portcullis_db::now(),
            )?;
            let details = json!({"scopes": {"from": before.names(), "to": after.names()}});
            let change = Change {
                action: "role.updated",
                target_type: "role",
                target_id: &name,
                details,
            };
            audit::record(conn, tenant, &Actor::from(access), &client, change)?;
            Ok(role_rows::find(conn, tenant, &name)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(custom_body(&role)))
}

/// DELETE /tenants/{tid}/roles/{name}
pub async fn delete(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    call.write_locked(&pool, move |conn, access| {
        let (_, name) = path.into_inner();
        if builtin(&name).is_some() {
            return Err(builtin_role());
        }
        let name = path_role_name(name)?;
        let tenant = &access.tenant;
        let role = role_rows::find(conn, tenant, &name)?;
        let before = Scopes::from_stored(&role.scopes);
        may_define_role(access.authority, before, Scopes::NONE).map_err(forbidden)?;
        let stripped = memberships::strip_role(conn, tenant, &name)?;
        role_rows::delete(conn, tenant, &name)?;
        let change = Change {
            action: "role.deleted",
            target_type: "role",
            target_id: &name,
            details: json!({"members_affected": stripped}),
        };
        audit::record(conn, tenant, &Actor::from(access), &client, change)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn role_names_follow_the_pattern() {
        for ok in ["ab", "auditor", "a-b_c9", &format!("a{}", "b".repeat(31))] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "a",
            "",
            "1ab",
            "Ab",
            "a b",
            "a.b",
            &format!("a{}", "b".repeat(32)),
            "ünï",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
