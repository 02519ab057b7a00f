//! Email flows end to end through a real SMTP server (the test's sink): the mail that arrived is read
//! and its link's token followed. Also the outbox's promises: no mail lost while the server is down,
//! each mail delivered once by two instances, the per-address cap.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use portcullis_tests::{
    count_rows, execute_sql, fresh_step, spawn_app_with, sql_time, totp_code, RequestHelper, SmtpSink,
    TestApp, JWT_SECRET, PASSWORD,
};
use serde_json::json;

const VERIFY: &str = "Verify your email address";
const RESET: &str = "Reset your password";
const CONFIRM: &str = "Confirm your new email address";
const NEW_PASSWORD: &str = "a brand new passphrase for 2026";

/// A server that sends its mail to `sink`, polling and retrying fast.
async fn app_with_mail(sink: &SmtpSink, customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let url = sink.url();
    spawn_app_with(|vars| {
        mail_vars(vars, &url);
        customize(vars);
    })
    .await
}

fn mail_vars(vars: &mut HashMap<String, String>, smtp_url: &str) {
    vars.insert("MAIL_TRANSPORT".into(), "smtp".into());
    vars.insert("SMTP_URL".into(), smtp_url.into());
    vars.insert("MAIL_FROM".into(), "Portcullis Tests <auth@example.com>".into());
    vars.insert("MAIL_POLL_INTERVAL_MS".into(), "50".into());
    vars.insert("MAIL_RETRY_BASE_MS".into(), "100".into());
}

#[actix_web::test]
async fn sign_up_mails_a_verification_link_that_works_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let ada = app.user("ada@example.com").await;
    assert_eq!(ada.tokens()["user"]["email_verified"], false);

    let mail = sink.mail("ada@example.com", VERIFY).await;
    let token = mail.token("verify-email");
    assert!(token.len() >= 43, "256-bit token: {token}");
    let link = format!("{}/verify-email?token={token}", app.address);
    assert!(mail.text.contains(&link), "{}", mail.text);
    assert!(mail.html.contains(&link), "{}", mail.html);
    assert_eq!(mail.message_id.matches('@').count(), 1, "{}", mail.message_id);
    // The token is in the link and nowhere else; it is not stored in the clear.
    assert_eq!(mail.text.matches(&token).count(), 1, "{}", mail.text);
    assert_eq!(
        mail.html.matches(&token).count(),
        2,
        "the button and the copyable address"
    );
    let headers = mail.raw.split("\r\n\r\n").next().unwrap_or_default();
    assert!(!headers.contains(&token), "{headers}");
    assert_eq!(
        count_rows(&app, "email_tokens", &format!("token_hash = '{token}'")),
        0
    );

    let verified = app
        .anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": token}))
        .await
        .expect(200);
    assert_eq!(verified["email_verified"], true);
    assert_eq!(verified["email"], "ada@example.com");
    assert_eq!(ada.get("/api/v1/me").await.expect(200)["email_verified"], true);
    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": token}))
        .await
        .expect_problem(400, "invalid_token");
    assert!(ada.security_events().await.contains(&"email.verified".to_owned()));
    // A delivered message keeps no body (it held the token link).
    assert_eq!(
        count_rows(&app, "mail_outbox", "sent_at IS NOT NULL AND text_body = ''"),
        1
    );
}

#[actix_web::test]
async fn a_new_verification_link_supersedes_the_old_one_and_a_verified_address_is_409() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let bea = app.user("bea@example.com").await;
    let first = sink.wait_for("bea@example.com", 1).await[0].token("verify-email");
    let answer = bea
        .post("/api/v1/auth/email/verify/request", None)
        .await
        .expect(202);
    assert_eq!(answer, json!({}));
    let second = sink.wait_for("bea@example.com", 2).await[1].token("verify-email");
    assert_ne!(first, second);

    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": first}))
        .await
        .expect_problem(400, "invalid_token");
    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": second}))
        .await
        .expect(200);
    bea.post("/api/v1/auth/email/verify/request", None)
        .await
        .expect_problem(409, "already_verified");
    // Only signed-in users ask for a link.
    app.anonymous()
        .post("/api/v1/auth/email/verify/request", None)
        .await
        .expect_problem(401, "unauthorized");
}

#[actix_web::test]
async fn expired_tokens_are_refused() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |vars| {
        vars.insert("EMAIL_VERIFY_TTL_SECS".into(), "1".into());
        vars.insert("PASSWORD_RESET_TTL_SECS".into(), "1".into());
        vars.insert("EMAIL_CHANGE_TTL_SECS".into(), "1".into());
    })
    .await;
    let cy = app.user("cy@example.com").await;
    let verify = sink.mail("cy@example.com", VERIFY).await.token("verify-email");
    forgot(&app, "cy@example.com").await;
    let reset = sink.mail("cy@example.com", RESET).await.token("reset-password");
    cy.post(
        "/api/v1/me/email",
        &json!({"new_email": "cy2@example.com", "password": PASSWORD}),
    )
    .await
    .expect(202);
    let change = sink.mail("cy2@example.com", CONFIRM).await.token("confirm-email");
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;

    let anonymous = app.anonymous();
    anonymous
        .post("/api/v1/auth/email/verify", &json!({"token": verify}))
        .await
        .expect_problem(400, "invalid_token");
    anonymous
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect_problem(400, "invalid_token");
    anonymous
        .post("/api/v1/auth/email/change/confirm", &json!({"token": change}))
        .await
        .expect_problem(400, "invalid_token");
    app.login_as("cy@example.com", PASSWORD).await;
}

async fn forgot(app: &TestApp, email: &str) -> portcullis_tests::Response {
    let answer = app
        .anonymous()
        .post("/api/v1/auth/password/forgot", &json!({"email": email}))
        .await;
    answer.expect(202);
    answer
}

#[actix_web::test]
async fn a_password_reset_revokes_every_session_verifies_the_address_and_works_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let dee = app.user("dee@example.com").await;
    let laptop = app.login_as("dee@example.com", PASSWORD).await;
    assert_eq!(forgot(&app, "DEE@example.com").await.json(), json!({}));
    let token = sink.mail("dee@example.com", RESET).await.token("reset-password");

    let reset = json!({"token": token, "new_password": NEW_PASSWORD});
    app.anonymous()
        .post("/api/v1/auth/password/reset", &reset)
        .await
        .expect(204);
    // Every session's access and refresh tokens stop at the next request.
    for user in [&dee, &laptop] {
        user.get("/api/v1/me").await.expect(401);
        app.anonymous()
            .post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh()}))
            .await
            .expect_problem(401, "invalid_refresh_token");
    }
    app.sign_in("dee@example.com", PASSWORD)
        .await
        .expect_problem(401, "invalid_credentials");
    let dee = app.login_as("dee@example.com", NEW_PASSWORD).await;
    assert_eq!(dee.tokens()["user"]["email_verified"], true);
    assert!(dee.security_events().await.contains(&"password.reset".to_owned()));
    sink.mail("dee@example.com", "Your password was reset").await;

    app.anonymous()
        .post("/api/v1/auth/password/reset", &reset)
        .await
        .expect_problem(400, "invalid_token");
}

#[actix_web::test]
async fn a_weak_new_password_is_422_and_leaves_the_link_usable() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    app.user("eve@example.com").await;
    forgot(&app, "eve@example.com").await;
    let token = sink.mail("eve@example.com", RESET).await.token("reset-password");
    let weak = app
        .anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": "password1234"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(weak["errors"][0]["field"], "new_password");
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": "not-a-token", "new_password": NEW_PASSWORD}),
        )
        .await
        .expect_problem(400, "invalid_token");
    app.login_as("eve@example.com", PASSWORD).await;
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect(204);
}

#[actix_web::test]
async fn forgot_password_for_an_unknown_address_answers_the_same_and_sends_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    app.user("fay@example.com").await;
    sink.mail("fay@example.com", VERIFY).await;

    // Both answers are held to the same floor (100 ms), under which the known address's extra
    // inserts disappear; a lower bound, so this checks the hold, not the machine's speed.
    let started = std::time::Instant::now();
    let known = forgot(&app, "fay@example.com").await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let unknown = forgot(&app, "nobody@example.com").await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(known.text(), unknown.text());
    let headers = |response: &portcullis_tests::Response| {
        let mut names: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&known), headers(&unknown));

    sink.mail("fay@example.com", RESET).await;
    // Give a wrongly queued message every chance to arrive.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.to("nobody@example.com").is_empty());
    assert_eq!(
        count_rows(&app, "mail_outbox", "recipient_key = 'nobody@example.com'"),
        0
    );
    assert_eq!(
        count_rows(&app, "email_tokens", "email = 'nobody@example.com'"),
        0
    );
}

#[actix_web::test]
async fn the_hourly_cap_per_address_and_kind_holds_and_keeps_the_last_link() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |vars| {
        vars.insert("MAIL_PER_ADDRESS_PER_HOUR".into(), "2".into());
    })
    .await;
    app.user("gus@example.com").await;
    for _ in 0..4 {
        forgot(&app, "gus@example.com").await;
    }
    let resets = || {
        sink.to("gus@example.com")
            .into_iter()
            .filter(|mail| mail.subject == RESET)
            .collect::<Vec<_>>()
    };
    sink.wait_until(Duration::from_secs(10), || resets().len() >= 2)
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let sent = resets();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(count_rows(&app, "mail_outbox", "kind = 'reset_password'"), 2);
    // The requests over the cap stored no token, so the last mailed link still works.
    let newest = sent
        .iter()
        .max_by_key(|mail| mail.message_id.clone())
        .expect("two mails")
        .token("reset-password");
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": newest, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect(204);
    // Another kind to the same address is not capped by these.
    assert!(sink
        .to("gus@example.com")
        .iter()
        .any(|mail| mail.subject == VERIFY));
}

#[actix_web::test]
async fn an_email_change_confirms_on_the_new_address_and_tells_the_old_one() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let hal = app.user("hal@example.com").await;
    let old_verify = sink.mail("hal@example.com", VERIFY).await.token("verify-email");
    app.user("taken@example.com").await;

    hal.post(
        "/api/v1/me/email",
        &json!({"new_email": "hal.new@example.com", "password": "wrong password here"}),
    )
    .await
    .expect_problem(401, "invalid_credentials");
    hal.post("/api/v1/me/email", &json!({"new_email": "hal.new@example.com"}))
        .await
        .expect_problem(401, "invalid_credentials");
    hal.post(
        "/api/v1/me/email",
        &json!({"new_email": "Taken@example.com", "password": PASSWORD}),
    )
    .await
    .expect_problem(409, "email_taken");
    let same = hal
        .post(
            "/api/v1/me/email",
            &json!({"new_email": "HAL@example.com", "password": PASSWORD}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(same["errors"][0]["field"], "new_email");
    hal.post(
        "/api/v1/me/email",
        &json!({"new_email": "not an address", "password": PASSWORD}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(count_rows(&app, "email_tokens", "kind = 'change'"), 0);

    hal.post(
        "/api/v1/me/email",
        &json!({"new_email": "hal.new@example.com", "password": PASSWORD}),
    )
    .await
    .expect(202);
    let confirm = sink.mail("hal.new@example.com", CONFIRM).await;
    let notice = sink
        .mail("hal@example.com", "Your email address is being changed")
        .await;
    assert!(notice.text.contains("hal.new@example.com"), "{}", notice.text);
    assert!(!notice.text.contains("token="), "a notice carries no token");
    // Nothing changes before the new address confirms.
    assert_eq!(
        hal.get("/api/v1/me").await.expect(200)["email"],
        "hal@example.com"
    );

    let token = confirm.token("confirm-email");
    let changed = app
        .anonymous()
        .post("/api/v1/auth/email/change/confirm", &json!({"token": token}))
        .await
        .expect(200);
    assert_eq!(changed["email"], "hal.new@example.com");
    assert_eq!(changed["email_verified"], true);
    app.anonymous()
        .post("/api/v1/auth/email/change/confirm", &json!({"token": token}))
        .await
        .expect_problem(400, "invalid_token");
    app.sign_in("hal@example.com", PASSWORD)
        .await
        .expect_problem(401, "invalid_credentials");
    let hal = app.login_as("hal.new@example.com", PASSWORD).await;
    assert!(hal.security_events().await.contains(&"email.changed".to_owned()));
    // A link mailed to the old address no longer proves anything.
    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": old_verify}))
        .await
        .expect_problem(400, "invalid_token");
}

#[actix_web::test]
async fn confirming_an_address_someone_took_meanwhile_is_409() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let ivy = app.user("ivy@example.com").await;
    ivy.post(
        "/api/v1/me/email",
        &json!({"new_email": "wanted@example.com", "password": PASSWORD}),
    )
    .await
    .expect(202);
    let token = sink
        .mail("wanted@example.com", CONFIRM)
        .await
        .token("confirm-email");
    app.user("Wanted@example.com").await;
    app.anonymous()
        .post("/api/v1/auth/email/change/confirm", &json!({"token": token}))
        .await
        .expect_problem(409, "email_taken");
    assert_eq!(
        ivy.get("/api/v1/me").await.expect(200)["email"],
        "ivy@example.com"
    );
}

#[actix_web::test]
async fn a_token_redeemed_twice_at_once_works_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    app.user("jo@example.com").await;
    let token = sink.mail("jo@example.com", VERIFY).await.token("verify-email");
    let anonymous = app.anonymous();
    let body = json!({"token": token});
    let attempts: Vec<_> = (0..8)
        .map(|_| anonymous.post("/api/v1/auth/email/verify", &body).send())
        .collect();
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 7, "{statuses:?}");
}

#[actix_web::test]
async fn bad_bodies_are_422_and_change_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let kim = app.user("kim@example.com").await;
    let anonymous = app.anonymous();
    for (path, body) in [
        ("/api/v1/auth/password/forgot", json!({})),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "kim@example.com", "role": "admin"}),
        ),
        ("/api/v1/auth/password/reset", json!({"token": "x"})),
        ("/api/v1/auth/email/verify", json!({"token": ""})),
        ("/api/v1/auth/email/change/confirm", json!({"token": 7})),
    ] {
        anonymous
            .post(path, &body)
            .await
            .expect_problem(422, "validation_failed");
    }
    kim.post("/api/v1/me/email", &json!({"password": PASSWORD}))
        .await
        .expect_problem(422, "validation_failed");
    // Only the sign-up's verification mail was ever queued.
    assert_eq!(count_rows(&app, "mail_outbox", "1 = 1"), 1);
    assert_eq!(count_rows(&app, "email_tokens", "1 = 1"), 1);
}

#[actix_web::test]
async fn with_require_verified_email_an_unverified_password_sign_in_is_403_after_the_password_check() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |vars| {
        vars.insert("REQUIRE_VERIFIED_EMAIL".into(), "true".into());
    })
    .await;
    app.user("lea@example.com").await;
    app.sign_in("lea@example.com", "not the password at all")
        .await
        .expect_problem(401, "invalid_credentials");
    app.sign_in("lea@example.com", PASSWORD)
        .await
        .expect_problem(403, "email_not_verified");
    let token = sink.mail("lea@example.com", VERIFY).await.token("verify-email");
    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": token}))
        .await
        .expect(200);
    app.login_as("lea@example.com", PASSWORD).await;
}

#[actix_web::test]
async fn a_password_change_sends_a_notice() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let max = app.user("max@example.com").await;
    max.post(
        "/api/v1/auth/password",
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    let notice = sink.mail("max@example.com", "Your password was changed").await;
    assert!(!notice.text.contains("token="));
}

#[actix_web::test]
async fn no_mail_is_lost_while_the_mail_server_is_down_and_none_is_sent_twice() {
    let mut sink = SmtpSink::stopped().await;
    let app = app_with_mail(&sink, |_| {}).await;
    app.user("ned@example.com").await;
    forgot(&app, "ned@example.com").await;
    // Attempts fail (connection refused), are counted and keep the message.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count_rows(&app, "mail_outbox", "attempts >= 2 AND last_error IS NOT NULL") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempts recorded"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count_rows(&app, "mail_outbox", "sent_at IS NULL AND failed_at IS NULL"),
        2
    );
    // While they wait, the bodies (one holds a reset link) are sealed, not readable in the database.
    let readable = "text_body LIKE '%token=%' OR html_body LIKE '%token=%' OR text_body LIKE '%Hello%'";
    assert_eq!(count_rows(&app, "mail_outbox", readable), 0);

    sink.resume().await;
    let mails = sink.wait_for("ned@example.com", 2).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let mails_now = sink.to("ned@example.com");
    assert_eq!(mails_now.len(), 2, "{mails_now:#?}");
    let subjects: HashSet<&str> = mails.iter().map(|mail| mail.subject.as_str()).collect();
    assert_eq!(subjects, HashSet::from([VERIFY, RESET]));
    assert_eq!(count_rows(&app, "mail_outbox", "sent_at IS NOT NULL"), 2);
}

#[actix_web::test]
async fn two_instances_deliver_each_of_50_queued_mails_exactly_once() {
    let sink = SmtpSink::start().await;
    let first = app_with_mail(&sink, |vars| {
        vars.insert("MAIL_POLL_INTERVAL_MS".into(), "20".into());
    })
    .await;
    let url = sink.url();
    let second = first
        .second_instance(|vars| {
            mail_vars(vars, &url);
            vars.insert("MAIL_POLL_INTERVAL_MS".into(), "20".into());
        })
        .await;
    // 50 messages that come due at one moment, so both workers, polling every 20 ms, race for them.
    insert_due_mails(&first, 50, "u", 2);
    sink.wait_until(Duration::from_secs(20), || sink.all().len() >= 50)
        .await
        .unwrap_or_else(|| panic!("only {} of 50 mails arrived", sink.all().len()));
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let all = sink.all();
    assert_eq!(all.len(), 50, "a mail was delivered twice");
    let ids: HashSet<&str> = all.iter().map(|mail| mail.message_id.as_str()).collect();
    assert_eq!(ids.len(), 50);
    for n in 0..50 {
        assert_eq!(sink.to(&format!("u{n}@example.com")).len(), 1, "u{n}");
    }
    assert_eq!(
        count_rows(&first, "mail_outbox", "sent_at IS NOT NULL AND attempts = 1"),
        50
    );
    // Both instances took part: each sent row names the worker that delivered it.
    let workers = count_rows(
        &first,
        "(SELECT DISTINCT leased_by FROM mail_outbox WHERE sent_at IS NOT NULL) AS w",
        "1 = 1",
    );
    assert_eq!(workers, 2);
    drop(second);
}

#[actix_web::test]
async fn the_file_transport_writes_each_mail_into_the_data_folder() {
    let app = spawn_app_with(|_| {}).await;
    app.user("olga@example.com").await;
    app.mail_file_with(&["To: olga@example.com", "Subject: Verify your email address"])
        .await;
    assert_eq!(app.mail_files().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = app.db.dir().join("data").join("mail");
        let mode = std::fs::metadata(&dir).expect("mail folder").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[actix_web::test]
async fn a_stopping_worker_gives_its_claims_back_and_only_the_lease_holder_records_an_outcome() {
    use portcullis_db::outbox;
    let app = spawn_app_with(|_| {}).await;
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn = portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).expect("db");
    // Due in an hour, so the server's own worker leaves them to the workers this test plays.
    let now = portcullis_db::now() + chrono::Duration::hours(1);
    for n in 0..3 {
        let id = uuid::Uuid::now_v7().to_string();
        let to = format!("w{n}@example.com");
        outbox::queue(
            &mut conn,
            &outbox::NewMail {
                id: &id,
                kind: "notice_password_changed",
                recipient: &to,
                recipient_key: &to,
                subject: "s",
                text_body: "t",
                html_body: "h",
                created_at: now,
                next_attempt_at: now,
            },
        )
        .expect("queued");
    }
    let lease = chrono::Duration::seconds(600);
    let claimed = outbox::claim(&mut conn, "worker-a", now, lease, 10).expect("claim");
    assert_eq!(claimed.len(), 3);
    assert!(
        outbox::claim(&mut conn, "worker-b", now, lease, 10)
            .expect("claim")
            .is_empty(),
        "leased"
    );
    assert!(!outbox::mark_sent(&mut conn, &claimed[0].id, "worker-b", now).expect("update"));
    assert!(outbox::mark_sent(&mut conn, &claimed[0].id, "worker-a", now).expect("update"));

    assert_eq!(outbox::release(&mut conn, "worker-a").expect("release"), 2);
    let again = outbox::claim(&mut conn, "worker-b", now, lease, 10).expect("claim");
    assert_eq!(again.len(), 2, "given back at once, not after the lease");
    assert!(
        again.iter().all(|mail| mail.attempts == 1),
        "the given-back attempt was not counted"
    );
    // A lease that ran out (a crashed worker) makes the message due again.
    let later = now + chrono::Duration::seconds(601);
    assert_eq!(
        outbox::claim(&mut conn, "worker-c", later, lease, 10)
            .expect("claim")
            .len(),
        2
    );
}

#[actix_web::test]
async fn a_pending_email_change_stops_working_once_the_password_is_reset_or_changed() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let pia = app.user("pia@example.com").await;
    // Someone holding pia's session asks to move the account to their own address...
    pia.post(
        "/api/v1/me/email",
        &json!({"new_email": "thief@example.com", "password": PASSWORD}),
    )
    .await
    .expect(202);
    let stolen = sink
        .mail("thief@example.com", CONFIRM)
        .await
        .token("confirm-email");
    // ...pia gets the notice and resets her password: the thief's link is dead.
    sink.mail("pia@example.com", "Your email address is being changed")
        .await;
    forgot(&app, "pia@example.com").await;
    let reset = sink.mail("pia@example.com", RESET).await.token("reset-password");
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect(204);
    app.anonymous()
        .post("/api/v1/auth/email/change/confirm", &json!({"token": stolen}))
        .await
        .expect_problem(400, "invalid_token");

    // The same after a password change while signed in.
    let pia = app.login_as("pia@example.com", NEW_PASSWORD).await;
    pia.post(
        "/api/v1/me/email",
        &json!({"new_email": "thief2@example.com", "password": NEW_PASSWORD}),
    )
    .await
    .expect(202);
    let stolen = sink
        .mail("thief2@example.com", CONFIRM)
        .await
        .token("confirm-email");
    pia.post(
        "/api/v1/auth/password",
        &json!({"current_password": NEW_PASSWORD, "new_password": "yet another passphrase, 2027"}),
    )
    .await
    .expect(204);
    app.anonymous()
        .post("/api/v1/auth/email/change/confirm", &json!({"token": stolen}))
        .await
        .expect_problem(400, "invalid_token");
    assert_eq!(
        pia.get("/api/v1/me").await.expect(200)["email"],
        "pia@example.com"
    );
}

/// Enables TOTP for `user` and returns its secret.
async fn enable_totp(user: &impl RequestHelper, step: u64) -> String {
    let secret = user
        .post("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect(200)["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    user.post(
        "/api/v1/me/mfa/totp/confirm",
        &json!({"code": totp_code(&secret, step)}),
    )
    .await
    .expect(200);
    secret
}

#[actix_web::test]
async fn a_reset_that_first_proves_the_address_removes_what_a_squatter_set_up() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let base = fresh_step().await;
    // Someone signs up with an address they do not own and turns on their own authenticator.
    let squatter = app.user("owner@example.com").await;
    enable_totp(&squatter, base - 1).await;
    app.sign_in("owner@example.com", PASSWORD)
        .await
        .expect_problem(401, "mfa_required");
    // The address's owner takes the account back through the mailed link.
    forgot(&app, "owner@example.com").await;
    let reset = sink
        .mail("owner@example.com", RESET)
        .await
        .token("reset-password");
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect(204);
    squatter.get("/api/v1/me").await.expect(401);
    let owner = app.login_as("owner@example.com", NEW_PASSWORD).await;
    assert_eq!(owner.tokens()["user"]["mfa_enabled"], false);
    assert_eq!(count_rows(&app, "totp_factors", "1 = 1"), 0);
    assert!(owner.security_events().await.contains(&"mfa.disabled".to_owned()));
}

#[actix_web::test]
async fn a_verified_mfa_users_reset_keeps_the_second_factor() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, |_| {}).await;
    let base = fresh_step().await;
    let rex = app.user("rex@example.com").await;
    let verify = sink.mail("rex@example.com", VERIFY).await.token("verify-email");
    app.anonymous()
        .post("/api/v1/auth/email/verify", &json!({"token": verify}))
        .await
        .expect(200);
    enable_totp(&rex, base - 1).await;
    forgot(&app, "rex@example.com").await;
    let reset = sink.mail("rex@example.com", RESET).await.token("reset-password");
    app.anonymous()
        .post(
            "/api/v1/auth/password/reset",
            &json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await
        .expect(204);
    // The mailbox alone is not enough: the second factor still stands.
    app.sign_in("rex@example.com", NEW_PASSWORD)
        .await
        .expect_problem(401, "mfa_required");
}

#[actix_web::test]
async fn a_stopping_server_finishes_the_mail_in_flight_and_gives_back_the_rest_of_its_claim() {
    // Each message takes the mail server 1.5 s to accept.
    let sink = SmtpSink::slow(Duration::from_millis(1500)).await;
    let app = app_with_mail(&sink, |_| {}).await;
    insert_due_mails(&app, 3, "s", 1);
    // The worker claims all three in one batch and starts on the first (it has connected to the
    // mail server); stop the server meanwhile. Stopped before that, it would rightly give back all
    // three, which a loaded machine made this test see now and then.
    let claimed = || {
        count_rows(&app, "mail_outbox", "leased_by IS NOT NULL AND sent_at IS NULL") == 3
            && sink.connections() >= 1
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !claimed() {
        assert!(std::time::Instant::now() < deadline, "the batch was not claimed");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    app.handle.stop(true).await;
    // The message in flight is delivered and recorded; the other two are given back, unsent and
    // with no attempt counted, for any instance to send at once.
    sink.wait_until(Duration::from_secs(10), || {
        count_rows(&app, "mail_outbox", "sent_at IS NOT NULL") == 1
            && count_rows(
                &app,
                "mail_outbox",
                "leased_by IS NULL AND sent_at IS NULL AND attempts = 0",
            ) == 2
    })
    .await
    .unwrap_or_else(|| panic!("after shutdown: {} received", sink.all().len()));
    assert_eq!(sink.all().len(), 1);
    // And the stopped worker sends nothing more.
    actix_web::rt::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(sink.all().len(), 1);
}

/// Writes `count` notices to `{prefix}{n}@example.com` straight into the outbox, all due `in_secs`
/// from now, with bodies sealed as the server seals them (key derived from JWT_SECRET).
fn insert_due_mails(app: &TestApp, count: usize, prefix: &str, in_secs: i64) {
    let due = sql_time(in_secs);
    let bodies = portcullis_db::Sealer::derive(JWT_SECRET.as_bytes(), "portcullis outbox bodies v1");
    let rows: Vec<String> = (0..count)
        .map(|n| {
            let id = uuid::Uuid::now_v7().to_string();
            format!(
                "('{id}', 'notice_password_changed', '{prefix}{n}@example.com', '{prefix}{n}@example.com', \
                 'Mail {n}', '{text}', '{html}', '{due}', 0, '{due}')",
                text = bodies.seal(&id, format!("text {n}").as_bytes()),
                html = bodies.seal(&id, format!("<p>html {n}</p>").as_bytes()),
            )
        })
        .collect();
    execute_sql(
        app,
        &format!(
            "INSERT INTO mail_outbox (id, kind, recipient, recipient_key, subject, text_body, html_body, \
             created_at, attempts, next_attempt_at) VALUES {}",
            rows.join(", ")
        ),
    );
}
