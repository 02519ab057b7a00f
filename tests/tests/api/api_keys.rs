//! API keys: format, scopes, intersection with the creator's scopes, revocation and expiry.

use portcullis_tests::{access, problem, spawn_app, TestApp};
use serde_json::{json, Value};

async fn create_key(app: &TestApp, token: &str, tid: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/v1/tenants/{tid}/api-keys"), &body, Some(token))
        .await
}

#[actix_web::test]
async fn a_key_acts_in_its_tenant_with_its_scopes() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "keys").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.create_tenant(access(&owner), "other").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = create_key(
        &app,
        access(&owner),
        &tid,
        json!({"name": "ci", "scopes": ["projects:read", "projects:write"]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pcs_") && key.len() == 53, "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["scopes"], json!(["projects:read", "projects:write"]));

    let projects = format!("/api/v1/tenants/{tid}/projects");
    let made = app
        .post_json(&projects, &json!({"name": "By key"}), Some(&key))
        .await;
    assert_eq!(made.status(), 201);
    assert_eq!(app.get(&projects, Some(&key)).await.status(), 200);
    let denied = problem(
        app.get(&format!("/api/v1/tenants/{tid}/members"), Some(&key))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(denied["required_scope"], "members:read");
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{other}/projects"), Some(&key))
            .await
            .status(),
        404,
        "only its own tenant"
    );
    problem(app.get("/api/v1/me", Some(&key)).await, 403, "forbidden").await;
    problem(
        app.post_json(
            "/api/v1/tenants",
            &json!({"name": "X", "slug": "from-key"}),
            Some(&key),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    let listed: Value = app
        .get(&format!("/api/v1/tenants/{tid}/api-keys"), Some(access(&owner)))
        .await
        .json()
        .await
        .unwrap();
    let item = &listed["items"][0];
    assert!(item.get("key").is_none(), "secrets are shown once");
    assert!(item["last_used_at"].is_string(), "use is recorded");

    let audit: Value = app
        .get(
            &format!("/api/v1/tenants/{tid}/audit-events?action=project.created"),
            Some(access(&owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit["items"][0]["actor"],
        json!({"type": "api_key", "id": created["id"]})
    );

    let revoke = app.request(
        reqwest::Method::DELETE,
        &format!(
            "/api/v1/tenants/{tid}/api-keys/{}",
            created["id"].as_str().unwrap()
        ),
        Some(access(&owner)),
    );
    assert_eq!(revoke.send().await.unwrap().status(), 204);
    let refused = app.get(&projects, Some(&key)).await;
    assert_eq!(refused.status(), 401, "revoked keys stop at once");
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
}

#[actix_web::test]
async fn malformed_expired_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "expiry").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let created: Value = create_key(
        &app,
        access(&owner),
        &tid,
        json!({"name": "short", "scopes": ["projects:read"], "expires_at": soon}),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let projects = format!("/api/v1/tenants/{tid}/projects");
    assert_eq!(app.get(&projects, Some(&key)).await.status(), 200);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get(&projects, Some(&key)).await.status(), 401, "expired");

    let mut altered = key.clone().into_bytes();
    altered[20] = if altered[20] == b'a' { b'b' } else { b'a' };
    for bad in [
        String::from_utf8(altered).unwrap(),
        "pcs_nope".into(),
        portcullis_auth::api_keys::generate(),
    ] {
        assert_eq!(app.get(&projects, Some(&bad)).await.status(), 401, "{bad}");
    }
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    problem(
        create_key(
            &app,
            access(&owner),
            &tid,
            json!({"name": "old", "scopes": [], "expires_at": past}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
}

#[actix_web::test]
async fn keys_cannot_hold_forbidden_scopes_or_more_than_their_creator() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "scopes").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for scope in [
        "api_keys:manage",
        "members:invite",
        "members:manage",
        "roles:manage",
        "tenant:delete",
    ] {
        let body = problem(
            create_key(
                &app,
                access(&owner),
                &tid,
                json!({"name": "k", "scopes": [scope]}),
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["code"], "forbidden_scope");
    }
    problem(
        create_key(
            &app,
            access(&owner),
            &tid,
            json!({"name": "k", "scopes": ["root"]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        create_key(
            &app,
            access(&owner),
            &tid,
            json!({"name": "k", "scopes": [], "tenant_id": "x"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // A key manager without audit:read cannot mint a key that reads the audit log.
    let manager = app.signup("manager@example.com").await;
    app.create_role(
        access(&owner),
        &tid,
        "key-manager",
        &["api_keys:manage", "projects:read"],
    )
    .await;
    app.add_member(access(&owner), &tid, &manager, &["key-manager"])
        .await;
    problem(
        create_key(
            &app,
            access(&manager),
            &tid,
            json!({"name": "k", "scopes": ["audit:read"]}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        create_key(
            &app,
            access(&manager),
            &tid,
            json!({"name": "k", "scopes": ["projects:read"]})
        )
        .await
        .status(),
        201
    );
}

#[actix_web::test]
async fn a_demoted_or_departed_creator_takes_scopes_from_the_key() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let admin = app.signup("admin@example.com").await;
    let tid = app.create_tenant(access(&owner), "demote").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member(access(&owner), &tid, &admin, &["admin"]).await;
    let created: Value = create_key(
        &app,
        access(&admin),
        &tid,
        json!({"name": "k", "scopes": ["projects:write", "projects:read", "audit:read"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let audit = format!("/api/v1/tenants/{tid}/audit-events");
    let projects = format!("/api/v1/tenants/{tid}/projects");
    assert_eq!(app.get(&audit, Some(&key)).await.status(), 200);

    let admin_id = admin["user"]["id"].as_str().unwrap();
    let demote = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{tid}/members/{admin_id}/roles"),
            Some(access(&owner)),
        )
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
    assert_eq!(
        problem(app.get(&audit, Some(&key)).await, 403, "forbidden").await["required_scope"],
        "audit:read"
    );
    problem(
        app.post_json(&projects, &json!({"name": "x"}), Some(&key)).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.get(&projects, Some(&key)).await.status(),
        200,
        "viewer still reads projects"
    );

    let leave = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/{tid}/members/{admin_id}"),
            Some(access(&admin)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(leave.status(), 204);
    problem(app.get(&projects, Some(&key)).await, 403, "forbidden").await;
}
