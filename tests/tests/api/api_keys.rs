//! API keys: format, scopes, intersection with the creator's scopes, revocation and expiry.

use portcullis_tests::{spawn_app, ApiKey, JsonExt, RequestHelper};
use serde_json::json;

#[actix_web::test]
async fn a_key_acts_in_its_tenant_with_its_scopes() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("keys").await;
    let other = owner.create_tenant("other").await;
    let response = owner
        .post(
            &tenant.path("/api-keys"),
            &json!({"name": "ci", "scopes": ["projects:read", "projects:write"]}),
        )
        .await;
    let key = ApiKey::from_body(&app, &tenant, response.expect(201));
    assert_eq!(response.header("cache-control"), "no-store");
    let secret = key.secret();
    assert!(secret.starts_with("pcs_") && secret.len() == 53, "{secret}");
    assert!(secret.starts_with(key.body().str_at("prefix")));
    assert_eq!(key.body()["scopes"], json!(["projects:read", "projects:write"]));

    let projects = tenant.path("/projects");
    key.post(&projects, &json!({"name": "By key"})).await.expect(201);
    key.get(&projects).await.expect(200);
    let denied = key
        .get(&tenant.path("/members"))
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(denied["required_scope"], "members:read");
    let elsewhere = key.get(&other.path("/projects")).await;
    assert_eq!(elsewhere.status(), 404, "only its own tenant: {elsewhere}");
    key.get("/api/v1/me").await.expect_problem(403, "forbidden");
    key.post("/api/v1/tenants", &json!({"name": "X", "slug": "from-key"}))
        .await
        .expect_problem(403, "forbidden");

    let listed = owner.get(&tenant.path("/api-keys")).await.expect(200);
    let item = &listed["items"][0];
    assert!(item.get("key").is_none(), "secrets are shown once");
    assert!(item["last_used_at"].is_string(), "use is recorded");

    let audit = owner
        .get(&tenant.path("/audit-events?action=project.created"))
        .await
        .expect(200);
    assert_eq!(
        audit["items"][0]["actor"],
        json!({"type": "api_key", "id": key.id()})
    );

    owner
        .delete(&tenant.path(&format!("/api-keys/{}", key.id())))
        .await
        .expect(204);
    let refused = key.get(&projects).await;
    assert_eq!(refused.status(), 401, "revoked keys stop at once: {refused}");
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
}

#[actix_web::test]
async fn malformed_expired_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("expiry").await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let key = owner
        .create_api_key(
            &tenant,
            &json!({"name": "short", "scopes": ["projects:read"], "expires_at": soon}),
        )
        .await;
    let projects = tenant.path("/projects");
    key.get(&projects).await.expect(200);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = key.get(&projects).await;
    assert_eq!(expired.status(), 401, "expired: {expired}");

    let mut altered = key.secret().to_owned().into_bytes();
    altered[20] = if altered[20] == b'a' { b'b' } else { b'a' };
    for bad in [
        String::from_utf8(altered).expect("keys are ASCII"),
        "pcs_nope".into(),
        portcullis_auth::api_keys::generate(),
    ] {
        let response = app.bearer(&bad).get(&projects).await;
        assert_eq!(response.status(), 401, "{bad}: {response}");
    }
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    owner
        .post(
            &tenant.path("/api-keys"),
            &json!({"name": "old", "scopes": [], "expires_at": past}),
        )
        .await
        .expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn keys_cannot_hold_forbidden_scopes_or_more_than_their_creator() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("scopes").await;
    let keys = tenant.path("/api-keys");
    for scope in [
        "api_keys:manage",
        "members:invite",
        "members:manage",
        "roles:manage",
        "tenant:delete",
    ] {
        let body = owner
            .post(&keys, &json!({"name": "k", "scopes": [scope]}))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(body["errors"][0]["code"], "forbidden_scope");
    }
    owner
        .post(&keys, &json!({"name": "k", "scopes": ["root"]}))
        .await
        .expect_problem(422, "validation_failed");
    owner
        .post(&keys, &json!({"name": "k", "scopes": [], "tenant_id": "x"}))
        .await
        .expect_problem(422, "validation_failed");

    // A key manager without audit:read cannot mint a key that reads the audit log.
    let manager = app.user("manager@example.com").await;
    owner
        .create_role(&tenant, "key-manager", &["api_keys:manage", "projects:read"])
        .await;
    owner.add_member(&tenant, &manager, &["key-manager"]).await;
    manager
        .post(&keys, &json!({"name": "k", "scopes": ["audit:read"]}))
        .await
        .expect_problem(403, "forbidden");
    manager
        .post(&keys, &json!({"name": "k", "scopes": ["projects:read"]}))
        .await
        .expect(201);
}

#[actix_web::test]
async fn a_demoted_or_departed_creator_takes_scopes_from_the_key() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let admin = app.user("admin@example.com").await;
    let tenant = owner.create_tenant("demote").await;
    owner.add_member(&tenant, &admin, &["admin"]).await;
    let key = admin
        .create_api_key(
            &tenant,
            &json!({"name": "k", "scopes": ["projects:write", "projects:read", "audit:read"]}),
        )
        .await;
    let audit = tenant.path("/audit-events");
    let projects = tenant.path("/projects");
    key.get(&audit).await.expect(200);

    owner
        .set_member_roles(&tenant, admin.id(), &["viewer"])
        .await
        .expect(200);
    let denied = key.get(&audit).await.expect_problem(403, "forbidden");
    assert_eq!(denied["required_scope"], "audit:read");
    key.post(&projects, &json!({"name": "x"}))
        .await
        .expect_problem(403, "forbidden");
    let read = key.get(&projects).await;
    assert_eq!(read.status(), 200, "viewer still reads projects: {read}");

    admin.remove_member(&tenant, admin.id()).await.expect(204);
    key.get(&projects).await.expect_problem(403, "forbidden");
}
