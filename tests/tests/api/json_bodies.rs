//! A JSON body names each key once. With a repeated key, the parsers disagree on which value counts
//! (serde keeps the last, others the first, a WAF in front may check either), so Portcullis refuses
//! the body with 422 `validation_failed` naming the key, on every route, and changes nothing.

use portcullis_tests::{access, problem, spawn_app, TestApp, PASSWORD};
use serde_json::Value;

async fn send_raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    raw: &str,
    token: Option<&str>,
) -> reqwest::Response {
    app.request(method, path, token)
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .unwrap()
}

/// Asserts a 422 whose only field error is `duplicate_key` on `field`.
async fn refused(response: reqwest::Response, field: &str) {
    let body = problem(response, 422, "validation_failed").await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["field"], field, "{body}");
    assert_eq!(errors[0]["code"], "duplicate_key", "{body}");
}

#[actix_web::test]
async fn a_repeated_key_is_refused_on_every_route_and_changes_nothing() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;

    // Sign-up: neither address gets an account.
    let signup = "/api/v1/auth/signup";
    let twice =
        format!(r#"{{"email":"first@example.com","password":"{PASSWORD}","email":"second@example.com"}}"#);
    refused(send_raw(&app, post.clone(), signup, &twice, None).await, "email").await;
    // The same key spelled with an escape is the same key.
    let escaped = format!(
        r#"{{"email":"first@example.com","password":"{PASSWORD}","em\u0061il":"second@example.com"}}"#
    );
    refused(
        send_raw(&app, post.clone(), signup, &escaped, None).await,
        "email",
    )
    .await;
    // A body that is not JSON at all is still a 400, whatever else is wrong with it.
    problem(
        send_raw(
            &app,
            post.clone(),
            signup,
            r#"{"email":"a@example.com","email":"b@example.com""#,
            None,
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_eq!(app.login("first@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("second@example.com", PASSWORD).await.status(), 401);
    let owner = app.signup("first@example.com").await;
    let token = access(&owner);

    // Tenant creation: no tenant.
    let tenants = "/api/v1/tenants";
    let twice = r#"{"name":"Dup","slug":"dup-one","slug":"dup-two"}"#;
    refused(
        send_raw(&app, post.clone(), tenants, twice, Some(token)).await,
        "slug",
    )
    .await;
    let listed: Value = app.get(tenants, Some(token)).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let tid = app.create_tenant(token, "dup-one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Project update: the project keeps its name and version.
    let project: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/projects"),
            &serde_json::json!({"name": "Apollo"}),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/tenants/{tid}/projects/{}",
        project["id"].as_str().unwrap()
    );
    let twice = r#"{"name":"Gemini","description":"x","name":"Mercury"}"#;
    refused(
        send_raw(&app, reqwest::Method::PATCH, &path, twice, Some(token)).await,
        "name",
    )
    .await;
    let unchanged: Value = app.get(&path, Some(token)).await.json().await.unwrap();
    assert_eq!(unchanged["name"], "Apollo");
    assert_eq!(unchanged["version"], 1);

    // A body that may be left out (DELETE /me) is held to the same rule: the account stays.
    let twice = format!(r#"{{"password":"{PASSWORD}","password":"{PASSWORD}"}}"#);
    refused(
        send_raw(&app, reqwest::Method::DELETE, "/api/v1/me", &twice, Some(token)).await,
        "password",
    )
    .await;
    assert_eq!(app.get("/api/v1/me", Some(token)).await.status(), 200);
}
