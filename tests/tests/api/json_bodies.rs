//! A JSON body names each key once. With a repeated key, the parsers disagree on which value counts
//! (serde keeps the last, others the first, a WAF in front may check either), so Portcullis refuses
//! the body with 422 `validation_failed` naming the key, on every route, and changes nothing.

use portcullis_tests::{spawn_app, JsonExt, Request, RequestHelper, Response, PASSWORD};
use reqwest::Method;
use serde_json::json;

/// `raw` sent byte for byte as a JSON body.
fn send_raw(who: &impl RequestHelper, method: Method, path: &str, raw: &str) -> Request {
    who.request(method, path)
        .header("content-type", "application/json")
        .body(raw)
}

/// Asserts a 422 whose only field error is `duplicate_key` on `field`.
#[track_caller]
fn refused(response: &Response, field: &str) {
    let body = response.expect_problem(422, "validation_failed");
    let errors = body.array_at("errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["field"], field, "{body}");
    assert_eq!(errors[0]["code"], "duplicate_key", "{body}");
}

#[actix_web::test]
async fn a_repeated_key_is_refused_on_every_route_and_changes_nothing() {
    let app = spawn_app().await;
    let guest = app.anonymous();

    // Sign-up: neither address gets an account.
    let signup = "/api/v1/auth/signup";
    let twice =
        format!(r#"{{"email":"first@example.com","password":"{PASSWORD}","email":"second@example.com"}}"#);
    refused(&send_raw(&guest, Method::POST, signup, &twice).await, "email");
    // The same key spelled with an escape is the same key.
    let escaped = format!(
        r#"{{"email":"first@example.com","password":"{PASSWORD}","em\u0061il":"second@example.com"}}"#
    );
    refused(&send_raw(&guest, Method::POST, signup, &escaped).await, "email");
    // A body that is not JSON at all is still a 400, whatever else is wrong with it.
    send_raw(
        &guest,
        Method::POST,
        signup,
        r#"{"email":"a@example.com","email":"b@example.com""#,
    )
    .await
    .expect_problem(400, "malformed_json");
    assert_eq!(app.sign_in("first@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in("second@example.com", PASSWORD).await.status(), 401);
    let owner = app.user("first@example.com").await;

    // Tenant creation: no tenant.
    let tenants = "/api/v1/tenants";
    let twice = r#"{"name":"Dup","slug":"dup-one","slug":"dup-two"}"#;
    refused(&send_raw(&owner, Method::POST, tenants, twice).await, "slug");
    let listed = owner.get(tenants).await.expect(200);
    assert_eq!(listed.items().len(), 0);
    let tenant = owner.create_tenant("dup-one").await;

    // Project update: the project keeps its name and version.
    let project = owner
        .post(&tenant.path("/projects"), &json!({"name": "Apollo"}))
        .await
        .expect(201);
    let path = tenant.path(&format!("/projects/{}", project.str_at("id")));
    let twice = r#"{"name":"Gemini","description":"x","name":"Mercury"}"#;
    refused(&send_raw(&owner, Method::PATCH, &path, twice).await, "name");
    let unchanged = owner.get(&path).await.expect(200);
    assert_eq!(unchanged["name"], "Apollo");
    assert_eq!(unchanged["version"], 1);

    // A body that may be left out (DELETE /me) is held to the same rule: the account stays.
    let twice = format!(r#"{{"password":"{PASSWORD}","password":"{PASSWORD}"}}"#);
    refused(
        &send_raw(&owner, Method::DELETE, "/api/v1/me", &twice).await,
        "password",
    );
    owner.get("/api/v1/me").await.expect(200);
}
