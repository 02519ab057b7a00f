//! The authorization matrix: every tenant route, called by every kind of caller, answers what API.md
//! says. The expected scopes and role contents are an answer key written by hand from API.md, not read
//! from the code under test; the test also checks that the key lists exactly the tenant routes the
//! server declares, so a new route cannot skip it.

use std::collections::BTreeSet;

use portcullis_tests::{access, spawn_app, TestApp};
use portcullis_web::Guard;
use serde_json::{json, Value};

const AUDITOR: [&str; 4] = ["tenant:read", "members:read", "roles:read", "audit:read"];

/// API.md, "Tenants, members, invitations, roles", "projects", "API keys" and "Audit log":
/// (operation, method, path, scope).
const ANSWER_KEY: [(&str, &str, &str, &str); 22] = [
    ("GetTenant", "GET", "/tenants/{tid}", "tenant:read"),
    ("UpdateTenant", "PATCH", "/tenants/{tid}", "tenant:update"),
    ("DeleteTenant", "DELETE", "/tenants/{tid}", "tenant:delete"),
    ("ListMembers", "GET", "/tenants/{tid}/members", "members:read"),
    (
        "SetMemberRoles",
        "PUT",
        "/tenants/{tid}/members/{uid}/roles",
        "members:manage",
    ),
    (
        "RemoveMember",
        "DELETE",
        "/tenants/{tid}/members/{uid}",
        "members:manage",
    ),
    (
        "CreateInvitation",
        "POST",
        "/tenants/{tid}/invitations",
        "members:invite",
    ),
    (
        "ListInvitations",
        "GET",
        "/tenants/{tid}/invitations",
        "members:invite",
    ),
    (
        "RevokeInvitation",
        "DELETE",
        "/tenants/{tid}/invitations/{id}",
        "members:invite",
    ),
    ("ListRoles", "GET", "/tenants/{tid}/roles", "roles:read"),
    ("CreateRole", "POST", "/tenants/{tid}/roles", "roles:manage"),
    (
        "UpdateRole",
        "PATCH",
        "/tenants/{tid}/roles/{name}",
        "roles:manage",
    ),
    (
        "DeleteRole",
        "DELETE",
        "/tenants/{tid}/roles/{name}",
        "roles:manage",
    ),
    ("ListProjects", "GET", "/tenants/{tid}/projects", "projects:read"),
    (
        "CreateProject",
        "POST",
        "/tenants/{tid}/projects",
        "projects:write",
    ),
    (
        "GetProject",
        "GET",
        "/tenants/{tid}/projects/{pid}",
        "projects:read",
    ),
    (
        "UpdateProject",
        "PATCH",
        "/tenants/{tid}/projects/{pid}",
        "projects:write",
    ),
    (
        "DeleteProject",
        "DELETE",
        "/tenants/{tid}/projects/{pid}",
        "projects:delete",
    ),
    (
        "CreateApiKey",
        "POST",
        "/tenants/{tid}/api-keys",
        "api_keys:manage",
    ),
    ("ListApiKeys", "GET", "/tenants/{tid}/api-keys", "api_keys:manage"),
    (
        "RevokeApiKey",
        "DELETE",
        "/tenants/{tid}/api-keys/{id}",
        "api_keys:manage",
    ),
    (
        "ListAuditEvents",
        "GET",
        "/tenants/{tid}/audit-events",
        "audit:read",
    ),
];

/// API.md, "Built-in roles" (and the test's own `auditor` custom role).
fn scopes_of(role: &str) -> Vec<&'static str> {
    const ALL: [&str; 13] = [
        "tenant:read",
        "tenant:update",
        "tenant:delete",
        "members:read",
        "members:invite",
        "members:manage",
        "roles:read",
        "roles:manage",
        "projects:read",
        "projects:write",
        "projects:delete",
        "api_keys:manage",
        "audit:read",
    ];
    match role {
        "owner" => ALL.to_vec(),
        "admin" => ALL.into_iter().filter(|s| *s != "tenant:delete").collect(),
        "editor" => vec![
            "tenant:read",
            "members:read",
            "roles:read",
            "projects:read",
            "projects:write",
            "projects:delete",
        ],
        "viewer" => vec!["tenant:read", "members:read", "projects:read"],
        "auditor" => AUDITOR.to_vec(),
        other => panic!("no answer for role {other}"),
    }
}

struct Key {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    scope: &'static str,
}

#[test]
fn the_answer_key_covers_exactly_the_tenant_routes_the_server_declares() {
    let declared: BTreeSet<(String, String, String)> = portcullis_server::router::routes()
        .into_iter()
        .filter(|r| matches!(r.guard, Guard::Tenant { .. }))
        .map(|r| (r.id.to_owned(), r.method.to_string(), r.path.to_owned()))
        .collect();
    let key: BTreeSet<(String, String, String)> = ANSWER_KEY
        .iter()
        .map(|(id, method, path, _)| (id.to_string(), method.to_string(), path.to_string()))
        .collect();
    assert_eq!(declared, key);
}

struct Fixture {
    tenant: String,
    victim: String,
    invitation: String,
    project: String,
    api_key: String,
}

/// A fresh tenant owned by `owner`, with the caller (if any) holding `role`, a viewer to act on, a
/// custom role and a pending invitation.
async fn fixture(
    app: &TestApp,
    owner: &Value,
    caller: Option<(&Value, &str)>,
    victim: &Value,
    n: usize,
) -> Fixture {
    let tenant = app.create_tenant(access(owner), &format!("matrix-{n}")).await;
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    app.create_role(access(owner), &tenant_id, "auditor", &AUDITOR)
        .await;
    app.create_role(access(owner), &tenant_id, "fixture-role", &["tenant:read"])
        .await;
    if let Some((member, role)) = caller {
        app.add_member(access(owner), &tenant_id, member, &[role]).await;
    }
    app.add_member(access(owner), &tenant_id, victim, &["viewer"])
        .await;
    let invitation: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tenant_id}/invitations"),
            &json!({"email": "pending@example.com", "roles": ["viewer"]}),
            Some(access(owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    let project: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tenant_id}/projects"),
            &json!({"name": "Fixture"}),
            Some(access(owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    let key: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tenant_id}/api-keys"),
            &json!({"name": "fixture", "scopes": ["projects:read"]}),
            Some(access(owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    Fixture {
        tenant: tenant_id,
        victim: victim["user"]["id"].as_str().unwrap().to_owned(),
        invitation: invitation["id"].as_str().unwrap().to_owned(),
        project: project["id"].as_str().unwrap().to_owned(),
        api_key: key["id"].as_str().unwrap().to_owned(),
    }
}

/// The request that exercises a route on a fixture, and its success status.
fn request(route: &Key, n: usize) -> (Option<Value>, u16) {
    match route.id {
        "GetTenant" => (None, 200),
        "UpdateTenant" => (Some(json!({"name": "Renamed"})), 200),
        "DeleteTenant" => (None, 204),
        "ListMembers" => (None, 200),
        "SetMemberRoles" => (Some(json!({"roles": ["viewer", "fixture-role"]})), 200),
        "RemoveMember" => (None, 204),
        "CreateInvitation" => (
            Some(json!({"email": format!("new{n}@example.com"), "roles": ["viewer"]})),
            201,
        ),
        "ListInvitations" => (None, 200),
        "RevokeInvitation" => (None, 204),
        "ListRoles" => (None, 200),
        "CreateRole" => (
            Some(json!({"name": format!("made-{n}"), "scopes": ["tenant:read"]})),
            201,
        ),
        "UpdateRole" => (Some(json!({"description": "changed"})), 200),
        "DeleteRole" => (None, 204),
        "ListProjects" => (None, 200),
        "CreateProject" => (Some(json!({"name": format!("Project {n}")})), 201),
        "GetProject" => (None, 200),
        "UpdateProject" => (Some(json!({"name": "Renamed"})), 200),
        "DeleteProject" => (None, 204),
        "CreateApiKey" => (
            Some(json!({"name": format!("key {n}"), "scopes": ["projects:read"]})),
            201,
        ),
        "ListApiKeys" => (None, 200),
        "RevokeApiKey" => (None, 204),
        "ListAuditEvents" => (None, 200),
        other => panic!("no request for {other}"),
    }
}

fn path(route: &Key, f: &Fixture) -> String {
    let id = if route.path.contains("/api-keys/") {
        &f.api_key
    } else {
        &f.invitation
    };
    format!(
        "/api/v1{}",
        route
            .path
            .replace("{tid}", &f.tenant)
            .replace("{uid}", &f.victim)
            .replace("{id}", id)
            .replace("{pid}", &f.project)
            .replace("{name}", "fixture-role")
    )
}

#[actix_web::test]
async fn every_tenant_route_answers_what_its_scope_implies_for_every_role() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let victim = app.signup("victim@example.com").await;
    let mut callers = Vec::new();
    for role in ["admin", "editor", "viewer", "auditor"] {
        callers.push((role, app.signup(&format!("{role}@example.com")).await));
    }
    let outsider = app.signup("outsider@example.com").await;

    let mut n = 0;
    let mut checked = 0;
    for (id, method, path_pattern, scope) in ANSWER_KEY {
        let route = &Key {
            id,
            method,
            path: path_pattern,
            scope,
        };
        let cases: Vec<(&str, Option<&Value>)> = std::iter::once(("owner", None))
            .chain(callers.iter().map(|(role, tokens)| (*role, Some(tokens))))
            .chain(std::iter::once(("non-member", Some(&outsider))))
            .collect();
        for (role, member) in cases {
            n += 1;
            let caller_in_tenant = match (role, member) {
                ("owner" | "non-member", _) => None,
                (role, Some(tokens)) => Some((tokens, role)),
                _ => None,
            };
            let f = fixture(&app, &owner, caller_in_tenant, &victim, n).await;
            let token = match member {
                Some(tokens) => access(tokens),
                None => access(&owner),
            };
            let (body, success) = request(route, n);
            let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut call = app.request(method, &path(route, &f), Some(token));
            if let Some(body) = body {
                call = call.json(&body);
            }
            let response = call.send().await.unwrap();
            let status = response.status().as_u16();
            let expected = if role == "non-member" {
                404
            } else if scopes_of(role).contains(&route.scope) {
                success
            } else {
                403
            };
            let body: Value = if status == 204 {
                Value::Null
            } else {
                response.json().await.unwrap_or(Value::Null)
            };
            assert_eq!(
                status, expected,
                "{role} on {} {}: {body}",
                route.method, route.path
            );
            if expected == 403 {
                assert_eq!(
                    body["required_scope"], route.scope,
                    "{role} on {} {}",
                    route.method, route.path
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ANSWER_KEY.len() * 6);
}
