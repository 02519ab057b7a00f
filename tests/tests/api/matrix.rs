//! The authorization matrix: every tenant route, called by every kind of caller, answers what the
//! route table's scope implies. The routes come from the same table the router is built from, and the
//! request for each is chosen by an exhaustive match, so a new route cannot skip this test.

use portcullis_rbac::scopes::{builtin, Scopes};
use portcullis_rbac::table::{Route, TenantRoute, TENANT_ROUTES};
use portcullis_tests::{access, spawn_app, TestApp};
use serde_json::{json, Value};

const AUDITOR: [&str; 4] = ["tenant:read", "members:read", "roles:read", "audit:read"];

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
fn request(route: &TenantRoute, n: usize) -> (Option<Value>, u16) {
    match route.route {
        Route::GetTenant => (None, 200),
        Route::UpdateTenant => (Some(json!({"name": "Renamed"})), 200),
        Route::DeleteTenant => (None, 204),
        Route::ListMembers => (None, 200),
        Route::SetMemberRoles => (Some(json!({"roles": ["viewer", "fixture-role"]})), 200),
        Route::RemoveMember => (None, 204),
        Route::CreateInvitation => (
            Some(json!({"email": format!("new{n}@example.com"), "roles": ["viewer"]})),
            201,
        ),
        Route::ListInvitations => (None, 200),
        Route::RevokeInvitation => (None, 204),
        Route::ListRoles => (None, 200),
        Route::CreateRole => (
            Some(json!({"name": format!("made-{n}"), "scopes": ["tenant:read"]})),
            201,
        ),
        Route::UpdateRole => (Some(json!({"description": "changed"})), 200),
        Route::DeleteRole => (None, 204),
        Route::ListProjects => (None, 200),
        Route::CreateProject => (Some(json!({"name": format!("Project {n}")})), 201),
        Route::GetProject => (None, 200),
        Route::UpdateProject => (Some(json!({"name": "Renamed"})), 200),
        Route::DeleteProject => (None, 204),
        Route::CreateApiKey => (
            Some(json!({"name": format!("key {n}"), "scopes": ["projects:read"]})),
            201,
        ),
        Route::ListApiKeys => (None, 200),
        Route::RevokeApiKey => (None, 204),
        Route::ListAuditEvents => (None, 200),
    }
}

fn path(route: &TenantRoute, f: &Fixture) -> String {
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

fn scopes_of(role: &str) -> Scopes {
    builtin(role).unwrap_or_else(|| Scopes::parse(AUDITOR).unwrap())
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
    for route in TENANT_ROUTES {
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
            } else if scopes_of(role).contains(Scopes::named(route.scope).unwrap()) {
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
    assert_eq!(checked, TENANT_ROUTES.len() * 6);
}
