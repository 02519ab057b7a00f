//! Logout, the session list, and revocation taking effect on the next request.

use portcullis_tests::{access, refresh, spawn_app, PASSWORD};
use serde_json::{json, Value};

#[actix_web::test]
async fn logout_stops_the_access_and_refresh_tokens_at_once() {
    let app = spawn_app().await;
    let tokens = app.signup("bye@example.com").await;
    assert_eq!(app.get("/api/v1/me", Some(access(&tokens))).await.status(), 200);
    let response = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(access(&tokens)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let after = app.get("/api/v1/me", Some(access(&tokens))).await;
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let refreshed = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh(&tokens)}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 401);
}

#[actix_web::test]
async fn sessions_are_listed_and_revoked_individually() {
    let app = spawn_app().await;
    let phone = app.signup("multi@example.com").await;
    let laptop: Value = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("User-Agent", "laptop-browser/1.0")
        .json(&json!({"email": "multi@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Value = app
        .get("/api/v1/auth/sessions", Some(access(&laptop)))
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop["session_id"]);
    assert_eq!(current[0]["user_agent"], "laptop-browser/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(current[0][field].is_string(), "{field}");
    }

    let phone_session = phone["session_id"].as_str().unwrap();
    let path = format!("/api/v1/auth/sessions/{phone_session}");
    let revoked = app
        .request(reqwest::Method::DELETE, &path, Some(access(&laptop)))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.get("/api/v1/me", Some(access(&phone))).await.status(), 401);
    assert_eq!(app.get("/api/v1/me", Some(access(&laptop))).await.status(), 200);
    let again = app
        .request(reqwest::Method::DELETE, &path, Some(access(&laptop)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[actix_web::test]
async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let alice = app.signup("alice@example.com").await;
    let mallory = app.signup("mallory@example.com").await;
    let path = format!("/api/v1/auth/sessions/{}", alice["session_id"].as_str().unwrap());
    let response = app
        .request(reqwest::Method::DELETE, &path, Some(access(&mallory)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(
        app.get("/api/v1/me", Some(access(&alice))).await.status(),
        200,
        "untouched"
    );
    let unknown = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/auth/sessions/not-a-session",
            Some(access(&mallory)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[actix_web::test]
async fn requests_without_a_valid_token_are_401() {
    let app = spawn_app().await;
    let missing = app.get("/api/v1/me", None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    for header in ["Bearer garbage", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c"] {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
}
