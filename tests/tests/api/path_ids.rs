//! Ids in the path are checked before any query: a malformed one (a NUL, a non-UUID, bytes that are
//! not UTF-8, a role name the pattern refuses) names nothing that exists, so it is the same 404
//! `not_found` as an unknown id, on every route, on both backends (PostgreSQL refuses NUL in text
//! and used to turn `%00` into a 500). The sweep walks the route list the router is built from.

use portcullis_tests::{access, spawn_app, TestApp, PASSWORD};
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

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> reqwest::Response {
    let mut request = app.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        path,
        Some(token),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn setup(app: &TestApp) -> (Value, Ids) {
    let owner = app.signup("owner@example.com").await;
    let member = app.signup("member@example.com").await;
    let tenant = app.create_tenant(access(&owner), "path-ids").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_role(access(&owner), &tenant, "auditor", &["tenant:read", "audit:read"])
        .await;
    app.add_member(access(&owner), &tenant, &member, &["viewer"])
        .await;
    let post = |path: String, body: Value| {
        let token = access(&owner).to_owned();
        async move {
            let response = app.post_json(&path, &body, Some(&token)).await;
            assert_eq!(response.status(), 201, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let invitation = post(
        format!("/api/v1/tenants/{tenant}/invitations"),
        json!({"email": "pending@example.com", "roles": ["viewer"]}),
    )
    .await;
    let project = post(
        format!("/api/v1/tenants/{tenant}/projects"),
        json!({"name": "Apollo"}),
    )
    .await;
    let key = post(
        format!("/api/v1/tenants/{tenant}/api-keys"),
        json!({"name": "ci", "scopes": ["projects:read"]}),
    )
    .await;
    // A second session of the owner, for the session route to revoke without signing the owner out.
    assert_eq!(app.login("owner@example.com", PASSWORD).await.status(), 200);
    let sessions: Value = app
        .get("/api/v1/auth/sessions", Some(access(&owner)))
        .await
        .json()
        .await
        .unwrap();
    let session = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = Ids {
        tenant,
        member: member["user"]["id"].as_str().unwrap().to_owned(),
        invitation: invitation["id"].as_str().unwrap().to_owned(),
        role: "auditor".to_owned(),
        project: project["id"].as_str().unwrap().to_owned(),
        api_key: key["id"].as_str().unwrap().to_owned(),
        session,
    };
    (owner, ids)
}

#[actix_web::test]
async fn a_malformed_id_in_any_path_is_a_plain_404_never_a_500() {
    let app = spawn_app().await;
    let (owner, ids) = setup(&app).await;
    let token = access(&owner);

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
                let response = send(&app, method, &path, body.clone(), token).await;
                assert_eq!(response.status(), 404, "{method} {path}");
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json",
                    "{method} {path}"
                );
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["code"], "not_found", "{method} {path}: {problem}");
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
        let status = send(&app, &method, &path, body, token).await.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{method} {path} with real ids: {status}"
        );
    }
}
