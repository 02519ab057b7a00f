//! POST /auth/login: credentials, throttling, security events.

use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{access, problem, spawn_app, RequestHelper, PASSWORD};
use serde_json::{json, Value};

#[actix_web::test]
async fn a_correct_password_opens_a_new_session() {
    let app = spawn_app().await;
    let first = app.signup("lin@example.com").await;
    let response = app.login("LIN@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_ne!(tokens["session_id"], first["session_id"]);
    assert_eq!(tokens["user"]["id"], first["user"]["id"]);
    let sessions: Value = app
        .get("/api/v1/auth/sessions", Some(access(&tokens)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.bearer(access(&tokens)).security_events().await,
        ["login.succeeded"]
    );
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    app.signup("known@example.com").await;
    let mut bodies = Vec::new();
    for (email, password) in [
        ("known@example.com", "not the password at all"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Request-Id", "same-request-id")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        bodies.push(response.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1], "byte-identical bodies");
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(body["code"], "invalid_credentials");
}

#[actix_web::test]
async fn five_failures_start_a_doubling_back_off_that_a_success_resets() {
    let app = spawn_app().await;
    let tokens = app.signup("throttle@example.com").await;
    for _ in 0..5 {
        problem(
            app.login("throttle@example.com", "wrong password here").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Refused without checking the password, even the right one.
    let throttled = app.login("throttle@example.com", PASSWORD).await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    problem(throttled, 429, "login_throttled").await;

    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    problem(
        app.login("throttle@example.com", "wrong again").await,
        401,
        "invalid_credentials",
    )
    .await;
    let doubled = app.login("throttle@example.com", PASSWORD).await;
    assert_eq!(doubled.status(), 429);
    let retry_after: u64 = doubled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 2, "the window doubled");

    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.login("throttle@example.com", PASSWORD).await.status(), 200);
    // The success reset the count: four more failures do not throttle.
    for _ in 0..4 {
        assert_eq!(
            app.login("throttle@example.com", "wrong password here")
                .await
                .status(),
            401
        );
    }
    assert_eq!(app.login("throttle@example.com", PASSWORD).await.status(), 200);

    let seen = app.bearer(access(&tokens)).security_events().await;
    for action in ["login.failed", "login.throttled", "login.succeeded"] {
        assert!(seen.contains(&action.to_string()), "{action} in {seen:?}");
    }
}

#[actix_web::test]
async fn parallel_wrong_passwords_cannot_exceed_the_limit() {
    let app = spawn_app().await;
    app.signup("parallel@example.com").await;
    let attempts =
        (0..12).map(|i| app.login("parallel@example.com", if i == 0 { "wrong 0" } else { "wrong n" }));
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "at most five passwords checked: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

#[actix_web::test]
async fn every_password_check_runs_argon2_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    app.signup("known@example.com").await;
    app.signup("github-only@example.com").await;
    // An account that signs in only with GitHub has no password hash.
    portcullis_tests::execute_sql(
        &app,
        "UPDATE users SET password_hash = NULL WHERE email_normalized = 'github-only@example.com'",
    );
    for email in [
        "known@example.com",
        "nobody@example.com",
        "github-only@example.com",
    ] {
        let before = app.auth.hasher().runs();
        problem(
            app.login(email, "not the password at all").await,
            401,
            "invalid_credentials",
        )
        .await;
        assert_eq!(app.auth.hasher().runs() - before, 1, "one argon2 run for {email}");
    }
}
