//! /me, /auth/password and /me/security-events.

use portcullis_auth::tokens::TokenKeys;
use portcullis_db::{sessions::Session, users, DatabaseUrl, PoolOptions};
use portcullis_tests::{access, problem, spawn_app, TestApp, JWT_SECRET, PASSWORD};
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a brand new passphrase for testing";

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password",
        &json!({"current_password": current, "new_password": new}),
        Some(token),
    )
    .await
}

#[actix_web::test]
async fn changing_the_password_revokes_every_other_session() {
    let app = spawn_app().await;
    let first = app.signup("pw@example.com").await;
    let second: Value = app.login("pw@example.com", PASSWORD).await.json().await.unwrap();
    let response = change_password(&app, access(&second), PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.get("/api/v1/me", Some(access(&first))).await.status(),
        401,
        "other session revoked"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(access(&second))).await.status(),
        200,
        "this session stays"
    );
    assert_eq!(app.login("pw@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("pw@example.com", NEW_PASSWORD).await.status(), 200);
    let events: Value = app
        .get("/api/v1/me/security-events", Some(access(&second)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["action"], "login.succeeded");
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "password.changed"));
}

#[actix_web::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = spawn_app().await;
    let tokens = app.signup("careful@example.com").await;
    problem(
        change_password(&app, access(&tokens), "not my password", NEW_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let weak = problem(
        change_password(&app, access(&tokens), PASSWORD, "password").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(weak["errors"][0]["field"], "new_password");
    let unknown = app
        .post_json(
            "/api/v1/auth/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "user_id": "x"}),
            Some(access(&tokens)),
        )
        .await;
    problem(unknown, 422, "validation_failed").await;
    assert_eq!(app.login("careful@example.com", PASSWORD).await.status(), 200);
}

#[actix_web::test]
async fn the_current_password_is_checked_before_the_new_one_is_judged() {
    let app = spawn_app().await;
    let tokens = app.signup("ordered@example.com").await;
    // A guesser with a stolen access token learns nothing about the policy and costs no strength
    // estimate: a wrong current password is refused first, and the attempt is counted.
    let expensive = "4@8(3ei!1|0$5+7%2".repeat(7);
    for new in ["password", expensive.as_str()] {
        problem(
            change_password(&app, access(&tokens), "not my password", new).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // The failures count towards the account's back-off like failed sign-ins.
    for _ in 0..3 {
        change_password(&app, access(&tokens), "still not it", NEW_PASSWORD).await;
    }
    problem(
        change_password(&app, access(&tokens), PASSWORD, NEW_PASSWORD).await,
        429,
        "login_throttled",
    )
    .await;
}

/// A user without a password (as GitHub sign-in creates them), with a session and a hand-minted token.
fn github_only_user(app: &TestApp, email: &str) -> String {
    let url = DatabaseUrl::parse(app.db.url()).unwrap();
    let mut conn = portcullis_db::connect(&url, &PoolOptions::default()).unwrap();
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
        },
    )
    .unwrap();
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
        },
    )
    .unwrap();
    let keys = TokenKeys::new(JWT_SECRET.as_bytes(), &app.address, portcullis_auth::AUDIENCE);
    keys.issue_access(&user_id, &session_id, chrono::Utc::now().timestamp(), 600)
        .unwrap()
}

#[actix_web::test]
async fn accounts_without_a_password_cannot_change_one_and_delete_without_a_body() {
    let app = spawn_app().await;
    let token = github_only_user(&app, "octo@example.com");
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status(), 200);
    problem(
        change_password(&app, &token, "anything", NEW_PASSWORD).await,
        409,
        "no_password",
    )
    .await;
    assert_eq!(
        app.login("octo@example.com", "").await.status(),
        401,
        "no password sign-in"
    );
    let deleted = app
        .request(reqwest::Method::DELETE, "/api/v1/me", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        401,
        "the token of a deleted user is refused"
    );
}

#[actix_web::test]
async fn the_profile_can_be_read_and_renamed() {
    let app = spawn_app().await;
    let tokens = app.signup("name@example.com").await;
    let token = access(&tokens);
    let patch = |body: Value| {
        app.request(reqwest::Method::PATCH, "/api/v1/me", Some(token))
            .json(&body)
            .send()
    };
    let renamed: Value = patch(json!({"display_name": "  Nam  "}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["display_name"], "Nam");
    assert_eq!(renamed["email"], "name@example.com");
    problem(
        patch(json!({"display_name": "x".repeat(101)})).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    problem(
        patch(json!({"display_name": "   "})).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    problem(
        patch(json!({"email": "other@example.com"})).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    problem(patch(json!({})).await.unwrap(), 422, "validation_failed").await;
    let me: Value = app.get("/api/v1/me", Some(token)).await.json().await.unwrap();
    assert_eq!(me["display_name"], "Nam", "refused patches changed nothing");
    let cleared: Value = patch(json!({"display_name": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["display_name"], Value::Null);
}

#[actix_web::test]
async fn deleting_the_account_needs_the_password_and_removes_everything() {
    let app = spawn_app().await;
    let tokens = app.signup("gone@example.com").await;
    let token = access(&tokens);
    let delete = |body: Option<Value>| {
        let request = app.request(reqwest::Method::DELETE, "/api/v1/me", Some(token));
        match body {
            Some(body) => request.json(&body).send(),
            None => request.send(),
        }
    };
    problem(delete(None).await.unwrap(), 401, "invalid_credentials").await;
    problem(
        delete(Some(json!({"password": "wrong password"}))).await.unwrap(),
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/me", Some(token)).await.status(),
        200,
        "still there"
    );
    assert_eq!(
        delete(Some(json!({"password": PASSWORD})))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/me", Some(token)).await.status(), 401);
    assert_eq!(app.login("gone@example.com", PASSWORD).await.status(), 401);
    let refreshed = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 401);
    app.signup("gone@example.com").await;
}

#[actix_web::test]
async fn security_events_are_paged_newest_first() {
    let app = spawn_app().await;
    let tokens = app.signup("pages@example.com").await;
    for _ in 0..3 {
        app.login("pages@example.com", "wrong password!!").await;
    }
    app.login("pages@example.com", PASSWORD).await;
    let token = access(&tokens);
    let first: Value = app
        .get("/api/v1/me/security-events?limit=2", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["action"], "login.succeeded");
    assert_eq!(first["items"][1]["action"], "login.failed");
    for field in ["id", "ip", "user_agent", "created_at"] {
        assert!(first["items"][0].get(field).is_some(), "{field}");
    }
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/me/security-events?limit=2&cursor={cursor}"),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(second["items"][0]["id"], first["items"][1]["id"]);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=not-a-cursor",
        "cursor=%27%20OR%201%3D1",
    ] {
        let response = app
            .get(&format!("/api/v1/me/security-events?{bad}"), Some(token))
            .await;
        problem(response, 422, "validation_failed").await;
    }
    let other = app.signup("other@example.com").await;
    let theirs: Value = app
        .get("/api/v1/me/security-events", Some(access(&other)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]), "only the user's own events");
}
