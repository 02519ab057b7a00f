//! Tenant isolation: no request with tenant A's credentials reaches tenant B. The sweep walks the
//! route list the router is built from (a route without a body below fails the test), and a positive
//! control makes each same request in A's own tenant succeed, so a 404 can only mean isolation.

use portcullis_tests::{access, spawn_app, TestApp};
use portcullis_web::Guard;
use serde_json::{json, Value};

/// A tenant route as the sweep needs it.
struct TenantRoute {
    id: &'static str,
    method: String,
    path: &'static str,
    scope: &'static str,
}

fn tenant_routes() -> Vec<TenantRoute> {
    portcullis_server::router::routes()
        .into_iter()
        .filter_map(|r| match r.guard {
            Guard::Tenant { scope, .. } => Some(TenantRoute {
                id: r.id,
                method: r.method.to_string(),
                path: r.path,
                scope,
            }),
            Guard::Public | Guard::User => None,
        })
        .collect()
}

/// The most a key may hold.
const KEY_SCOPES: [&str; 8] = [
    "tenant:read",
    "tenant:update",
    "members:read",
    "roles:read",
    "projects:read",
    "projects:write",
    "projects:delete",
    "audit:read",
];

struct World {
    tenant: String,
    owner: Value,
    key: String,
    member: String,
    role: String,
    invitation: String,
    project: String,
    api_key: String,
}

async fn world(app: &TestApp, name: &str) -> World {
    let owner = app.signup(&format!("owner-{name}@example.com")).await;
    let member = app.signup(&format!("member-{name}@example.com")).await;
    let tenant = app.create_tenant(access(&owner), &format!("tenant-{name}")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = format!("role-{name}");
    app.create_role(access(&owner), &tenant, &role, &["tenant:read"])
        .await;
    app.add_member(access(&owner), &tenant, &member, &["viewer"])
        .await;
    let post = |path: String, body: Value| {
        let token = access(&owner).to_owned();
        async move {
            app.post_json(&path, &body, Some(&token))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let invitation = post(
        format!("/api/v1/tenants/{tenant}/invitations"),
        json!({"email": format!("pending-{name}@example.com"), "roles": ["viewer"]}),
    )
    .await;
    let project = post(
        format!("/api/v1/tenants/{tenant}/projects"),
        json!({"name": format!("project {name}")}),
    )
    .await;
    let key = post(
        format!("/api/v1/tenants/{tenant}/api-keys"),
        json!({"name": "sweep", "scopes": KEY_SCOPES}),
    )
    .await;
    World {
        key: key["key"].as_str().unwrap().to_owned(),
        api_key: key["id"].as_str().unwrap().to_owned(),
        member: member["user"]["id"].as_str().unwrap().to_owned(),
        invitation: invitation["id"].as_str().unwrap().to_owned(),
        project: project["id"].as_str().unwrap().to_owned(),
        tenant,
        owner,
        role,
    }
}

/// A valid body for each route, so a refusal can only come from isolation.
fn body(route: &str) -> Option<Value> {
    match route {
        "GetTenant" | "DeleteTenant" | "ListMembers" | "RemoveMember" | "ListInvitations" => None,
        "RevokeInvitation" | "ListRoles" | "DeleteRole" | "ListProjects" | "GetProject" => None,
        "DeleteProject" | "ListApiKeys" | "RevokeApiKey" | "ListAuditEvents" => None,
        "UpdateTenant" => Some(json!({"name": "Hijacked"})),
        "SetMemberRoles" => Some(json!({"roles": ["viewer"]})),
        "CreateInvitation" => Some(json!({"email": "intruder@example.com", "roles": ["viewer"]})),
        "CreateRole" => Some(json!({"name": "intruder", "scopes": ["tenant:read"]})),
        "UpdateRole" => Some(json!({"description": "hijacked"})),
        "CreateProject" => Some(json!({"name": "Intruder"})),
        "UpdateProject" => Some(json!({"name": "Hijacked"})),
        "CreateApiKey" => Some(json!({"name": "intruder", "scopes": ["projects:read"]})),
        other => panic!("the isolation sweep has no body for {other}: add one"),
    }
}

fn has_resource_id(route: &TenantRoute) -> bool {
    ["{uid}", "{id}", "{name}", "{pid}"]
        .iter()
        .any(|p| route.path.contains(p))
}

/// `route`'s path under `tenant`, with `ids`' resources.
fn path(route: &TenantRoute, tenant: &str, ids: &World) -> String {
    let id = if route.path.contains("/api-keys/") {
        &ids.api_key
    } else {
        &ids.invitation
    };
    format!(
        "/api/v1{}",
        route
            .path
            .replace("{tid}", tenant)
            .replace("{uid}", &ids.member)
            .replace("{id}", id)
            .replace("{name}", &ids.role)
            .replace("{pid}", &ids.project)
    )
}

async fn call(app: &TestApp, route: &TenantRoute, path: &str, token: &str) -> u16 {
    let mut request = app.request(
        reqwest::Method::from_bytes(route.method.as_bytes()).unwrap(),
        path,
        Some(token),
    );
    if let Some(body) = body(route.id) {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Everything tenant B's owner can see of B.
async fn snapshot(app: &TestApp, b: &World) -> Vec<Value> {
    let mut seen = Vec::new();
    for part in [
        "",
        "/members",
        "/roles",
        "/invitations",
        "/projects",
        "/api-keys",
        "/audit-events?limit=100",
    ] {
        let response = app
            .get(
                &format!("/api/v1/tenants/{}{part}", b.tenant),
                Some(access(&b.owner)),
            )
            .await;
        assert_eq!(response.status(), 200, "{part}");
        let mut body: Value = response.json().await.unwrap();
        // Reading B's key list as B's owner does not use B's key, so nothing here moves by itself.
        if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                item.as_object_mut().map(|o| o.remove("last_used_at"));
            }
        }
        seen.push(body);
    }
    seen
}

#[actix_web::test]
async fn no_route_lets_tenant_a_reach_tenant_b() {
    let app = spawn_app().await;
    let a = world(&app, "a").await;
    let b = world(&app, "b").await;
    let before = snapshot(&app, &b).await;
    let routes = tenant_routes();
    let mut calls = 0;
    for route in &routes {
        // A's user and A's key, on B's tenant with B's ids.
        for (who, token) in [("A's owner", access(&a.owner)), ("A's key", a.key.as_str())] {
            let status = call(&app, route, &path(route, &b.tenant, &b), token).await;
            assert_eq!(status, 404, "{who}: {} {} on tenant B", route.method, route.path);
            calls += 1;
        }
        // B's resource ids under A's own tenant.
        if has_resource_id(route) {
            let status = call(&app, route, &path(route, &a.tenant, &b), access(&a.owner)).await;
            assert_eq!(
                status, 404,
                "A's owner: {} {} with B's ids",
                route.method, route.path
            );
            let status = call(&app, route, &path(route, &a.tenant, &b), &a.key).await;
            // A key lacking the route's scope is refused before any lookup; that reveals nothing of B.
            let expected = if KEY_SCOPES.contains(&route.scope) {
                404
            } else {
                403
            };
            assert_eq!(
                status, expected,
                "A's key: {} {} with B's ids",
                route.method, route.path
            );
            calls += 2;
        }
    }
    assert!(calls >= routes.len() * 2);
    assert_eq!(snapshot(&app, &b).await, before, "tenant B is unchanged");

    // Positive control: the very same requests, in A's own tenant with A's ids, succeed; so the 404s
    // above come from the tenant boundary, not from a malformed request. Removals go last, the
    // tenant's own deletion at the very end.
    let mut ordered: Vec<&TenantRoute> = routes.iter().collect();
    ordered.sort_by_key(|r| (r.id == "DeleteTenant", r.method == "DELETE"));
    for route in ordered {
        let status = call(&app, route, &path(route, &a.tenant, &a), access(&a.owner)).await;
        assert!(
            (200..300).contains(&status),
            "A's owner in A: {} {} answered {status}",
            route.method,
            route.path
        );
    }
}
