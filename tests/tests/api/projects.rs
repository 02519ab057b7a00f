//! Projects: CRUD, pagination under concurrent inserts, the `q` filter, ETag / If-Match.

use std::collections::HashSet;

use futures_util::future::join_all;
use portcullis_db::audit::AuditEvent;
use portcullis_db::projects::{self as project_rows, Project};
use portcullis_db::{DatabaseUrl, DbError, PoolOptions, TenantId};
use portcullis_tests::{spawn_app, JsonExt, RequestHelper, Response, Tenant, TestApp, User};
use serde_json::{json, Value};

async fn setup(app: &TestApp) -> (User<'_>, Tenant) {
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("projects").await;
    (owner, tenant)
}

async fn create(owner: &User<'_>, tenant: &Tenant, name: &str) -> Value {
    owner
        .post(&tenant.path("/projects"), &json!({ "name": name }))
        .await
        .expect(201)
}

#[actix_web::test]
async fn a_project_is_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let response = owner
        .post(
            &tenant.path("/projects"),
            &json!({"name": "  Apollo ", "description": "to the moon"}),
        )
        .await;
    let project = response.expect(201);
    assert_eq!(response.header("etag"), "\"1\"");
    let location = response.header("location").to_owned();
    assert_eq!(project["name"], "Apollo");
    assert_eq!(project["tenant_id"], tenant.id.as_str());
    assert_eq!(project["created_by"], owner.id());
    assert_eq!(project["version"], 1);
    assert_eq!(
        location,
        tenant.path(&format!("/projects/{}", project.str_at("id")))
    );

    let fetched = owner.get(&location).await;
    assert_eq!(fetched.header("etag"), "\"1\"");
    let updated = owner
        .patch(&location, &json!({"description": null}))
        .header("If-Match", "\"1\"")
        .await;
    let body = updated.expect(200);
    assert_eq!(updated.header("etag"), "\"2\"");
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["name"], "Apollo");
    assert_eq!(body["version"], 2);

    owner
        .patch(&location, &json!({"name": "Stale"}))
        .header("If-Match", "\"1\"")
        .await
        .expect_problem(412, "precondition_failed");
    owner
        .patch(&location, &json!({"name": "Stale"}))
        .header("If-Match", "garbage")
        .await
        .expect_problem(412, "precondition_failed");
    owner
        .patch(&location, &json!({"name": "Any"}))
        .header("If-Match", "*")
        .await
        .expect(200);
    owner
        .patch(&location, &json!({"name": "Blind"}))
        .await
        .expect(200);

    owner.delete(&location).await.expect(204);
    owner.get(&location).await.expect(404);
    owner
        .patch(&location, &json!({"name": "Gone"}))
        .header("If-Match", "\"5\"")
        .await
        .expect_problem(404, "not_found");
}

/// The create stores the project and its audit event together (as one statement on PostgreSQL): a
/// read returns what was sent, the `q` filter finds it by its lower-cased name, and the event names
/// the project, the caller (the user, or the API key acting) and the client, as API.md lists them.
#[actix_web::test]
async fn a_created_project_and_its_audit_event_are_stored_as_sent() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let created = owner
        .post(
            &tenant.path("/projects"),
            &json!({"name": "Apollo", "description": "to the moon"}),
        )
        .header("user-agent", "mission-control/1.0")
        .await
        .expect(201);
    let id = created.str_at("id");
    let fetched = owner
        .get(&tenant.path(&format!("/projects/{id}")))
        .await
        .expect(200);
    assert_eq!(fetched, created);
    assert_eq!(fetched["description"], "to the moon");
    let found = owner.get(&tenant.path("/projects?q=APOL")).await.expect(200);
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["items"][0]["id"], id);

    let key = owner
        .create_api_key(&tenant, &json!({"name": "ci", "scopes": ["projects:write"]}))
        .await;
    let by_key = key
        .post(&tenant.path("/projects"), &json!({"name": "Gemini"}))
        .header("user-agent", "ci-runner")
        .await
        .expect(201);
    assert_eq!(by_key["created_by"], owner.id());

    let events = owner
        .get(&tenant.path("/audit-events?action=project.created"))
        .await
        .expect(200);
    let items = events["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let (newest, first) = (&items[0], &items[1]);
    assert_eq!(first["actor"], json!({"type": "user", "id": owner.id()}));
    assert_eq!(first["target"], json!({"type": "project", "id": id}));
    assert_eq!(first["details"], json!({"name": "Apollo"}));
    assert_eq!(first["user_agent"], "mission-control/1.0");
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(newest["actor"], json!({"type": "api_key", "id": key.id()}));
    assert_eq!(
        newest["target"],
        json!({"type": "project", "id": by_key.str_at("id")})
    );
    assert_eq!(newest["details"], json!({"name": "Gemini"}));
    assert_eq!(newest["user_agent"], "ci-runner");
}

/// Both rows or neither: when the audit event cannot be stored (here its id is taken), the project
/// is not stored either.
#[actix_web::test]
async fn a_project_whose_audit_event_fails_is_not_stored() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let url = DatabaseUrl::parse(app.db.url()).unwrap();
    let mut conn = portcullis_db::connect(&url, &PoolOptions::default()).unwrap();
    let now = portcullis_db::now();
    let tenant = TenantId::new(tenant.id.clone());
    let project = |name: &str| Project {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        name: name.to_owned(),
        name_lower: name.to_lowercase(),
        description: None,
        created_by: owner.id().to_owned(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        action: "project.created".to_owned(),
        actor_type: "user".to_owned(),
        actor_id: owner.id().to_owned(),
        target_type: "project".to_owned(),
        target_id: "any".to_owned(),
        ip: None,
        user_agent: None,
        details: "{}".to_owned(),
        created_at: now,
    };
    let (first, second) = (project("first"), project("second"));
    project_rows::insert_audited(&mut conn, &first, &event).unwrap();
    project_rows::insert_audited(&mut conn, &second, &event).expect_err("the event id is taken");
    assert!(project_rows::find(&mut conn, &tenant, &first.id).is_ok());
    assert!(matches!(
        project_rows::find(&mut conn, &tenant, &second.id),
        Err(DbError::NotFound)
    ));

    // A tenant deleted after the caller's standing was read: no such tenant, as for any other.
    let gone = uuid::Uuid::now_v7().to_string();
    let orphan = Project {
        tenant_id: gone.clone(),
        ..project("orphan")
    };
    let orphan_event = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: gone,
        ..event
    };
    let refused = project_rows::insert_audited(&mut conn, &orphan, &orphan_event);
    assert!(matches!(refused, Err(DbError::NotFound)), "{refused:?}");
}

#[actix_web::test]
async fn bodies_cannot_set_fields_outside_the_contract() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let path = tenant.path("/projects");
    for field in ["tenant_id", "created_by", "version", "id"] {
        let mut body = json!({"name": "Sneaky"});
        body[field] = json!("x");
        let problem = owner
            .post(&path, &body)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let project = create(&owner, &tenant, "Real").await;
    let one = format!("{path}/{}", project.str_at("id"));
    for field in ["tenant_id", "created_by", "version"] {
        owner
            .patch(&one, &json!({ field: "other" }))
            .await
            .expect_problem(422, "validation_failed");
    }
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "ok", "description": "d".repeat(2001)}),
    ] {
        owner
            .post(&path, &body)
            .await
            .expect_problem(422, "validation_failed");
    }
    let list = owner.get(&path).await.expect(200);
    assert_eq!(list.items().len(), 1, "nothing else was created");
    assert_eq!(list["items"][0]["version"], 1);
}

#[actix_web::test]
async fn concurrent_patches_with_one_if_match_have_one_winner() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let project = create(&owner, &tenant, "Contested").await;
    let path = tenant.path(&format!("/projects/{}", project.str_at("id")));
    let writers = (0..8).map(|i| {
        owner
            .patch(&path, &json!({ "name": format!("writer {i}") }))
            .header("If-Match", "\"1\"")
            .send()
    });
    let statuses: Vec<u16> = join_all(writers).await.iter().map(Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 412), "{statuses:?}");
    let now = owner.get(&path).await.expect(200);
    assert_eq!(now["version"], 2, "exactly one update applied");
}

#[actix_web::test]
async fn pages_neither_repeat_nor_skip_while_rows_are_inserted() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let mut originals = HashSet::new();
    for i in 0..25 {
        let project = create(&owner, &tenant, &format!("p{i}")).await;
        originals.insert(project.str_at("id").to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    loop {
        let query = match &cursor {
            Some(c) => tenant.path(&format!("/projects?limit=7&cursor={c}")),
            None => tenant.path("/projects?limit=7"),
        };
        let page = owner.get(&query).await.expect(200);
        seen.extend(page.items().iter().map(|p| p.str_at("id").to_owned()));
        // Rows arrive between page reads.
        create(&owner, &tenant, &format!("late {inserted}")).await;
        inserted += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    assert_eq!(
        seen.iter().filter(|id| originals.contains(*id)).count(),
        25,
        "no original row skipped"
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sorted, seen, "newest first");
}

#[actix_web::test]
async fn q_filters_by_name_case_insensitively_and_literally() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    for name in [
        "Apollo Program",
        "apollo-soyuz",
        "Gemini",
        "100% Done",
        "snake_case",
        "ÉCLAIR",
    ] {
        create(&owner, &tenant, name).await;
    }
    let names = |query: &str| {
        let request = owner.get(&tenant.path(&format!("/projects?q={query}")));
        async move {
            let body = request.await.expect(200);
            let mut names: Vec<String> = body.items().iter().map(|p| p.str_at("name").to_owned()).collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("APOLLO").await, ["Apollo Program", "apollo-soyuz"]);
    assert_eq!(names("%25").await, ["100% Done"], "% is literal");
    assert_eq!(names("_").await, ["snake_case"], "_ is literal");
    assert_eq!(names("éclair").await, ["ÉCLAIR"]);
    assert_eq!(names("zzz").await, Vec::<String>::new());
    owner
        .get(&tenant.path(&format!("/projects?q={}", "x".repeat(201))))
        .await
        .expect_problem(422, "validation_failed");
    owner
        .get(&tenant.path("/projects?sort=name"))
        .await
        .expect_problem(422, "validation_failed");
}

/// A member's project read is one statement (the standing and the project together); it must answer
/// like every other tenant route, in the same order: a dead session 401 whatever the path, a
/// stranger 404 even for a project that exists, a member without `projects:read` 403, another
/// tenant's project 404, the tenant's MFA policy before the scope; and an API key reads it too.
#[actix_web::test]
async fn a_project_read_answers_like_every_tenant_route() {
    let app = spawn_app().await;
    let (owner, tenant) = setup(&app).await;
    let project = create(&owner, &tenant, "Apollo").await;
    let path = tenant.path(&format!("/projects/{}", project.str_at("id")));

    // Answer key from API.md: a custom role with `members:read` only lacks `projects:read`.
    owner.create_role(&tenant, "auditor", &["members:read"]).await;
    let auditor = owner
        .new_member(&tenant, "auditor@example.com", &["auditor"])
        .await;
    let refused = auditor.get(&path).await.expect_problem(403, "forbidden");
    assert_eq!(refused["required_scope"], "projects:read", "{refused}");
    let viewer = owner.new_member(&tenant, "viewer@example.com", &["viewer"]).await;
    let read = viewer.get(&path).await.expect(200);
    assert_eq!(read["name"], "Apollo");

    let stranger = app.user("stranger@example.com").await;
    stranger.get(&path).await.expect_problem(404, "not_found");
    let other_owner = app.user("other@example.com").await;
    let elsewhere = other_owner.create_tenant("elsewhere").await;
    // The other tenant's owner asks for this project through their own tenant: not there.
    other_owner
        .get(&elsewhere.path(&format!("/projects/{}", project.str_at("id"))))
        .await
        .expect_problem(404, "not_found");
    // A member asks for a project id that is no UUID: 404 after the standing, like a missing one.
    viewer
        .get(&tenant.path("/projects/not-a-uuid"))
        .await
        .expect_problem(404, "not_found");
    viewer
        .get(&tenant.path(&format!("/projects/{}", uuid_like())))
        .await
        .expect_problem(404, "not_found");

    let key = owner
        .create_api_key(&tenant, &json!({"name": "reader", "scopes": ["projects:read"]}))
        .await;
    assert_eq!(key.get(&path).await.expect(200)["name"], "Apollo");

    // The tenant's policy comes before the scope: the viewer signed in without a second factor.
    // (Turning it on over the API needs an owner signed in with one; mfa.rs covers that.)
    let changed = portcullis_tests::execute_sql(
        &app,
        &format!("UPDATE tenants SET require_mfa = TRUE WHERE id = '{}'", tenant.id),
    );
    assert_eq!(changed, 1);
    viewer
        .get(&path)
        .await
        .expect_problem(403, "mfa_required_by_tenant");
    auditor
        .get(&path)
        .await
        .expect_problem(403, "mfa_required_by_tenant");

    // A dead session is 401 whatever the path says, a malformed project id included.
    viewer.post("/api/v1/auth/logout", None).await.expect(204);
    viewer.get(&path).await.expect_problem(401, "invalid_token");
    viewer
        .get(&tenant.path("/projects/not-a-uuid"))
        .await
        .expect_problem(401, "invalid_token");
}

fn uuid_like() -> &'static str {
    "01900000-0000-7000-8000-000000000000"
}
