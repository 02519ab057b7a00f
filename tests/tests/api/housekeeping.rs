//! The periodic housekeeping deletes rows that nothing can use any more, and only those.

use std::time::{Duration, Instant};

use portcullis_tests::{access, count_rows, execute_sql, spawn_app_with, sql_time, TestApp};

/// Waits (at most 10 s) until `table` has no row matching `filter`.
async fn until_gone(app: &TestApp, table: &str, filter: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_rows(app, table, filter) > 0 {
        assert!(
            Instant::now() < deadline,
            "{table} WHERE {filter} was never cleaned up"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn expired_rows_are_deleted_and_live_ones_kept() {
    let app = spawn_app_with(|vars| {
        vars.insert("MAINTENANCE_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let tokens = app.signup("tidy@example.com").await;
    let user_id = tokens["user"]["id"].as_str().unwrap();
    let (past, future, days_ago) = (sql_time(-60), sql_time(600), sql_time(-3 * 86_400));
    for (hash, expires) in [("old-state", &past), ("live-state", &future)] {
        execute_sql(
            &app,
            &format!("INSERT INTO oauth_states (state_hash, expires_at) VALUES ('{hash}', '{expires}')"),
        );
    }
    for (hash, expires) in [("old-code", &past), ("live-code", &future)] {
        execute_sql(
            &app,
            &format!(
                "INSERT INTO login_codes (code_hash, purpose, user_id, expires_at) \
                 VALUES ('{hash}', 'login', '{user_id}', '{expires}')"
            ),
        );
    }
    for (hash, expires) in [("old-link", &past), ("live-link", &future)] {
        execute_sql(
            &app,
            &format!(
                "INSERT INTO link_codes (code_hash, user_id, provider, provider_user_id, login, expires_at) \
                 VALUES ('{hash}', '{user_id}', 'github', '42', 'octocat', '{expires}')"
            ),
        );
    }
    for (key, updated) in [
        ("account:idle@example.com", &days_ago),
        ("account:fresh@example.com", &past),
    ] {
        execute_sql(
            &app,
            &format!(
                "INSERT INTO login_throttles (throttle_key, failures, throttle_reported, updated_at) \
                 VALUES ('{key}', 3, FALSE, '{updated}')"
            ),
        );
    }
    // A session that expired days ago, with its refresh token.
    let live_session = tokens["session_id"].as_str().unwrap();
    execute_sql(
        &app,
        &format!(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, absolute_expires_at) \
             VALUES ('dead-session', '{user_id}', '{days_ago}', '{days_ago}', '{days_ago}', '{days_ago}')"
        ),
    );
    execute_sql(
        &app,
        &format!(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
             VALUES ('dead-token', 'dead-session', '{days_ago}', '{days_ago}')"
        ),
    );

    until_gone(&app, "oauth_states", "state_hash = 'old-state'").await;
    until_gone(&app, "login_codes", "code_hash = 'old-code'").await;
    until_gone(
        &app,
        "login_throttles",
        "throttle_key = 'account:idle@example.com'",
    )
    .await;
    until_gone(&app, "sessions", "id = 'dead-session'").await;
    assert_eq!(count_rows(&app, "refresh_tokens", "token_hash = 'dead-token'"), 0);

    // Positive controls: what can still be used is still there, and the live session still works.
    assert_eq!(count_rows(&app, "oauth_states", "state_hash = 'live-state'"), 1);
    assert_eq!(count_rows(&app, "login_codes", "code_hash = 'live-code'"), 1);
    assert_eq!(
        count_rows(
            &app,
            "login_throttles",
            "throttle_key = 'account:fresh@example.com'"
        ),
        1
    );
    assert_eq!(count_rows(&app, "sessions", &format!("id = '{live_session}'")), 1);
    assert_eq!(app.get("/api/v1/me", Some(access(&tokens))).await.status(), 200);
}
