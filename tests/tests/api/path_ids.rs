//! Ids in the path are checked before any query: a malformed one (a NUL, a non-UUID, bytes that are
//! not UTF-8, a role name the pattern refuses) names nothing that exists, so it is the same 404
//! `not_found` as an unknown id, on every route, on both backends (PostgreSQL refuses NUL in text
//! and used to turn `%00` into a 500). The sweep walks the route list the router is built from.

use portcullis_tests::{spawn_app, JsonExt, Request, RequestHelper, TestApp, User, PASSWORD};
use portcullis_web::Guard;
use serde_json::{json, Value};

/// The real resources the owner can reach, one per kind of path parameter.
struct Ids {
    tenant: String,
    member: String,
    invitation: String,
    role: String,
    project: String,
    api_key: String,
    session: String,
}

/// A valid body for each tenant route, so only the path can be wrong.
fn tenant_body(route: &str) -> Option<Value> {
    match route {
        "GetTenant" | "DeleteTenant" | "ListMembers" | "RemoveMember" | "ListInvitations"
        | "RevokeInvitation" | "ListRoles" | "DeleteRole" | "ListProjects" | "GetProject"
        | "DeleteProject" | "ListApiKeys" | "RevokeApiKey" | "ListAuditEvents" => None,
        "UpdateTenant" => Some(json!({"name": "Renamed"})),
        "SetMemberRoles" => Some(json!({"roles": ["viewer"]})),
        "CreateInvitation" => Some(json!({"email": "new@example.com", "roles": ["viewer"]})),
        "CreateRole" => Some(json!({"name": "another", "scopes": ["tenant:read"]})),
        "UpdateRole" => Some(json!({"description": "changed"})),
        "CreateProject" => Some(json!({"name": "Another"})),
        "UpdateProject" => Some(json!({"name": "Changed"})),
        "CreateApiKey" => Some(json!({"name": "another", "scopes": ["projects:read"]})),
        other => panic!("no body for {other}: add one"),
    }
}

/// The parameter names of a path template, in order.
fn params(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// The real value of parameter `name` in `template`.
fn real<'a>(template: &str, name: &str, ids: &'a Ids) -> &'a str {
    match name {
        "tid" => &ids.tenant,
        "uid" => &ids.member,
        "pid" => &ids.project,
        "name" => &ids.role,
        "id" if template.starts_with("/tenants/{tid}/invitations/") => &ids.invitation,
        "id" if template.starts_with("/tenants/{tid}/api-keys/") => &ids.api_key,
        "id" if template.starts_with("/auth/sessions/") => &ids.session,
        other => panic!("a new path parameter {other:?} in {template}: teach this test its real value"),
    }
}

/// `template` under `/api/v1` with real ids, except `bad` = (parameter, value) when given.
fn fill(template: &str, ids: &Ids, bad: Option<(&str, &str)>) -> String {
    let mut path = template.to_owned();
    for name in params(template) {
        let value = match bad {
            Some((which, value)) if which == name => value.to_owned(),
            _ => real(template, name, ids).to_owned(),
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    format!("/api/v1{path}")
}

/// Malformed stand-ins for a real value of parameter `name`.
fn malformed(name: &str, real: &str) -> Vec<String> {
    let mut values = vec![
        "%00".to_owned(),
        format!("{real}%00"),
        format!("%00{real}"),
        format!("{}%00{}", &real[..4], &real[5..]),
        "%FF".to_owned(),
        "%C3%28".to_owned(),
    ];
    if name == "name" {
        // Not a role name by the contract's pattern, and one that is but does not exist.
        values.extend(["A".to_owned(), "x".to_owned(), "no-such-role".to_owned()]);
    } else {
        // Not a UUID, and a UUID that names nothing.
        values.extend([
            "abc".to_owned(),
            format!("{}zz", real.replace('-', "")),
            "00000000-0000-7000-8000-000000000000".to_owned(),
        ]);
    }
    values
}

fn send(owner: &User<'_>, method: &str, path: &str, body: Option<&Value>) -> Request {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .unwrap_or_else(|err| panic!("{method} is a method: {err}"));
    owner.request(method, path).json_opt(body)
}

async fn setup(app: &TestApp) -> (User<'_>, Ids) {
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let tenant = owner.create_tenant("path-ids").await;
    owner
        .create_role(&tenant, "auditor", &["tenant:read", "audit:read"])
        .await;
    owner.add_member(&tenant, &member, &["viewer"]).await;
    let invitation = owner.invite(&tenant, "pending@example.com", &["viewer"]).await;
    let project = owner
        .post(&tenant.path("/projects"), &json!({"name": "Apollo"}))
        .await
        .expect(201);
    let key = owner
        .create_api_key(&tenant, &json!({"name": "ci", "scopes": ["projects:read"]}))
        .await;
    // A second session of the owner, for the session route to revoke without signing the owner out.
    app.sign_in("owner@example.com", PASSWORD).await.expect(200);
    let sessions = owner.get("/api/v1/auth/sessions").await.expect(200);
    let session = sessions
        .items()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap_or_else(|| panic!("a second session: {sessions}"))
        .str_at("id")
        .to_owned();
    let ids = Ids {
        member: member.id().to_owned(),
        invitation: invitation.str_at("id").to_owned(),
        role: "auditor".to_owned(),
        project: project.str_at("id").to_owned(),
        api_key: key.id().to_owned(),
        session,
        tenant: tenant.id,
    };
    (owner, ids)
}

#[actix_web::test]
async fn a_malformed_id_in_any_path_is_a_plain_404_never_a_500() {
    let app = spawn_app().await;
    let (owner, ids) = setup(&app).await;

    // (method, template, body) of every route with a path parameter.
    let declared = portcullis_server::router::routes();
    let tenant_routes = declared
        .iter()
        .filter(|r| matches!(r.guard, Guard::Tenant { .. }))
        .count();
    let mut routes: Vec<(String, &str, Option<Value>)> = declared
        .iter()
        .filter(|r| r.path.contains('{'))
        .map(|r| {
            let body = match r.guard {
                Guard::Tenant { .. } => tenant_body(r.id),
                Guard::Public | Guard::User => None,
            };
            (r.method.to_string(), r.path, body)
        })
        .collect();
    assert!(routes.iter().all(|(_, path, _)| !params(path).is_empty()));
    assert!(routes.len() > tenant_routes, "the session route is covered");

    let mut probes = 0;
    for (method, template, body) in &routes {
        for name in params(template) {
            for value in malformed(name, real(template, name, &ids)) {
                let path = fill(template, &ids, Some((name, &value)));
                send(&owner, method, &path, body.as_ref())
                    .await
                    .expect_problem(404, "not_found");
                probes += 1;
            }
        }
    }
    assert!(probes > 100, "{probes}");

    // Positive control: with the real ids every route finds what it names. Deleting routes go last,
    // the tenant itself very last, so each control still has its resources.
    routes.sort_by_key(|(method, template, _)| (*method == "DELETE", *template == "/tenants/{tid}"));
    for (method, template, body) in routes {
        let path = fill(template, &ids, None);
        let response = send(&owner, &method, &path, body.as_ref()).await;
        assert!(
            (200..300).contains(&response.status()),
            "with real ids: {response}"
        );
    }
}
