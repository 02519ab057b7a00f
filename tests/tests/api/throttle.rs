//! Sign-in throttling as an attacker meets it: unknown emails back off like known ones, a trusted
//! device keeps its own allowance, refused attempts do not flood the event feed, and attempts shed
//! by the hashing queue do not count.

use std::time::Duration;

use futures_util::future::join_all;
use portcullis_tests::{spawn_app, spawn_app_with, Request, RequestHelper, Response, TestApp, PASSWORD};
use serde_json::{json, Value};

const WRONG: &str = "not the password at all";

/// Signs in with an optional `Cookie` header.
fn login_with(app: &TestApp, email: &str, password: &str, cookie: Option<&str>) -> Request {
    let request = app.sign_in(email, password);
    match cookie {
        Some(cookie) => request.header("Cookie", cookie),
        None => request,
    }
}

/// The `name=value` of the device cookie a response sets.
#[track_caller]
fn device_cookie(response: &Response) -> String {
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("a visible-ASCII Set-Cookie").to_owned())
        .find(|v| v.starts_with("portcullis-device="))
        .unwrap_or_else(|| panic!("a device cookie: {response}"));
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    set.split(';').next().unwrap_or_default().to_owned()
}

async fn statuses(app: &TestApp, email: &str, attempts: usize) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..attempts {
        seen.push(app.sign_in(email, WRONG).await.status());
    }
    seen
}

#[actix_web::test]
async fn unknown_emails_back_off_exactly_like_known_ones() {
    let app = spawn_app().await;
    app.user("known@example.com").await;
    let expected = [401, 401, 401, 401, 401, 429, 429];
    assert_eq!(statuses(&app, "known@example.com", 7).await, expected);
    assert_eq!(statuses(&app, "nobody@example.com", 7).await, expected);
    // Same body for both refusals, apart from the request id.
    let mut bodies = Vec::new();
    for email in ["known@example.com", "nobody@example.com"] {
        let mut body = app
            .sign_in(email, WRONG)
            .await
            .expect_problem(429, "login_throttled");
        body["request_id"] = Value::Null;
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[actix_web::test]
async fn a_device_that_signed_in_before_keeps_signing_in_while_strangers_are_locked_out() {
    let app = spawn_app().await;
    app.user("owner@example.com").await;
    app.user("other@example.com").await;
    let signed_in = login_with(&app, "owner@example.com", PASSWORD, None).await;
    signed_in.expect(200);
    let cookie = device_cookie(&signed_in);
    let other = device_cookie(&login_with(&app, "other@example.com", PASSWORD, None).await);

    // A stranger locks the account.
    assert_eq!(statuses(&app, "owner@example.com", 6).await[5], 429);
    login_with(&app, "owner@example.com", PASSWORD, None)
        .await
        .expect_problem(429, "login_throttled");
    // The owner's device is not locked ...
    let owner = login_with(&app, "owner@example.com", PASSWORD, Some(&cookie)).await;
    owner.expect(200);
    assert_eq!(device_cookie(&owner), cookie, "the device keeps its id");
    // ... and the account stays locked for everyone else: the owner's success gave the stranger
    // no fresh attempts.
    login_with(&app, "owner@example.com", PASSWORD, None)
        .await
        .expect_problem(429, "login_throttled");
    // A forged or moved cookie is no device of this account.
    let (name_id, tag) = cookie
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("a signed device id: {cookie}"));
    let forged = format!("{name_id}.{}", tag.chars().rev().collect::<String>());
    for fake in [forged.as_str(), other.as_str(), "portcullis-device=x.y"] {
        login_with(&app, "owner@example.com", PASSWORD, Some(fake))
            .await
            .expect_problem(429, "login_throttled");
    }
}

#[actix_web::test]
async fn a_device_has_an_allowance_of_its_own_not_an_unlimited_one() {
    let app = spawn_app().await;
    app.user("device@example.com").await;
    let cookie = device_cookie(&login_with(&app, "device@example.com", PASSWORD, None).await);
    for _ in 0..5 {
        login_with(&app, "device@example.com", WRONG, Some(&cookie))
            .await
            .expect(401);
    }
    login_with(&app, "device@example.com", PASSWORD, Some(&cookie))
        .await
        .expect_problem(429, "login_throttled");
    // The device's failures did not lock the account for the owner's other clients.
    app.sign_in("device@example.com", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn refused_attempts_record_one_event_per_back_off_window() {
    let app = spawn_app().await;
    let user = app.user("flooded@example.com").await;
    statuses(&app, "flooded@example.com", 5).await;
    let refused = join_all((0..30).map(|_| app.sign_in("flooded@example.com", WRONG).send())).await;
    assert!(refused.iter().all(|r| r.status() == 429));
    let actions = user.security_events().await;
    let throttled = actions.iter().filter(|a| *a == "login.throttled").count();
    assert_eq!(throttled, 1, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "login.failed").count(), 5);
}

#[actix_web::test]
async fn sign_ins_shed_by_the_hashing_queue_do_not_count_as_failures() {
    let app = spawn_app_with(|vars| {
        // One hash at a time, each longer than a queued job may wait (0.5 s): once the storm has
        // started one hash and filled the queue behind it, the queue stays full until that hash ends.
        // About 8 s alone: the user's six attempts must all fall inside it even when the whole suite
        // runs beside this test (with 4 s, one full run saw the hash end after the first attempt).
        vars.insert("ARGON2_MEMORY_KIB".into(), "65536".into());
        vars.insert("ARGON2_ITERATIONS".into(), "48".into());
        vars.insert("HASH_CONCURRENCY".into(), "1".into());
    })
    .await;
    app.user("patient@example.com").await;
    // The storm's answers are not checked: its requests go out as before, bodies unread.
    let storm = join_all((0..30).map(|i| app.login_owned(format!("storm{i}@example.com"), WRONG)));
    let user = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(app.sign_in("patient@example.com", PASSWORD).await.status());
        }
        seen
    };
    let (_, seen) = futures_util::join!(storm, user);
    // Counted as failures, five shed attempts would have throttled the sixth (429).
    assert!(
        !seen.contains(&429),
        "shed attempts counted as failures: {seen:?}"
    );
    assert_eq!(seen, [503; 6], "the queue was full for every attempt of the user");
    // Six shed attempts would have started a back-off if they had counted.
    app.sign_in("patient@example.com", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn the_strength_estimate_waits_its_turn_on_the_hashing_threads() {
    let app = spawn_app_with(|vars| {
        // As above: one hash longer than a queued job may wait, so the queue stays full meanwhile.
        vars.insert("ARGON2_MEMORY_KIB".into(), "65536".into());
        vars.insert("ARGON2_ITERATIONS".into(), "24".into());
        vars.insert("HASH_CONCURRENCY".into(), "1".into());
    })
    .await;
    // The storm's answers are not checked: its requests go out as before, bodies unread.
    let storm = join_all((0..30).map(|i| app.login_owned(format!("storm{i}@example.com"), WRONG)));
    let weak_signup = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        app.anonymous()
            .post(
                "/api/v1/auth/signup",
                &json!({"email": "hasty@example.com", "password": "password123456"}),
            )
            .await
            .status()
    };
    let (_, status) = futures_util::join!(storm, weak_signup);
    // Judged on a request worker, the weak password would be refused at once (422) whatever the
    // hashing queue holds; judged on the hashing threads, it waits behind the storm like a hash.
    assert_eq!(
        status, 503,
        "the strength estimate ran outside the hashing threads"
    );
}

#[actix_web::test]
async fn any_text_in_the_email_field_is_throttled_without_being_stored() {
    let app = spawn_app().await;
    // Longer than PostgreSQL's index row limit, and not an address at all.
    let typed = format!("my secret password {}", "x".repeat(3000));
    for _ in 0..5 {
        app.sign_in(&typed, WRONG)
            .await
            .expect_problem(401, "invalid_credentials");
    }
    app.sign_in(&typed, WRONG)
        .await
        .expect_problem(429, "login_throttled");
    assert_eq!(
        portcullis_tests::count_rows(&app, "login_throttles", "throttle_key LIKE '%secret%'"),
        0,
        "throttle keys hold a hash of what was typed, not the text"
    );
}
