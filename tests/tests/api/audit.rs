//! The audit log: every listed action, written with its change and only with it.

use diesel::RunQueryDsl;
use portcullis_tests::{access, spawn_app, TestApp};
use serde_json::{json, Value};

async fn actions(app: &TestApp, token: &str, tid: &str, filter: &str) -> Vec<String> {
    let body: Value = app
        .get(
            &format!("/api/v1/tenants/{tid}/audit-events?limit=100{filter}"),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn every_listed_action_is_recorded_and_failures_record_nothing() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let member = app.signup("member@example.com").await;
    let token = access(&owner).to_owned();
    let tid = app.create_tenant(&token, "audited").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/v1/tenants/{tid}");
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (app, token) = (&app, token.clone());
        async move {
            let mut request = app.request(method, &path, Some(&token));
            if let Some(body) = body {
                request = request.json(&body);
            }
            request.send().await.unwrap()
        }
    };
    use reqwest::Method as M;
    assert_eq!(
        send(M::PATCH, base.clone(), Some(json!({"name": "Renamed"})))
            .await
            .status(),
        200
    );
    app.add_member(&token, &tid, &member, &["viewer"]).await;
    let member_id = member["user"]["id"].as_str().unwrap();
    assert_eq!(
        send(
            M::PUT,
            format!("{base}/members/{member_id}/roles"),
            Some(json!({"roles": ["editor"]}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(M::DELETE, format!("{base}/members/{member_id}"), None)
            .await
            .status(),
        204
    );
    let invitation: Value = send(
        M::POST,
        format!("{base}/invitations"),
        Some(json!({"email": "x@example.com", "roles": []})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        send(
            M::DELETE,
            format!("{base}/invitations/{}", invitation["id"].as_str().unwrap()),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        send(
            M::POST,
            format!("{base}/roles"),
            Some(json!({"name": "auditor", "scopes": ["audit:read"]}))
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        send(
            M::PATCH,
            format!("{base}/roles/auditor"),
            Some(json!({"description": "reads"}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(M::DELETE, format!("{base}/roles/auditor"), None)
            .await
            .status(),
        204
    );
    let key: Value = send(
        M::POST,
        format!("{base}/api-keys"),
        Some(json!({"name": "k", "scopes": ["projects:read"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        send(
            M::DELETE,
            format!("{base}/api-keys/{}", key["id"].as_str().unwrap()),
            None
        )
        .await
        .status(),
        204
    );
    let project: Value = send(M::POST, format!("{base}/projects"), Some(json!({"name": "P"})))
        .await
        .json()
        .await
        .unwrap();
    let project_path = format!("{base}/projects/{}", project["id"].as_str().unwrap());
    assert_eq!(
        send(M::PATCH, project_path.clone(), Some(json!({"name": "Q"})))
            .await
            .status(),
        200
    );
    assert_eq!(send(M::DELETE, project_path, None).await.status(), 204);

    let recorded = actions(&app, &token, &tid, "").await;
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
        actions(&app, &token, &tid, "&action=role.created").await,
        ["role.created"]
    );

    let full: Value = app
        .get(
            &format!("{base}/audit-events?action=member.roles_changed"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let event = &full["items"][0];
    assert_eq!(event["actor"], json!({"type": "user", "id": owner["user"]["id"]}));
    assert_eq!(event["target"], json!({"type": "user", "id": member_id}));
    assert_eq!(event["details"], json!({"from": ["viewer"], "to": ["editor"]}));
    assert!(event["ip"].is_string() && event["created_at"].is_string());

    // Refused changes leave no row.
    let count = recorded.len();
    assert_eq!(
        send(
            M::POST,
            format!("{base}/roles"),
            Some(json!({"name": "admin", "scopes": []}))
        )
        .await
        .status(),
        409
    );
    assert_eq!(
        send(M::PATCH, base.clone(), Some(json!({"name": ""})))
            .await
            .status(),
        422
    );
    let owner_id = owner["user"]["id"].as_str().unwrap();
    assert_eq!(
        send(
            M::PUT,
            format!("{base}/members/{owner_id}/roles"),
            Some(json!({"roles": ["admin"]}))
        )
        .await
        .status(),
        409
    );
    assert_eq!(actions(&app, &token, &tid, "").await.len(), count);

    let paged: Value = app
        .get(&format!("{base}/audit-events?limit=2"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let cursor = paged["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(
            &format!("{base}/audit-events?limit=2&cursor={cursor}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(next["items"][0]["id"], paged["items"][1]["id"]);
    assert_eq!(
        app.get(&format!("{base}/audit-events?action=DROP%20TABLE"), Some(&token))
            .await
            .status(),
        422
    );
}

#[actix_web::test]
async fn deleting_a_tenant_removes_its_rows_everywhere() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let member = app.signup("member@example.com").await;
    let token = access(&owner).to_owned();
    let tid = app.create_tenant(&token, "doomed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keep = app.create_tenant(&token, "kept").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_role(&token, &tid, "custom", &["tenant:read"]).await;
    app.add_member(&token, &tid, &member, &["custom"]).await;
    app.post_json(
        &format!("/api/v1/tenants/{tid}/invitations"),
        &json!({"email": "p@example.com", "roles": []}),
        Some(&token),
    )
    .await;
    app.post_json(
        &format!("/api/v1/tenants/{tid}/projects"),
        &json!({"name": "P"}),
        Some(&token),
    )
    .await;
    app.post_json(
        &format!("/api/v1/tenants/{tid}/api-keys"),
        &json!({"name": "k", "scopes": []}),
        Some(&token),
    )
    .await;
    app.post_json(
        &format!("/api/v1/tenants/{keep}/projects"),
        &json!({"name": "Kept"}),
        Some(&token),
    )
    .await;

    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/{tid}"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).unwrap();
    let mut conn = portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).unwrap();
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
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count = |tenant: &str| format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{tenant}'");
        let load = |conn: &mut portcullis_db::DbConn, sql: String| -> i64 {
            match conn {
                portcullis_db::DbConn::Postgres(pg) => {
                    diesel::sql_query(sql).get_result::<Count>(pg).unwrap().n
                }
                portcullis_db::DbConn::Sqlite(sqlite) => {
                    diesel::sql_query(sql).get_result::<Count>(sqlite).unwrap().n
                }
            }
        };
        assert_eq!(
            load(&mut conn, count(&tid)),
            0,
            "{table} keeps rows of the deleted tenant"
        );
        if ["tenants", "projects", "audit_events", "memberships"].contains(&table) {
            assert!(
                load(&mut conn, count(&keep)) > 0,
                "{table} lost rows of another tenant"
            );
        }
    }
}
