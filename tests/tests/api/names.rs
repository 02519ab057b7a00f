//! Names and descriptions follow one rule: not blank (`blank`), not too long (`too_long`), no control
//! or invisible characters (`invalid_characters`), and a refused request changes nothing.

use portcullis_tests::{access, count_rows, spawn_app, TestApp, PASSWORD};
use serde_json::{json, Value};

use portcullis_tests::problem;

/// A bell, and a terminal escape that would turn a log viewer's text red.
const CONTROL: [&str; 2] = ["Build \u{7}", "\u{1b}[31mred"];

fn field_codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A 422 whose only field error is `field` with `code`.
async fn refused(response: reqwest::Response, field: &str, code: &str) {
    let body = problem(response, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&body),
        vec![(field.to_owned(), code.to_owned())],
        "{body}"
    );
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.request(reqwest::Method::PATCH, path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn owner_and_tenant(app: &TestApp) -> (Value, String) {
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "names").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner, tid)
}

#[actix_web::test]
async fn project_and_api_key_names_with_control_characters_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (owner, tid) = owner_and_tenant(&app).await;
    let token = access(&owner);
    let projects = format!("/api/v1/tenants/{tid}/projects");
    let keys = format!("/api/v1/tenants/{tid}/api-keys");
    let in_tenant = format!("tenant_id = '{tid}'");
    let audited = count_rows(&app, "audit_events", &in_tenant);
    for name in CONTROL {
        let project = app
            .post_json(&projects, &json!({"name": name}), Some(token))
            .await;
        refused(project, "name", "invalid_characters").await;
        let key = app
            .post_json(
                &keys,
                &json!({"name": name, "scopes": ["projects:read"]}),
                Some(token),
            )
            .await;
        refused(key, "name", "invalid_characters").await;
    }
    assert_eq!(count_rows(&app, "projects", &in_tenant), 0, "no project was made");
    assert_eq!(count_rows(&app, "api_keys", &in_tenant), 0, "no key was made");
    assert_eq!(
        count_rows(&app, "audit_events", &in_tenant),
        audited,
        "nothing was audited"
    );

    // An existing project keeps its name, description and version.
    let created = app
        .post_json(&projects, &json!({"name": "Apollo"}), Some(token))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let path = format!("{projects}/{}", created["id"].as_str().unwrap());
    for name in CONTROL {
        refused(
            patch(&app, token, &path, json!({"name": name})).await,
            "name",
            "invalid_characters",
        )
        .await;
        refused(
            patch(&app, token, &path, json!({"description": name})).await,
            "description",
            "invalid_characters",
        )
        .await;
    }
    assert_eq!(
        count_rows(&app, "audit_events", &in_tenant),
        audited + 1,
        "only the creation was audited"
    );
    let unchanged: Value = app.get(&path, Some(token)).await.json().await.unwrap();
    assert_eq!(
        (
            &unchanged["name"],
            &unchanged["description"],
            &unchanged["version"]
        ),
        (&json!("Apollo"), &Value::Null, &json!(1))
    );
}

#[actix_web::test]
async fn names_in_any_script_with_joiners_and_descriptions_over_several_lines_are_accepted() {
    let app = spawn_app().await;
    let (owner, tid) = owner_and_tenant(&app).await;
    let token = access(&owner);
    let projects = format!("/api/v1/tenants/{tid}/projects");
    for name in [
        "👩\u{200d}💻 Ops",
        "\u{2764}\u{fe0f} Fans",
        "Équipe 日本",
        "می\u{200c}خواهم",
    ] {
        let response = app
            .post_json(
                &projects,
                &json!({"name": name, "description": "line one\r\nline two\tend"}),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), 201, "{name:?}");
        let key = app
            .post_json(
                &format!("/api/v1/tenants/{tid}/api-keys"),
                &json!({"name": name, "scopes": ["projects:read"]}),
                Some(token),
            )
            .await;
        assert_eq!(key.status(), 201, "{name:?}");
    }
}

/// Every name and description field, with a value that breaks each part of the rule.
#[actix_web::test]
async fn every_name_field_answers_blank_too_long_and_invalid_characters_alike() {
    let app = spawn_app().await;
    let (owner, tid) = owner_and_tenant(&app).await;
    let token = access(&owner);
    let projects = format!("/api/v1/tenants/{tid}/projects");
    let project: Value = app
        .post_json(&projects, &json!({"name": "Apollo"}), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let project = format!("{projects}/{}", project["id"].as_str().unwrap());
    app.create_role(token, &tid, "auditor", &["audit:read"]).await;
    let tenant = format!("/api/v1/tenants/{tid}");
    let roles = format!("{tenant}/roles");
    let auditor = format!("{roles}/auditor");
    let keys = format!("{tenant}/api-keys");
    let invisible = "zero\u{200b}width";

    // (method, path, body with the value at `field`, field, its maximum length, a name?)
    let fields: Vec<(reqwest::Method, &str, Value, &str, usize, bool)> = vec![
        (
            reqwest::Method::PATCH,
            "/api/v1/me",
            json!({}),
            "display_name",
            100,
            true,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/tenants",
            json!({"slug": "fresh"}),
            "name",
            100,
            true,
        ),
        (reqwest::Method::PATCH, &tenant, json!({}), "name", 100, true),
        (reqwest::Method::POST, &projects, json!({}), "name", 200, true),
        (reqwest::Method::PATCH, &project, json!({}), "name", 200, true),
        (
            reqwest::Method::PATCH,
            &project,
            json!({}),
            "description",
            2000,
            false,
        ),
        (
            reqwest::Method::POST,
            &roles,
            json!({"name": "reader", "scopes": ["projects:read"]}),
            "description",
            500,
            false,
        ),
        (
            reqwest::Method::PATCH,
            &auditor,
            json!({}),
            "description",
            500,
            false,
        ),
        (
            reqwest::Method::POST,
            &keys,
            json!({"scopes": ["projects:read"]}),
            "name",
            100,
            true,
        ),
    ];
    for (method, path, body, field, max, is_name) in fields {
        let mut cases = vec![
            (CONTROL[0].to_owned(), "invalid_characters"),
            (CONTROL[1].to_owned(), "invalid_characters"),
            (invisible.to_owned(), "invalid_characters"),
            ("é".repeat(max + 1), "too_long"),
        ];
        if is_name {
            cases.push(("  \u{a0} ".to_owned(), "blank"));
            cases.push(("two\nlines".to_owned(), "invalid_characters"));
        }
        for (value, code) in cases {
            let mut body = body.clone();
            body[field] = json!(value);
            let response = app
                .request(method.clone(), path, Some(token))
                .json(&body)
                .send()
                .await
                .unwrap();
            let answer = problem(response, 422, "validation_failed").await;
            assert_eq!(
                field_codes(&answer),
                vec![(field.to_owned(), code.to_owned())],
                "{method} {path} {field} = {value:?}: {answer}"
            );
        }
    }
    // The sign-up form's display name too.
    let signup = app
        .post_json(
            "/api/v1/auth/signup",
            &json!({"email": "new@example.com", "password": PASSWORD, "display_name": CONTROL[1]}),
            None,
        )
        .await;
    refused(signup, "display_name", "invalid_characters").await;
}
