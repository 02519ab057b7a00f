//! POST /auth/signup, and the request-body rules every route shares.

use futures_util::future::join_all;
use portcullis_tests::{field_codes, spawn_app, JsonExt, RequestHelper, Response, User, PASSWORD};
use serde_json::json;

const SIGNUP: &str = "/api/v1/auth/signup";

#[actix_web::test]
async fn signing_up_returns_tokens_that_work() {
    let app = spawn_app().await;
    let response = app
        .anonymous()
        .post(
            SIGNUP,
            &json!({"email": "Ada@Example.com", "password": PASSWORD, "display_name": "Ada"}),
        )
        .await;
    let tokens = response.expect(201);
    assert_eq!(response.header("cache-control"), "no-store");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_expires_in"].as_i64().expect("seconds") > 29 * 24 * 3600);
    assert_eq!(tokens["user"]["email"], "Ada@Example.com");
    assert_eq!(tokens["user"]["display_name"], "Ada");
    assert!(tokens.str_at("/user/created_at").ends_with('Z'));
    assert!(uuid::Uuid::parse_str(tokens.str_at("session_id")).is_ok());

    let ada = User::from_tokens(&app, tokens);
    let me = ada.get("/api/v1/me").await.expect(200);
    assert_eq!(me["id"], ada.id());
    assert_eq!(me["identities"], json!([]));
    assert_eq!(me["tenants"], json!([]));
}

#[actix_web::test]
async fn an_email_is_taken_whatever_its_letter_case() {
    let app = spawn_app().await;
    app.user("grace@example.com").await;
    for email in ["grace@example.com", "GRACE@Example.COM", " grace@example.com "] {
        app.anonymous()
            .post(SIGNUP, &json!({"email": email, "password": PASSWORD}))
            .await
            .expect_problem(409, "email_taken");
    }
}

#[actix_web::test]
async fn concurrent_sign_ups_in_different_cases_create_one_account() {
    let app = spawn_app().await;
    let emails = [
        "race@example.com",
        "RACE@example.com",
        "Race@Example.com",
        "race@EXAMPLE.com",
        "rAcE@example.com",
        "RACE@EXAMPLE.COM",
    ];
    let attempts = emails.iter().map(|email| {
        app.anonymous()
            .post(SIGNUP, &json!({"email": email, "password": PASSWORD}))
            .send()
    });
    let statuses: Vec<u16> = join_all(attempts).await.iter().map(Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
}

#[actix_web::test]
async fn every_policy_violation_is_reported_as_a_field_error() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            vec![("email", "invalid_email")],
        ),
        (
            json!({"email": "a@example.com", "password": "Short1!"}),
            vec![("password", "too_short"), ("password", "too_common")],
        ),
        (
            json!({"email": "a@example.com", "password": "password123456"}),
            vec![("password", "too_common")],
        ),
        (
            json!({"email": "margaret.h@example.com", "password": "Zq8!margaret.h#Lw3"}),
            vec![("password", "contains_email")],
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            vec![("password", "too_long")],
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "n".repeat(101)}),
            vec![("display_name", "too_long")],
        ),
        (
            json!({"email": "bad", "password": "short"}),
            vec![
                ("email", "invalid_email"),
                ("password", "too_common"),
                ("password", "too_short"),
            ],
        ),
    ];
    for (body, expected) in cases {
        let problem = app
            .anonymous()
            .post(SIGNUP, &body)
            .await
            .expect_problem(422, "validation_failed");
        let mut got = field_codes(&problem);
        got.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{body}");
    }
    let me = app.sign_in("a@example.com", PASSWORD).await;
    assert_eq!(me.status(), 401, "nothing was created: {me}");
}

#[actix_web::test]
async fn fields_outside_the_contract_are_refused() {
    let app = spawn_app().await;
    for extra in ["id", "roles", "tenant_id", "created_at"] {
        let mut body = json!({"email": "eve@example.com", "password": PASSWORD});
        body[extra] = json!("x");
        let problem = app
            .anonymous()
            .post(SIGNUP, &body)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(
            field_codes(&problem),
            vec![(extra.to_string(), "unknown_field".to_string())]
        );
    }
    let missing = app
        .anonymous()
        .post(SIGNUP, &json!({"email": "eve@example.com"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        field_codes(&missing),
        vec![("password".to_string(), "required".to_string())]
    );
}

#[actix_web::test]
async fn nul_bytes_are_a_validation_error_on_both_backends() {
    let app = spawn_app().await;
    let body = json!({"email": "nul@example.com", "password": PASSWORD, "display_name": "a\u{0}b"});
    let problem = app
        .anonymous()
        .post(SIGNUP, &body)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        field_codes(&problem),
        vec![("display_name".to_string(), "invalid_characters".to_string())]
    );
}

#[actix_web::test]
async fn malformed_wrongly_typed_and_oversized_bodies_get_their_own_status() {
    let app = spawn_app().await;
    let guest = app.anonymous();
    let raw = |body: &str, content_type: &str| {
        guest
            .request(reqwest::Method::POST, SIGNUP)
            .header("content-type", content_type)
            .body(body)
    };
    raw("{\"email\": ", "application/json")
        .await
        .expect_problem(400, "malformed_json");
    raw("email=a", "application/x-www-form-urlencoded")
        .await
        .expect_problem(415, "unsupported_media_type");
    guest
        .request(reqwest::Method::POST, SIGNUP)
        .body("{}")
        .await
        .expect_problem(415, "unsupported_media_type");
    let huge =
        json!({"email": "big@example.com", "password": PASSWORD, "display_name": "x".repeat(70 * 1024)});
    guest
        .post(SIGNUP, &huge)
        .await
        .expect_problem(413, "payload_too_large");
    let utf8_json = raw(
        &json!({"email": "charset@example.com", "password": PASSWORD}).to_string(),
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(
        utf8_json.status(),
        201,
        "a charset parameter is fine: {utf8_json}"
    );
}

#[actix_web::test]
async fn look_alike_spellings_of_an_email_are_one_account() {
    let app = spawn_app().await;
    app.user("ada@exämple.com").await;
    for spelling in [
        "ada@exa\u{308}mple.com", // the same é, decomposed
        "ada@xn--exmple-cua.com", // the domain in its IDNA form
        "\u{ff41}da@EXÄMPLE.com", // fullwidth a, upper case
    ] {
        app.anonymous()
            .post(SIGNUP, &json!({"email": spelling, "password": PASSWORD}))
            .await
            .expect_problem(409, "email_taken");
        // Any spelling signs in to the one account.
        let signed_in = app.sign_in(spelling, PASSWORD).await;
        assert_eq!(signed_in.status(), 200, "{spelling:?}: {signed_in}");
    }
}

#[actix_web::test]
async fn emails_with_invisible_characters_are_refused() {
    let app = spawn_app().await;
    app.user("grace@example.com").await;
    for spelling in [
        "gr\u{200b}ace@example.com", // zero-width space
        "grace@exam\u{ad}ple.com",   // soft hyphen, which IDNA would silently drop
        "grace\u{200d}@example.com", // zero-width joiner
        "\u{202e}grace@example.com", // right-to-left override
    ] {
        let body = app
            .anonymous()
            .post(SIGNUP, &json!({"email": spelling, "password": PASSWORD}))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(
            field_codes(&body),
            [("email".to_string(), "invalid_characters".to_string())]
        );
    }
}
