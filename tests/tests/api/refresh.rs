//! POST /auth/refresh: rotation, the grace window, reuse detection, concurrency.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{
    action_names, spawn_app, spawn_app_with, JsonExt, Request, RequestHelper, TestApp, User, PASSWORD,
};
use serde_json::{json, Value};

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

#[actix_web::test]
async fn concurrent_writers_queue_in_the_process_instead_of_failing_on_the_database_lock() {
    // SQLite: with a busy timeout of zero, two connections writing at once would make one of them
    // fail at once with "database is locked" (a 503). The server serialises its own writers, so none
    // does. (PostgreSQL runs the same requests in parallel.)
    let app = spawn_app_with(|vars| {
        vars.insert("SQLITE_BUSY_TIMEOUT_MS".into(), "0".into());
        vars.insert("DB_POOL_SIZE".into(), "8".into());
        // Room in the hashing queue for every sign-up and login of a round: a 503 here is the database.
        vars.insert("HASH_CONCURRENCY".into(), "8".into());
    })
    .await;
    let mut sessions = Vec::new();
    for i in 0..8 {
        sessions.push(app.signup(&format!("writer{i}@example.com")).await);
    }
    for round in 0..5 {
        let bodies: Vec<Value> = sessions
            .iter()
            .map(|s| json!({"refresh_token": portcullis_tests::refresh(s)}))
            .collect();
        let refreshes = bodies.iter().map(|body| app.post_json(REFRESH, body, None));
        let new_users: Vec<Value> = (0..8)
            .map(|i| {
                json!({"email": format!("new{round}-{i}@example.com"), "password": portcullis_tests::PASSWORD})
            })
            .collect();
        let sign_ups = new_users
            .iter()
            .map(|body| app.post_json("/api/v1/auth/signup", body, None));
        let logins =
            (0..8).map(|i| app.login_owned(format!("writer{i}@example.com"), portcullis_tests::PASSWORD));
        let (refreshed, signed_up, logged_in) =
            futures_util::join!(join_all(refreshes), join_all(sign_ups), join_all(logins));
        let mut next = Vec::new();
        for response in refreshed {
            assert_eq!(response.status(), 200, "refresh in round {round}");
            next.push(response.json::<Value>().await.unwrap());
        }
        sessions = next;
        for response in signed_up {
            assert_eq!(response.status(), 201, "sign-up in round {round}");
        }
        for response in logged_in {
            assert_eq!(response.status(), 200, "login in round {round}");
        }
    }
}
