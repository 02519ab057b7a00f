//! POST /auth/refresh: rotation, the grace window, reuse detection, concurrency.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{access, problem, refresh, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};

const REFRESH: &str = "/api/v1/auth/refresh";

async fn refresh_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(REFRESH, &json!({"refresh_token": token}), None)
        .await
}

#[actix_web::test]
async fn a_refresh_rotates_the_token_and_keeps_the_session() {
    let app = spawn_app().await;
    let first = app.signup("rot@example.com").await;
    let response = refresh_with(&app, refresh(&first)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(refresh(&second), refresh(&first));
    assert_eq!(second["session_id"], first["session_id"]);
    assert_eq!(second["user"]["id"], first["user"]["id"]);
    assert_eq!(app.get("/api/v1/me", Some(access(&second))).await.status(), 200);
    // The successor rotates in turn.
    let third: Value = refresh_with(&app, refresh(&second)).await.json().await.unwrap();
    assert_ne!(refresh(&third), refresh(&second));
}

#[actix_web::test]
async fn a_retry_inside_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let first = app.signup("grace@example.com").await;
    let a: Value = refresh_with(&app, refresh(&first)).await.json().await.unwrap();
    let b: Value = refresh_with(&app, refresh(&first)).await.json().await.unwrap();
    assert_eq!(refresh(&a), refresh(&b));
    assert_eq!(app.get("/api/v1/me", Some(access(&b))).await.status(), 200);
}

#[actix_web::test]
async fn reuse_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app_with(|vars| {
        vars.insert("REFRESH_REUSE_GRACE_SECS".into(), "0".into());
    })
    .await;
    let first = app.signup("reuse@example.com").await;
    let second: Value = refresh_with(&app, refresh(&first)).await.json().await.unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;

    problem(
        refresh_with(&app, refresh(&first)).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    problem(
        refresh_with(&app, refresh(&second)).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    let refused = app.get("/api/v1/me", Some(access(&second))).await;
    assert_eq!(refused.status(), 401, "the session's access tokens stop working");

    let other = app
        .login("reuse@example.com", portcullis_tests::PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let events: Value = app
        .get("/api/v1/me/security-events", Some(access(&other)))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"refresh.reused"), "{actions:?}");
}

#[actix_web::test]
async fn twenty_concurrent_refreshes_share_one_successor() {
    let app = spawn_app().await;
    let first = app.signup("burst@example.com").await;
    let attempts = (0..20).map(|_| refresh_with(&app, refresh(&first)));
    let mut successors = HashSet::new();
    for response in join_all(attempts).await {
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            successors.insert(refresh(&body).to_owned());
        } else {
            // A request that lost every race may be refused, never given a different token.
            assert_eq!(response.status(), 401);
        }
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    let successor = successors.into_iter().next().unwrap();
    let next = refresh_with(&app, &successor).await;
    assert_eq!(next.status(), 200, "the one successor is live");
}

#[actix_web::test]
async fn a_guessed_token_is_refused_without_harming_the_session() {
    let app = spawn_app().await;
    let tokens = app.signup("guess@example.com").await;
    let real = refresh(&tokens).to_owned();
    let mut chars: Vec<char> = real.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    for guess in [altered.as_str(), "", "x", &"A".repeat(43)] {
        let response = refresh_with(&app, guess).await;
        assert_eq!(response.status(), 401, "{guess}");
    }
    assert_eq!(
        refresh_with(&app, &real).await.status(),
        200,
        "the real session still works"
    );
}
