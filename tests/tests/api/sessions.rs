//! Logout, the session list, and revocation taking effect on the next request.

use portcullis_tests::{spawn_app, JsonExt, RequestHelper, User, PASSWORD};
use serde_json::{json, Value};

#[actix_web::test]
async fn logout_stops_the_access_and_refresh_tokens_at_once() {
    let app = spawn_app().await;
    let user = app.user("bye@example.com").await;
    user.get("/api/v1/me").await.expect(200);
    user.post("/api/v1/auth/logout", None).await.expect(204);
    let after = user.get("/api/v1/me").await;
    assert_eq!(after.status(), 401, "{after}");
    assert_eq!(
        after.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    app.anonymous()
        .post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh()}))
        .await
        .expect(401);
}

#[actix_web::test]
async fn sessions_are_listed_and_revoked_individually() {
    let app = spawn_app().await;
    let phone = app.user("multi@example.com").await;
    let laptop = app
        .anonymous()
        .post(
            "/api/v1/auth/login",
            &json!({"email": "multi@example.com", "password": PASSWORD}),
        )
        .header("User-Agent", "laptop-browser/1.0")
        .await
        .expect(200);
    let laptop = User::from_tokens(&app, laptop);
    let list = laptop.get("/api/v1/auth/sessions").await.expect(200);
    let items = list.items();
    assert_eq!(items.len(), 2);
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop.session_id());
    assert_eq!(current[0]["user_agent"], "laptop-browser/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(current[0][field].is_string(), "{field}");
    }

    let path = format!("/api/v1/auth/sessions/{}", phone.session_id());
    laptop.delete(&path).await.expect(204);
    phone.get("/api/v1/me").await.expect(401);
    laptop.get("/api/v1/me").await.expect(200);
    laptop.delete(&path).await.expect(404);
}

#[actix_web::test]
async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mallory = app.user("mallory@example.com").await;
    let path = format!("/api/v1/auth/sessions/{}", alice.session_id());
    mallory.delete(&path).await.expect_problem(404, "not_found");
    let untouched = alice.get("/api/v1/me").await;
    assert_eq!(untouched.status(), 200, "untouched: {untouched}");
    mallory
        .delete("/api/v1/auth/sessions/not-a-session")
        .await
        .expect(404);
}

#[actix_web::test]
async fn requests_without_a_valid_token_are_401() {
    let app = spawn_app().await;
    let missing = app.anonymous().get("/api/v1/me").await;
    assert_eq!(missing.status(), 401, "{missing}");
    assert_eq!(missing.header("www-authenticate"), "Bearer");
    for header in ["Bearer garbage", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c"] {
        let response = app
            .anonymous()
            .get("/api/v1/me")
            .header("Authorization", header)
            .await;
        assert_eq!(response.status(), 401, "{header}: {response}");
        assert_eq!(response.header("content-type"), "application/problem+json");
    }
}

#[actix_web::test]
async fn a_revoked_session_is_401_on_tenant_routes_too_and_a_live_non_member_404() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("acme").await;
    let member = owner.new_member(&tenant, "member@example.com", &["viewer"]).await;
    member.get(&tenant.path("")).await.expect(200);
    member.post("/api/v1/auth/logout", None).await.expect(204);
    // The session check and the standing are one statement: a dead session must still read as 401,
    // never as "not a member".
    let after = member.get(&tenant.path("")).await;
    assert_eq!(after.status(), 401, "{after}");
    assert_eq!(
        after.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    member
        .get("/api/v1/tenants/not-a-uuid")
        .await
        .expect_problem(401, "invalid_token");
    let stranger = app.user("stranger@example.com").await;
    stranger
        .get(&tenant.path(""))
        .await
        .expect_problem(404, "not_found");
    // A member's session revoked by another of their sessions: the same.
    let again = app.login_as("member@example.com", PASSWORD).await;
    let other = app.login_as("member@example.com", PASSWORD).await;
    other
        .delete(&format!("/api/v1/auth/sessions/{}", again.session_id()))
        .await
        .expect(204);
    again.get(&tenant.path("/projects")).await.expect(401);
    other.get(&tenant.path("/projects")).await.expect(200);
}
