//! Multi-factor sign-in over HTTP: enrolment, the challenge after the first factor, `amr` in access
//! tokens, replay, recovery codes, the throttle, and the tenant policy. Codes are computed from the
//! secret the enrolment returned, with totp-rs, at explicit 30-second steps.

use portcullis_tests::{
    amr, count_rows, execute_sql, fresh_step, spawn_app, sql_time, totp_code as code,
    wrong_totp_code as wrong_code, JsonExt, RequestHelper, TestApp, User, PASSWORD,
};
use serde_json::json;

/// Enrols `user` and confirms with the code of `step`; returns the secret and the recovery codes.
pub(crate) async fn enable_mfa(user: &User<'_>, step: u64) -> (String, Vec<String>) {
    let enrolment = user
        .post("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect(200);
    let secret = enrolment.str_at("secret").to_owned();
    let confirmed = user
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(&secret, step)}),
        )
        .await
        .expect(200);
    let codes = confirmed["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    (secret, codes)
}

/// Signs in with the password and returns the `mfa_token` of the 401 `mfa_required`.
async fn first_factor(app: &TestApp, email: &str) -> String {
    let challenge = app
        .sign_in(email, PASSWORD)
        .await
        .expect_problem(401, "mfa_required");
    assert!(
        challenge.get("access_token").is_none(),
        "no tokens before the second factor"
    );
    challenge.str_at("mfa_token").to_owned()
}

pub(crate) fn second_factor(app: &TestApp, mfa_token: &str, code: &str) -> portcullis_tests::Request {
    app.anonymous().post(
        "/api/v1/auth/mfa/verify",
        &json!({"mfa_token": mfa_token, "code": code}),
    )
}

#[actix_web::test]
async fn enrol_confirm_sign_in_with_a_code_refresh_keeps_amr_then_disable() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let ada = app.user("ada@example.com").await;
    assert_eq!(ada.tokens()["user"]["mfa_enabled"], false);
    assert_eq!(amr(ada.tokens()), json!(["pwd"]));

    ada.post(
        "/api/v1/me/mfa/totp",
        &json!({"password": "not the password at all"}),
    )
    .await
    .expect_problem(401, "invalid_credentials");
    let enrolment = ada
        .post("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(enrolment.header("cache-control"), "no-store");
    let enrolment = enrolment.expect(200);
    let secret = enrolment.str_at("secret").to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolment.str_at("otpauth_uri");
    assert!(
        uri.starts_with("otpauth://totp/Portcullis:ada@example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    // Stored sealed: the secret is nowhere in the database in the clear.
    assert_eq!(
        count_rows(&app, "totp_factors", &format!("secret_sealed LIKE '%{secret}%'")),
        0
    );
    assert_eq!(
        ada.get("/api/v1/me").await.expect(200)["mfa_enabled"],
        false,
        "pending"
    );

    ada.post(
        "/api/v1/me/mfa/totp/confirm",
        &json!({"code": wrong_code(&secret, base)}),
    )
    .await
    .expect_problem(400, "invalid_code");
    let confirmed = ada
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(&secret, base - 1)}),
        )
        .await
        .expect(200);
    assert_eq!(confirmed["recovery_codes"].as_array().map(Vec::len), Some(10));
    assert_eq!(ada.get("/api/v1/me").await.expect(200)["mfa_enabled"], true);
    let events = ada.security_events().await;
    assert!(events.contains(&"mfa.enabled".to_owned()), "{events:?}");
    assert!(events.contains(&"mfa.failed".to_owned()), "{events:?}");
    app.mail_file_with(&["To: ada@example.com", "Subject: Two-factor sign-in is on"])
        .await;

    let mfa_token = first_factor(&app, "ada@example.com").await;
    let signed_in = second_factor(&app, &mfa_token, &code(&secret, base))
        .await
        .expect(200);
    assert_eq!(amr(&signed_in), json!(["pwd", "otp"]));
    assert_eq!(signed_in["user"]["mfa_enabled"], true);
    // The token is single-use.
    second_factor(&app, &mfa_token, &code(&secret, base + 1))
        .await
        .expect_problem(401, "invalid_mfa_token");
    let refreshed = app
        .anonymous()
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": signed_in.str_at("refresh_token")}),
        )
        .await
        .expect(200);
    assert_eq!(
        amr(&refreshed),
        json!(["pwd", "otp"]),
        "the session remembers its amr"
    );

    let ada = User::from_tokens(&app, refreshed);
    ada.delete("/api/v1/me/mfa/totp")
        .json(&json!({"code": wrong_code(&secret, base)}))
        .await
        .expect_problem(400, "invalid_code");
    ada.delete("/api/v1/me/mfa/totp")
        .json(&json!({"code": code(&secret, base + 1)}))
        .await
        .expect(204);
    assert!(ada.security_events().await.contains(&"mfa.disabled".to_owned()));
    let plain = app.login_as("ada@example.com", PASSWORD).await;
    assert_eq!(amr(plain.tokens()), json!(["pwd"]));
    assert_eq!(count_rows(&app, "recovery_codes", "1 = 1"), 0);
    plain
        .delete("/api/v1/me/mfa/totp")
        .json(&json!({"code": "123456"}))
        .await
        .expect_problem(409, "mfa_not_enabled");
}

#[actix_web::test]
async fn a_replayed_step_is_refused_and_a_recovery_code_works_once() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let bo = app.user("bo@example.com").await;
    let (secret, recovery) = enable_mfa(&bo, base - 1).await;
    bo.post("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect_problem(409, "mfa_already_enabled");

    let first = first_factor(&app, "bo@example.com").await;
    let ahead = code(&secret, base + 1);
    second_factor(&app, &first, &ahead).await.expect(200);
    let again = first_factor(&app, "bo@example.com").await;
    second_factor(&app, &again, &ahead)
        .await
        .expect_problem(400, "invalid_code");
    // A step never used but older than the accepted one is refused too: steps only move forward.
    second_factor(&app, &again, &code(&secret, base))
        .await
        .expect_problem(400, "invalid_code");

    // A recovery code, typed in upper case with spaces, once.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let with_recovery = second_factor(&app, &again, &typed).await.expect(200);
    assert_eq!(amr(&with_recovery), json!(["pwd", "otp"]));
    let third = first_factor(&app, "bo@example.com").await;
    second_factor(&app, &third, &recovery[3])
        .await
        .expect_problem(400, "invalid_code");
    second_factor(&app, &third, &recovery[4]).await.expect(200);
}

#[actix_web::test]
async fn six_wrong_codes_give_429_even_for_the_right_one() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let cy = app.user("cy@example.com").await;
    let (secret, _) = enable_mfa(&cy, base - 1).await;
    let mfa_token = first_factor(&app, "cy@example.com").await;
    let wrong = wrong_code(&secret, base);
    for _ in 0..5 {
        second_factor(&app, &mfa_token, &wrong)
            .await
            .expect_problem(400, "invalid_code");
    }
    let refused = second_factor(&app, &mfa_token, &code(&secret, base)).await;
    refused.expect_problem(429, "mfa_throttled");
    assert!(!refused.header("retry-after").is_empty());
    // The password back-off is separate: the first factor still answers.
    first_factor(&app, "cy@example.com").await;
    assert_eq!(
        cy.security_events()
            .await
            .iter()
            .filter(|a| *a == "mfa.failed")
            .count(),
        5
    );
}

#[actix_web::test]
async fn an_mfa_token_expires_and_unknown_ones_are_refused() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let dee = app.user("dee@example.com").await;
    let (secret, _) = enable_mfa(&dee, base - 1).await;
    let mfa_token = first_factor(&app, "dee@example.com").await;
    execute_sql(
        &app,
        &format!("UPDATE mfa_challenges SET expires_at = '{}'", sql_time(-1)),
    );
    second_factor(&app, &mfa_token, &code(&secret, base))
        .await
        .expect_problem(401, "invalid_mfa_token");
    second_factor(&app, "not-a-token", &code(&secret, base))
        .await
        .expect_problem(401, "invalid_mfa_token");
    let fresh = first_factor(&app, "dee@example.com").await;
    second_factor(&app, &fresh, &code(&secret, base))
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_tenant_that_requires_mfa_refuses_aal1_members_but_not_api_keys() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("strict").await;
    let member = owner.new_member(&tenant, "member@example.com", &["editor"]).await;
    let key = owner
        .create_api_key(&tenant, &json!({"name": "ci", "scopes": ["projects:read"]}))
        .await;
    owner
        .post(&tenant.path("/projects"), &json!({"name": "Roadmap"}))
        .await
        .expect(201);

    // Requiring MFA needs a sign-in that had it, so an admin cannot lock themself out.
    owner
        .patch(&tenant.path(""), &json!({"require_mfa": true}))
        .await
        .expect_problem(403, "mfa_required_by_tenant");
    let (secret, _) = enable_mfa(&owner, base - 1).await;
    let mfa_token = first_factor(&app, "owner@example.com").await;
    let owner = User::from_tokens(
        &app,
        second_factor(&app, &mfa_token, &code(&secret, base))
            .await
            .expect(200),
    );
    let updated = owner
        .patch(&tenant.path(""), &json!({"require_mfa": true}))
        .await
        .expect(200);
    assert_eq!(updated["require_mfa"], true);
    assert_eq!(updated["name"], "Tenant strict", "the name is unchanged");
    // An empty patch changes nothing (and records nothing).
    let same = owner.patch(&tenant.path(""), &json!({})).await.expect(200);
    assert_eq!(same["require_mfa"], true);
    owner.get(&tenant.path("/projects")).await.expect(200);

    member
        .get(&tenant.path("/projects"))
        .await
        .expect_problem(403, "mfa_required_by_tenant");
    member
        .get(&tenant.path(""))
        .await
        .expect_problem(403, "mfa_required_by_tenant");
    key.get(&tenant.path("/projects")).await.expect(200);
    // Other tenants and non-members are unaffected: a stranger still gets 404.
    let stranger = app.user("stranger@example.com").await;
    stranger
        .get(&tenant.path(""))
        .await
        .expect_problem(404, "not_found");

    let base = fresh_step().await;
    let (member_secret, _) = enable_mfa(member.user(), base - 1).await;
    let mfa_token = first_factor(&app, "member@example.com").await;
    let member = User::from_tokens(
        &app,
        second_factor(&app, &mfa_token, &code(&member_secret, base))
            .await
            .expect(200),
    );
    member.get(&tenant.path("/projects")).await.expect(200);
    let audit = owner.audit_actions(&tenant, "&action=tenant.updated").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
}

#[actix_web::test]
async fn mfa_bodies_are_validated_and_change_nothing() {
    let app = spawn_app().await;
    let eve = app.user("eve@example.com").await;
    eve.post("/api/v1/me/mfa/totp/confirm", &json!({"code": "123456"}))
        .await
        .expect_problem(400, "invalid_code");
    for (path, body) in [
        ("/api/v1/me/mfa/totp/confirm", json!({})),
        ("/api/v1/me/mfa/totp/confirm", json!({"code": ""})),
        (
            "/api/v1/me/mfa/totp",
            json!({"password": PASSWORD, "secret": "AAAA"}),
        ),
    ] {
        eve.post(path, &body)
            .await
            .expect_problem(422, "validation_failed");
    }
    app.anonymous()
        .post("/api/v1/auth/mfa/verify", &json!({"mfa_token": "x"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(count_rows(&app, "totp_factors", "1 = 1"), 0);
    assert_eq!(eve.get("/api/v1/me").await.expect(200)["mfa_enabled"], false);
}

#[actix_web::test]
async fn recovery_codes_are_regenerated_as_a_set_with_a_totp_only() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let gil = app.user("gil@example.com").await;
    let (secret, old) = enable_mfa(&gil, base - 1).await;
    gil.post("/api/v1/me/mfa/recovery-codes", &json!({"code": old[0]}))
        .await
        .expect_problem(400, "invalid_code");
    let fresh = gil
        .post(
            "/api/v1/me/mfa/recovery-codes",
            &json!({"code": code(&secret, base)}),
        )
        .await
        .expect(200);
    let fresh: Vec<&str> = fresh["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("a code"))
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !old.iter().any(|o| o == c)));
    let mfa_token = first_factor(&app, "gil@example.com").await;
    second_factor(&app, &mfa_token, &old[1])
        .await
        .expect_problem(400, "invalid_code");
    second_factor(&app, &mfa_token, fresh[0]).await.expect(200);
    assert!(gil
        .security_events()
        .await
        .contains(&"recovery_codes.regenerated".to_owned()));
}

#[actix_web::test]
async fn one_code_sent_twice_at_once_signs_in_once() {
    let app = spawn_app().await;
    let base = fresh_step().await;
    let fin = app.user("fin@example.com").await;
    let (secret, _) = enable_mfa(&fin, base - 1).await;
    let first = first_factor(&app, "fin@example.com").await;
    let second = first_factor(&app, "fin@example.com").await;
    let now = code(&secret, base);
    let (a, b) = futures_util::future::join(
        second_factor(&app, &first, &now).send(),
        second_factor(&app, &second, &now).send(),
    )
    .await;
    let mut statuses = [a.status(), b.status()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{a}\n{b}");
}
