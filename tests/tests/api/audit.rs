//! The audit log: every listed action, written with its change and only with it.

use portcullis_tests::{count_rows, spawn_app, JsonExt, RequestHelper};
use serde_json::json;

#[actix_web::test]
async fn every_listed_action_is_recorded_and_failures_record_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let tenant = owner.create_tenant("audited").await;
    let base = tenant.path("");
    owner.patch(&base, &json!({"name": "Renamed"})).await.expect(200);
    owner.add_member(&tenant, &member, &["viewer"]).await;
    owner
        .set_member_roles(&tenant, member.id(), &["editor"])
        .await
        .expect(200);
    owner.remove_member(&tenant, member.id()).await.expect(204);
    let invitation = owner.invite(&tenant, "x@example.com", &[]).await;
    owner
        .delete(&tenant.path(&format!("/invitations/{}", invitation.str_at("id"))))
        .await
        .expect(204);
    owner
        .post(
            &tenant.path("/roles"),
            &json!({"name": "auditor", "scopes": ["audit:read"]}),
        )
        .await
        .expect(201);
    owner
        .patch(&tenant.path("/roles/auditor"), &json!({"description": "reads"}))
        .await
        .expect(200);
    owner.delete(&tenant.path("/roles/auditor")).await.expect(204);
    let key = owner
        .create_api_key(&tenant, &json!({"name": "k", "scopes": ["projects:read"]}))
        .await;
    owner
        .delete(&tenant.path(&format!("/api-keys/{}", key.id())))
        .await
        .expect(204);
    let project = owner
        .post(&tenant.path("/projects"), &json!({"name": "P"}))
        .await
        .expect(201);
    let project_path = tenant.path(&format!("/projects/{}", project.str_at("id")));
    owner
        .patch(&project_path, &json!({"name": "Q"}))
        .await
        .expect(200);
    owner.delete(&project_path).await.expect(204);

    let recorded = owner.audit_actions(&tenant, "").await;
    for action in [
        "tenant.created",
        "tenant.updated",
        "member.added",
        "member.roles_changed",
        "member.removed",
        "invitation.created",
        "invitation.accepted",
        "invitation.revoked",
        "role.created",
        "role.updated",
        "role.deleted",
        "api_key.created",
        "api_key.revoked",
        "project.created",
        "project.updated",
        "project.deleted",
    ] {
        assert!(
            recorded.contains(&action.to_string()),
            "{action} missing from {recorded:?}"
        );
    }
    assert_eq!(recorded[0], "project.deleted", "newest first");
    assert_eq!(
        owner.audit_actions(&tenant, "&action=role.created").await,
        ["role.created"]
    );

    let full = owner
        .get(&tenant.path("/audit-events?action=member.roles_changed"))
        .await
        .expect(200);
    let event = &full["items"][0];
    assert_eq!(event["actor"], json!({"type": "user", "id": owner.id()}));
    assert_eq!(event["target"], json!({"type": "user", "id": member.id()}));
    assert_eq!(event["details"], json!({"from": ["viewer"], "to": ["editor"]}));
    assert!(event["ip"].is_string() && event["created_at"].is_string());

    // Refused changes leave no row.
    let count = recorded.len();
    owner
        .post(&tenant.path("/roles"), &json!({"name": "admin", "scopes": []}))
        .await
        .expect(409);
    owner.patch(&base, &json!({"name": ""})).await.expect(422);
    owner
        .set_member_roles(&tenant, owner.id(), &["admin"])
        .await
        .expect(409);
    assert_eq!(owner.audit_actions(&tenant, "").await.len(), count);

    let paged = owner.get(&tenant.path("/audit-events?limit=2")).await.expect(200);
    let cursor = paged.str_at("next_cursor");
    let next = owner
        .get(&tenant.path(&format!("/audit-events?limit=2&cursor={cursor}")))
        .await
        .expect(200);
    assert_ne!(next["items"][0]["id"], paged["items"][1]["id"]);
    owner
        .get(&tenant.path("/audit-events?action=DROP%20TABLE"))
        .await
        .expect(422);
}

#[actix_web::test]
async fn deleting_a_tenant_removes_its_rows_everywhere() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let tenant = owner.create_tenant("doomed").await;
    let keep = owner.create_tenant("kept").await;
    owner.create_role(&tenant, "custom", &["tenant:read"]).await;
    owner.add_member(&tenant, &member, &["custom"]).await;
    owner.invite(&tenant, "p@example.com", &[]).await;
    owner
        .post(&tenant.path("/projects"), &json!({"name": "P"}))
        .await
        .expect(201);
    owner
        .create_api_key(&tenant, &json!({"name": "k", "scopes": []}))
        .await;
    owner
        .post(&keep.path("/projects"), &json!({"name": "Kept"}))
        .await
        .expect(201);

    owner.delete(&tenant.path("")).await.expect(204);

    for table in [
        "tenants",
        "memberships",
        "member_roles",
        "roles",
        "invitations",
        "projects",
        "api_keys",
        "audit_events",
    ] {
        let column = if table == "tenants" { "id" } else { "tenant_id" };
        let rows_of = |tenant_id: &str| count_rows(&app, table, &format!("{column} = '{tenant_id}'"));
        assert_eq!(rows_of(&tenant.id), 0, "{table} keeps rows of the deleted tenant");
        if ["tenants", "projects", "audit_events", "memberships"].contains(&table) {
            assert!(rows_of(&keep.id) > 0, "{table} lost rows of another tenant");
        }
    }
}
