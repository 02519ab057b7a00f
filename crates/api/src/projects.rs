//! Projects: the tenant resource, with keyset pagination and optimistic concurrency.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_db::projects::{self as project_rows, Project, ProjectChanges};
use portcullis_db::{DbConn, Pool};
use portcullis_rbac::audit::{self, Actor, Change};
use portcullis_rbac::{TenantAccess, TenantCall};
use portcullis_web::{
    double_option, path_id, rfc3339, ApiError, ClientInfo, JsonBody, PageRequest, TextRule,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::{Validate, ValidationErrors};

/// A project's name and description (`portcullis_web::TextRule` has the rules every name and
/// description follows).
const PROJECT_NAME: TextRule = TextRule::name(200);
const DESCRIPTION: TextRule = TextRule::description(2000);

fn name_schema() -> utoipa::openapi::schema::Object {
    PROJECT_NAME.schema()
}

fn optional_name_schema() -> utoipa::openapi::schema::Object {
    PROJECT_NAME.nullable_schema()
}

fn description_schema() -> utoipa::openapi::schema::Object {
    DESCRIPTION.nullable_schema()
}

/// `Project` of API.md.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectBody {
    id: String,
    tenant_id: String,
    name: String,
    description: Option<String>,
    created_by: String,
    created_at: String,
    updated_at: String,
    version: i64,
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        ProjectBody {
            id: p.id,
            tenant_id: p.tenant_id,
            name: p.name,
            description: p.description,
            created_by: p.created_by,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            version: p.version,
        }
    }
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn with_etag(mut response: actix_web::HttpResponseBuilder, project: Project) -> HttpResponse {
    let tag = etag(project.version);
    response
        .insert_header((header::ETAG, tag))
        .json(ProjectBody::from(project))
}

fn check_name(errors: &mut ValidationErrors, name: &str) {
    if let Err(problem) = PROJECT_NAME.check(name) {
        errors.add("name", problem);
    }
}

fn check_description(errors: &mut ValidationErrors, description: Option<&str>) {
    if let Some(Err(problem)) = description.map(|d| DESCRIPTION.check(d)) {
        errors.add("description", problem);
    }
}

fn finish(errors: ValidationErrors) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `?limit&cursor&q`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListProjects {
    limit: Option<i64>,
    cursor: Option<String>,
    q: Option<String>,
}

/// GET /tenants/{tid}/projects
pub async fn list(
    call: TenantCall,
    pool: web::Data<Pool>,
    query: web::Query<ListProjects>,
) -> Result<HttpResponse, ApiError> {
    let (page, rows) = call
        .read(&pool, move |conn, access| {
            let (page, needle) = list_filter(&query)?;
            let rows = project_rows::page(
                conn,
                &access.tenant,
                needle.as_deref(),
                page.after.as_deref(),
                page.fetch(),
            )?;
            Ok((page, rows))
        })
        .await?;
    Ok(page.respond(rows, |p| p.id.as_str(), ProjectBody::from))
}

/// The page and the lower-cased name filter `q` of a project list.
fn list_filter(query: &ListProjects) -> Result<(PageRequest, Option<String>), ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let needle = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    if needle
        .as_ref()
        .is_some_and(|q| q.chars().count() > PROJECT_NAME.max() || q.contains('\0'))
    {
        return Err(ApiError::invalid_field(
            "q",
            "invalid",
            "must be at most 200 characters",
        ));
    }
    Ok((page, needle))
}

/// The body of `POST …/projects`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(schema_with = name_schema)]
    name: String,
    #[schema(schema_with = description_schema)]
    description: Option<String>,
}

impl Validate for CreateProject {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_name(&mut errors, &self.name);
        check_description(&mut errors, self.description.as_deref());
        finish(errors)
    }
}

/// Creates a project (`POST …/projects`, and the console's form) with its audit row.
pub fn create_project(
    conn: &mut DbConn,
    access: &TenantAccess,
    client: &ClientInfo,
    body: &JsonBody,
) -> Result<Project, ApiError> {
    let body: CreateProject = body.parse()?;
    let now = portcullis_db::now();
    let name = body.name.trim().to_owned();
    let project = Project {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: access.tenant.as_str().to_owned(),
        name_lower: name.to_lowercase(),
        name,
        description: body.description,
        created_by: access.user_id.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let change = Change {
        action: "project.created",
        target_type: "project",
        target_id: &project.id,
        details: json!({"name": project.name}),
    };
    let event = audit::event(&access.tenant, &Actor::from(access), client, change);
    project_rows::insert_audited(conn, &project, &event)?;
    Ok(project)
}

/// POST /tenants/{tid}/projects
pub async fn create(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let project = call
        .write_atomic(&pool, move |conn, access| {
            create_project(conn, access, &client, &body)
        })
        .await?;
    let location = format!("/api/v1/tenants/{}/projects/{}", project.tenant_id, project.id);
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, location));
    Ok(with_etag(response, project))
}

/// GET /tenants/{tid}/projects/{pid}
pub async fn get(
    call: TenantCall,
    pool: web::Data<Pool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    // A member's read costs one statement: the standing and the project together.
    let project = call
        .read_joined(
            &pool,
            path_id(path.into_inner().1),
            |conn, caller, id| project_rows::find_with_standing(conn, caller, id),
            |conn, access, id| Ok(project_rows::find(conn, &access.tenant, id)?),
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), project))
}

/// The body of `PATCH …/projects/{pid}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[schema(schema_with = optional_name_schema)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = description_schema)]
    description: Option<Option<String>>,
}

impl Validate for UpdateProject {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_name(&mut errors, name);
        }
        check_description(&mut errors, self.description.clone().flatten().as_deref());
        finish(errors)
    }
}

/// The version named by `If-Match`: `None` without the header, `Some(None)` for `*`, `Some(Some(v))`
/// for `"v"`; anything else matches no version.
fn if_match(req: &HttpRequest) -> Option<Option<i64>> {
    let value = req.headers().get(header::IF_MATCH)?;
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Some(None);
    }
    let version = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok());
    Some(Some(version.unwrap_or(-1)))
}

/// PATCH /tenants/{tid}/projects/{pid}
pub async fn update(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req).flatten();
    let project = call
        .write(&pool, move |conn, access| {
            let body: UpdateProject = body.parse()?;
            let id = path_id(path.into_inner().1)?;
            let name = body.name.as_deref().map(str::trim);
            let changes = ProjectChanges {
                name,
                name_lower: name.map(str::to_lowercase),
                description: body.description.as_ref().map(|d| d.as_deref()),
                updated_at: portcullis_db::now(),
            };
            if !project_rows::update(conn, &access.tenant, &id, expected, &changes)? {
                // Tell "gone" from "changed since": the former is 404, the latter 412.
                project_rows::find(conn, &access.tenant, &id)?;
                return Err(ApiError::PreconditionFailed);
            }
            let project = project_rows::find(conn, &access.tenant, &id)?;
            let details = json!({"version": project.version, "fields": changed_fields(&body)});
            let change = Change {
                action: "project.updated",
                target_type: "project",
                target_id: &id,
                details,
            };
            audit::record(conn, &access.tenant, &Actor::from(access), &client, change)?;
            Ok(project)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), project))
}

fn changed_fields(body: &UpdateProject) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if body.name.is_some() {
        fields.push("name");
    }
    if body.description.is_some() {
        fields.push("description");
    }
    fields
}

/// DELETE /tenants/{tid}/projects/{pid}
pub async fn delete(
    call: TenantCall,
    pool: web::Data<Pool>,
    client: ClientInfo,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().1;
    audit::remove_audited(
        &pool,
        call,
        client,
        ("project.deleted", "project"),
        id,
        project_rows::delete,
    )
    .await
}
