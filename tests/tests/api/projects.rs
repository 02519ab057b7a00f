//! Projects: CRUD, pagination under concurrent inserts, the `q` filter, ETag / If-Match.

use std::collections::HashSet;

use futures_util::future::join_all;
use portcullis_tests::{access, problem, spawn_app, TestApp};
use serde_json::{json, Value};

async fn setup(app: &TestApp) -> (Value, String) {
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "projects").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner, tid)
}

async fn create(app: &TestApp, token: &str, tid: &str, name: &str) -> Value {
    let response = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/projects"),
            &json!({"name": name}),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), 201, "{name}");
    response.json().await.unwrap()
}

async fn patch(
    app: &TestApp,
    token: &str,
    path: &str,
    if_match: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app.request(reqwest::Method::PATCH, path, Some(token)).json(&body);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    request.send().await.unwrap()
}

#[actix_web::test]
async fn a_project_is_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let (owner, tid) = setup(&app).await;
    let response = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/projects"),
            &json!({"name": "  Apollo ", "description": "to the moon"}),
            Some(access(&owner)),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let project: Value = response.json().await.unwrap();
    assert_eq!(project["name"], "Apollo");
    assert_eq!(project["tenant_id"], tid.as_str());
    assert_eq!(project["created_by"], owner["user"]["id"]);
    assert_eq!(project["version"], 1);
    assert_eq!(
        location,
        format!(
            "/api/v1/tenants/{tid}/projects/{}",
            project["id"].as_str().unwrap()
        )
    );

    let fetched = app.get(&location, Some(access(&owner))).await;
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    let updated = patch(
        &app,
        access(&owner),
        &location,
        Some("\"1\""),
        json!({"description": null}),
    )
    .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["name"], "Apollo");
    assert_eq!(updated["version"], 2);

    problem(
        patch(
            &app,
            access(&owner),
            &location,
            Some("\"1\""),
            json!({"name": "Stale"}),
        )
        .await,
        412,
        "precondition_failed",
    )
    .await;
    problem(
        patch(
            &app,
            access(&owner),
            &location,
            Some("garbage"),
            json!({"name": "Stale"}),
        )
        .await,
        412,
        "precondition_failed",
    )
    .await;
    assert_eq!(
        patch(&app, access(&owner), &location, Some("*"), json!({"name": "Any"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        patch(&app, access(&owner), &location, None, json!({"name": "Blind"}))
            .await
            .status(),
        200
    );

    let deleted = app
        .request(reqwest::Method::DELETE, &location, Some(access(&owner)))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get(&location, Some(access(&owner))).await.status(), 404);
    problem(
        patch(
            &app,
            access(&owner),
            &location,
            Some("\"5\""),
            json!({"name": "Gone"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn bodies_cannot_set_fields_outside_the_contract() {
    let app = spawn_app().await;
    let (owner, tid) = setup(&app).await;
    let path = format!("/api/v1/tenants/{tid}/projects");
    for field in ["tenant_id", "created_by", "version", "id"] {
        let mut body = json!({"name": "Sneaky"});
        body[field] = json!("x");
        let problem = problem(
            app.post_json(&path, &body, Some(access(&owner))).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let project = create(&app, access(&owner), &tid, "Real").await;
    let one = format!("{path}/{}", project["id"].as_str().unwrap());
    for field in ["tenant_id", "created_by", "version"] {
        problem(
            patch(&app, access(&owner), &one, None, json!({ field: "other" })).await,
            422,
            "validation_failed",
        )
        .await;
    }
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "ok", "description": "d".repeat(2001)}),
    ] {
        problem(
            app.post_json(&path, &body, Some(access(&owner))).await,
            422,
            "validation_failed",
        )
        .await;
    }
    let list: Value = app.get(&path, Some(access(&owner))).await.json().await.unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing else was created"
    );
    assert_eq!(list["items"][0]["version"], 1);
}

#[actix_web::test]
async fn concurrent_patches_with_one_if_match_have_one_winner() {
    let app = spawn_app().await;
    let (owner, tid) = setup(&app).await;
    let project = create(&app, access(&owner), &tid, "Contested").await;
    let path = format!(
        "/api/v1/tenants/{tid}/projects/{}",
        project["id"].as_str().unwrap()
    );
    let writers = (0..8).map(|i| {
        patch(
            &app,
            access(&owner),
            &path,
            Some("\"1\""),
            json!({ "name": format!("writer {i}") }),
        )
    });
    let statuses: Vec<u16> = join_all(writers)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 412), "{statuses:?}");
    let now: Value = app.get(&path, Some(access(&owner))).await.json().await.unwrap();
    assert_eq!(now["version"], 2, "exactly one update applied");
}

#[actix_web::test]
async fn pages_neither_repeat_nor_skip_while_rows_are_inserted() {
    let app = spawn_app().await;
    let (owner, tid) = setup(&app).await;
    let mut originals = HashSet::new();
    for i in 0..25 {
        originals.insert(
            create(&app, access(&owner), &tid, &format!("p{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/api/v1/tenants/{tid}/projects?limit=7&cursor={c}"),
            None => format!("/api/v1/tenants/{tid}/projects?limit=7"),
        };
        let page: Value = app.get(&query, Some(access(&owner))).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        // Rows arrive between page reads.
        create(&app, access(&owner), &tid, &format!("late {inserted}")).await;
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
    let (owner, tid) = setup(&app).await;
    for name in [
        "Apollo Program",
        "apollo-soyuz",
        "Gemini",
        "100% Done",
        "snake_case",
        "ÉCLAIR",
    ] {
        create(&app, access(&owner), &tid, name).await;
    }
    let names = |query: &'static str| {
        let app = &app;
        let path = format!("/api/v1/tenants/{tid}/projects?q={query}");
        let token = access(&owner).to_owned();
        async move {
            let body: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
            let mut names: Vec<String> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("APOLLO").await, ["Apollo Program", "apollo-soyuz"]);
    assert_eq!(names("%25").await, ["100% Done"], "% is literal");
    assert_eq!(names("_").await, ["snake_case"], "_ is literal");
    assert_eq!(names("éclair").await, ["ÉCLAIR"]);
    assert_eq!(names("zzz").await, Vec::<String>::new());
    let too_long = app
        .get(
            &format!("/api/v1/tenants/{tid}/projects?q={}", "x".repeat(201)),
            Some(access(&owner)),
        )
        .await;
    problem(too_long, 422, "validation_failed").await;
    let unknown = app
        .get(
            &format!("/api/v1/tenants/{tid}/projects?sort=name"),
            Some(access(&owner)),
        )
        .await;
    problem(unknown, 422, "validation_failed").await;
}
