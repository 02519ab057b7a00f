//! POST /auth/login: credentials, throttling, security events.

use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{spawn_app, JsonExt, RequestHelper, Response, User, PASSWORD};
use serde_json::Value;

#[actix_web::test]
async fn a_correct_password_opens_a_new_session() {
    let app = spawn_app().await;
    let first = app.user("lin@example.com").await;
    let response = app.sign_in("LIN@example.com", PASSWORD).await;
    let second = User::from_tokens(&app, response.expect(200));
    assert_eq!(response.header("cache-control"), "no-store");
    assert_ne!(second.session_id(), first.session_id());
    assert_eq!(second.id(), first.id());
    let sessions = second.get("/api/v1/auth/sessions").await.expect(200);
    assert_eq!(sessions.items().len(), 2);
    assert_eq!(second.security_events().await, ["login.succeeded"]);
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    app.user("known@example.com").await;
    let mut bodies = Vec::new();
    for (email, password) in [
        ("known@example.com", "not the password at all"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app
            .sign_in(email, password)
            .header("X-Request-Id", "same-request-id")
            .await;
        assert_eq!(response.status(), 401, "{response}");
        assert_eq!(response.header("www-authenticate"), "Bearer");
        bodies.push(response.bytes().to_vec());
    }
    assert_eq!(bodies[0], bodies[1], "byte-identical bodies");
    let body: Value = serde_json::from_slice(&bodies[0]).expect("a JSON body");
    assert_eq!(body["code"], "invalid_credentials");
}

#[actix_web::test]
async fn five_failures_start_a_doubling_back_off_that_a_success_resets() {
    let app = spawn_app().await;
    let user = app.user("throttle@example.com").await;
    for _ in 0..5 {
        app.sign_in("throttle@example.com", "wrong password here")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    // Refused without checking the password, even the right one.
    let throttled = app.sign_in("throttle@example.com", PASSWORD).await;
    let retry_after: u64 = throttled
        .header("retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    throttled.expect_problem(429, "login_throttled");

    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    app.sign_in("throttle@example.com", "wrong again")
        .await
        .expect_problem(401, "invalid_credentials");
    let doubled = app.sign_in("throttle@example.com", PASSWORD).await;
    assert_eq!(doubled.status(), 429, "{doubled}");
    let retry_after: u64 = doubled
        .header("retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert_eq!(retry_after, 2, "the window doubled");

    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    app.sign_in("throttle@example.com", PASSWORD).await.expect(200);
    // The success reset the count: four more failures do not throttle.
    for _ in 0..4 {
        app.sign_in("throttle@example.com", "wrong password here")
            .await
            .expect(401);
    }
    app.sign_in("throttle@example.com", PASSWORD).await.expect(200);

    let seen = user.security_events().await;
    for action in ["login.failed", "login.throttled", "login.succeeded"] {
        assert!(seen.contains(&action.to_string()), "{action} in {seen:?}");
    }
}

#[actix_web::test]
async fn parallel_wrong_passwords_cannot_exceed_the_limit() {
    let app = spawn_app().await;
    app.user("parallel@example.com").await;
    let attempts = (0..12).map(|i| {
        app.sign_in("parallel@example.com", if i == 0 { "wrong 0" } else { "wrong n" })
            .send()
    });
    let statuses: Vec<u16> = join_all(attempts).await.iter().map(Response::status).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "at most five passwords checked: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

#[actix_web::test]
async fn every_password_check_runs_argon2_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    app.user("known@example.com").await;
    app.user("github-only@example.com").await;
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
        app.sign_in(email, "not the password at all")
            .await
            .expect_problem(401, "invalid_credentials");
        assert_eq!(app.auth.hasher().runs() - before, 1, "one argon2 run for {email}");
    }
}
