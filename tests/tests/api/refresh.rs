//! POST /auth/refresh: rotation, the grace window, reuse detection, concurrency.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{
    action_names, spawn_app, spawn_app_with, JsonExt, Request, RequestHelper, TestApp, User, PASSWORD,
};
use serde_json::json;

const REFRESH: &str = "/api/v1/auth/refresh";

fn refresh_with(app: &TestApp, token: &str) -> Request {
    app.anonymous().post(REFRESH, &json!({ "refresh_token": token }))
}

#[actix_web::test]
async fn a_refresh_rotates_the_token_and_keeps_the_session() {
    let app = spawn_app().await;
    let first = app.user("rot@example.com").await;
    let response = refresh_with(&app, first.refresh()).await;
    let second = User::from_tokens(&app, response.expect(200));
    assert_eq!(response.header("cache-control"), "no-store");
    assert_ne!(second.refresh(), first.refresh());
    assert_eq!(second.session_id(), first.session_id());
    assert_eq!(second.id(), first.id());
    second.get("/api/v1/me").await.expect(200);
    // The successor rotates in turn.
    let third = refresh_with(&app, second.refresh()).await.expect(200);
    assert_ne!(third.str_at("refresh_token"), second.refresh());
}

#[actix_web::test]
async fn a_retry_inside_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let first = app.user("grace@example.com").await;
    let a = refresh_with(&app, first.refresh()).await.expect(200);
    let b = User::from_tokens(&app, refresh_with(&app, first.refresh()).await.expect(200));
    assert_eq!(a.str_at("refresh_token"), b.refresh());
    b.get("/api/v1/me").await.expect(200);
}

#[actix_web::test]
async fn reuse_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app_with(|vars| {
        vars.insert("REFRESH_REUSE_GRACE_SECS".into(), "0".into());
    })
    .await;
    let first = app.user("reuse@example.com").await;
    let second = User::from_tokens(&app, refresh_with(&app, first.refresh()).await.expect(200));
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;

    refresh_with(&app, first.refresh())
        .await
        .expect_problem(401, "invalid_refresh_token");
    refresh_with(&app, second.refresh())
        .await
        .expect_problem(401, "invalid_refresh_token");
    let refused = second.get("/api/v1/me").await;
    assert_eq!(
        refused.status(),
        401,
        "the session's access tokens stop working: {refused}"
    );

    let other = app.login_as("reuse@example.com", PASSWORD).await;
    let events = other.get("/api/v1/me/security-events").await.expect(200);
    let actions = action_names(&events);
    assert!(actions.iter().any(|a| a == "refresh.reused"), "{actions:?}");
}

#[actix_web::test]
async fn twenty_concurrent_refreshes_share_one_successor() {
    let app = spawn_app().await;
    let first = app.user("burst@example.com").await;
    let attempts = (0..20).map(|_| refresh_with(&app, first.refresh()).send());
    let mut successors = HashSet::new();
    for response in join_all(attempts).await {
        if response.status() == 200 {
            successors.insert(response.json().str_at("refresh_token").to_owned());
        } else {
            // A request that lost every race may be refused, never given a different token.
            assert_eq!(response.status(), 401, "{response}");
        }
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    let successor = successors.into_iter().next().expect("one successor");
    let next = refresh_with(&app, &successor).await;
    assert_eq!(next.status(), 200, "the one successor is live: {next}");
}

#[actix_web::test]
async fn a_guessed_token_is_refused_without_harming_the_session() {
    let app = spawn_app().await;
    let user = app.user("guess@example.com").await;
    let real = user.refresh();
    let mut chars: Vec<char> = real.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    for guess in [altered.as_str(), "", "x", &"A".repeat(43)] {
        let response = refresh_with(&app, guess).await;
        assert_eq!(response.status(), 401, "{guess}: {response}");
    }
    let still = refresh_with(&app, real).await;
    assert_eq!(still.status(), 200, "the real session still works: {still}");
}
