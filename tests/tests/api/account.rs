//! /me, /auth/password and /me/security-events.

use portcullis_db::{sessions::Session, users, DatabaseUrl, PoolOptions};
use portcullis_tests::{spawn_app, JsonExt, Request, RequestHelper, TestApp, PASSWORD};
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a brand new passphrase for testing";

fn change_password(who: &impl RequestHelper, current: &str, new: &str) -> Request {
    who.post(
        "/api/v1/auth/password",
        &json!({"current_password": current, "new_password": new}),
    )
}

#[actix_web::test]
async fn changing_the_password_revokes_every_other_session() {
    let app = spawn_app().await;
    let first = app.user("pw@example.com").await;
    let second = app.login_as("pw@example.com", PASSWORD).await;
    change_password(&second, PASSWORD, NEW_PASSWORD).await.expect(204);
    let revoked = first.get("/api/v1/me").await;
    assert_eq!(revoked.status(), 401, "other session revoked: {revoked}");
    let kept = second.get("/api/v1/me").await;
    assert_eq!(kept.status(), 200, "this session stays: {kept}");
    assert_eq!(app.sign_in("pw@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in("pw@example.com", NEW_PASSWORD).await.status(), 200);
    let events = second.get("/api/v1/me/security-events").await.expect(200);
    assert_eq!(events["items"][0]["action"], "login.succeeded");
    assert!(events.items().iter().any(|e| e["action"] == "password.changed"));
}

#[actix_web::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = spawn_app().await;
    let user = app.user("careful@example.com").await;
    change_password(&user, "not my password", NEW_PASSWORD)
        .await
        .expect_problem(401, "invalid_credentials");
    let weak = change_password(&user, PASSWORD, "password")
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(weak["errors"][0]["field"], "new_password");
    user.post(
        "/api/v1/auth/password",
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "user_id": "x"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(app.sign_in("careful@example.com", PASSWORD).await.status(), 200);
}

#[actix_web::test]
async fn the_current_password_is_checked_before_the_new_one_is_judged() {
    let app = spawn_app().await;
    let user = app.user("ordered@example.com").await;
    // A guesser with a stolen access token learns nothing about the policy and costs no strength
    // estimate: a wrong current password is refused first, and the attempt is counted.
    let expensive = "4@8(3ei!1|0$5+7%2".repeat(7);
    for new in ["password", expensive.as_str()] {
        change_password(&user, "not my password", new)
            .await
            .expect_problem(401, "invalid_credentials");
    }
    // The failures count towards the account's back-off like failed sign-ins.
    for _ in 0..3 {
        change_password(&user, "still not it", NEW_PASSWORD).await;
    }
    change_password(&user, PASSWORD, NEW_PASSWORD)
        .await
        .expect_problem(429, "login_throttled");
}

/// A user without a password (as GitHub sign-in creates them), with a session and a hand-minted token.
fn github_only_user(app: &TestApp, email: &str) -> String {
    let url = DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn = portcullis_db::connect(&url, &PoolOptions::default()).expect("test database");
    let now = portcullis_db::now();
    let user_id = uuid::Uuid::now_v7().to_string();
    users::insert(
        &mut conn,
        &users::NewUser {
            id: &user_id,
            email,
            email_normalized: email,
            display_name: None,
            password_hash: None,
            created_at: now,
            updated_at: now,
            email_verified: true,
        },
    )
    .expect("insert the user");
    let session_id = uuid::Uuid::now_v7().to_string();
    portcullis_db::sessions::insert(
        &mut conn,
        &Session {
            id: session_id.clone(),
            user_id: user_id.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now + chrono::Duration::days(1),
            absolute_expires_at: now + chrono::Duration::days(1),
            revoked_at: None,
            user_agent: None,
            ip: None,
            amr: "github".into(),
        },
    )
    .expect("insert the session");
    app.auth
        .keys()
        .issue_access(
            &user_id,
            &session_id,
            &["github".to_owned()],
            chrono::Utc::now().timestamp(),
            600,
        )
        .expect("mint an access token")
}

#[actix_web::test]
async fn accounts_without_a_password_cannot_change_one_and_delete_without_a_body() {
    let app = spawn_app().await;
    let token = github_only_user(&app, "octo@example.com");
    let octo = app.bearer(&token);
    octo.get("/api/v1/me").await.expect(200);
    change_password(&octo, "anything", NEW_PASSWORD)
        .await
        .expect_problem(409, "no_password");
    assert_eq!(
        app.sign_in("octo@example.com", "").await.status(),
        401,
        "no password sign-in"
    );
    octo.delete("/api/v1/me").await.expect(204);
    let after = octo.get("/api/v1/me").await;
    assert_eq!(
        after.status(),
        401,
        "the token of a deleted user is refused: {after}"
    );
}

#[actix_web::test]
async fn the_profile_can_be_read_and_renamed() {
    let app = spawn_app().await;
    let user = app.user("name@example.com").await;
    let renamed = user
        .patch("/api/v1/me", &json!({"display_name": "  Nam  "}))
        .await
        .expect(200);
    assert_eq!(renamed["display_name"], "Nam");
    assert_eq!(renamed["email"], "name@example.com");
    for refused in [
        json!({"display_name": "x".repeat(101)}),
        json!({"display_name": "   "}),
        json!({"email": "other@example.com"}),
        json!({}),
    ] {
        user.patch("/api/v1/me", &refused)
            .await
            .expect_problem(422, "validation_failed");
    }
    let me = user.get("/api/v1/me").await.expect(200);
    assert_eq!(me["display_name"], "Nam", "refused patches changed nothing");
    let cleared = user
        .patch("/api/v1/me", &json!({"display_name": null}))
        .await
        .expect(200);
    assert_eq!(cleared["display_name"], Value::Null);
}

#[actix_web::test]
async fn deleting_the_account_needs_the_password_and_removes_everything() {
    let app = spawn_app().await;
    let user = app.user("gone@example.com").await;
    user.delete("/api/v1/me")
        .await
        .expect_problem(401, "invalid_credentials");
    user.delete("/api/v1/me")
        .json(&json!({"password": "wrong password"}))
        .await
        .expect_problem(401, "invalid_credentials");
    let still = user.get("/api/v1/me").await;
    assert_eq!(still.status(), 200, "still there: {still}");
    user.delete("/api/v1/me")
        .json(&json!({"password": PASSWORD}))
        .await
        .expect(204);
    user.get("/api/v1/me").await.expect(401);
    assert_eq!(app.sign_in("gone@example.com", PASSWORD).await.status(), 401);
    app.anonymous()
        .post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh()}))
        .await
        .expect(401);
    app.user("gone@example.com").await;
}

#[actix_web::test]
async fn security_events_are_paged_newest_first() {
    let app = spawn_app().await;
    let user = app.user("pages@example.com").await;
    for _ in 0..3 {
        app.sign_in("pages@example.com", "wrong password!!").await;
    }
    app.sign_in("pages@example.com", PASSWORD).await;
    let first = user.get("/api/v1/me/security-events?limit=2").await.expect(200);
    assert_eq!(first.items().len(), 2);
    assert_eq!(first["items"][0]["action"], "login.succeeded");
    assert_eq!(first["items"][1]["action"], "login.failed");
    for field in ["id", "ip", "user_agent", "created_at"] {
        assert!(first["items"][0].get(field).is_some(), "{field}");
    }
    let cursor = first.str_at("next_cursor");
    let second = user
        .get(&format!("/api/v1/me/security-events?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(second.items().len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(second["items"][0]["id"], first["items"][1]["id"]);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=not-a-cursor",
        "cursor=%27%20OR%201%3D1",
    ] {
        user.get(&format!("/api/v1/me/security-events?{bad}"))
            .await
            .expect_problem(422, "validation_failed");
    }
    let other = app.user("other@example.com").await;
    let theirs = other.get("/api/v1/me/security-events").await.expect(200);
    assert_eq!(theirs["items"], json!([]), "only the user's own events");
}
