//! POST /auth/signup, and the request-body rules every route shares.

use futures_util::future::join_all;
use portcullis_tests::{access, field_codes, problem, spawn_app, PASSWORD};
use serde_json::{json, Value};

const SIGNUP: &str = "/api/v1/auth/signup";

#[actix_web::test]
async fn signing_up_returns_tokens_that_work() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            SIGNUP,
            &json!({"email": "Ada@Example.com", "password": PASSWORD, "display_name": "Ada"}),
            None,
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_expires_in"].as_i64().unwrap() > 29 * 24 * 3600);
    assert_eq!(tokens["user"]["email"], "Ada@Example.com");
    assert_eq!(tokens["user"]["display_name"], "Ada");
    assert!(tokens["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(uuid::Uuid::parse_str(tokens["session_id"].as_str().unwrap()).is_ok());

    let me: Value = app
        .get("/api/v1/me", Some(access(&tokens)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], tokens["user"]["id"]);
    assert_eq!(me["identities"], json!([]));
    assert_eq!(me["tenants"], json!([]));
}

#[actix_web::test]
async fn an_email_is_taken_whatever_its_letter_case() {
    let app = spawn_app().await;
    app.signup("grace@example.com").await;
    for email in ["grace@example.com", "GRACE@Example.COM", " grace@example.com "] {
        let response = app
            .post_json(SIGNUP, &json!({"email": email, "password": PASSWORD}), None)
            .await;
        problem(response, 409, "email_taken").await;
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
    let bodies: Vec<Value> = emails
        .iter()
        .map(|email| json!({"email": email, "password": PASSWORD}))
        .collect();
    let attempts = bodies.iter().map(|body| app.post_json(SIGNUP, body, None));
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
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
        let response = app.post_json(SIGNUP, &body, None).await;
        let problem = problem(response, 422, "validation_failed").await;
        let mut got = field_codes(&problem);
        got.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{body}");
    }
    let me = app.login("a@example.com", PASSWORD).await;
    assert_eq!(me.status(), 401, "nothing was created");
}

#[actix_web::test]
async fn fields_outside_the_contract_are_refused() {
    let app = spawn_app().await;
    for extra in ["id", "roles", "tenant_id", "created_at"] {
        let mut body = json!({"email": "eve@example.com", "password": PASSWORD});
        body[extra] = json!("x");
        let problem = problem(app.post_json(SIGNUP, &body, None).await, 422, "validation_failed").await;
        assert_eq!(
            field_codes(&problem),
            vec![(extra.to_string(), "unknown_field".to_string())]
        );
    }
    let missing = problem(
        app.post_json(SIGNUP, &json!({"email": "eve@example.com"}), None)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&missing),
        vec![("password".to_string(), "required".to_string())]
    );
}

#[actix_web::test]
async fn nul_bytes_are_a_validation_error_on_both_backends() {
    let app = spawn_app().await;
    let body = json!({"email": "nul@example.com", "password": PASSWORD, "display_name": "a\u{0}b"});
    let problem = problem(app.post_json(SIGNUP, &body, None).await, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        vec![("display_name".to_string(), "invalid_characters".to_string())]
    );
}

#[actix_web::test]
async fn malformed_wrongly_typed_and_oversized_bodies_get_their_own_status() {
    let app = spawn_app().await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url(SIGNUP))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(
        raw("{\"email\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    problem(
        raw("email=a", "application/x-www-form-urlencoded").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        app.client.post(app.url(SIGNUP)).body("{}").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let huge =
        json!({"email": "big@example.com", "password": PASSWORD, "display_name": "x".repeat(70 * 1024)});
    problem(app.post_json(SIGNUP, &huge, None).await, 413, "payload_too_large").await;
    let utf8_json = app
        .client
        .post(app.url(SIGNUP))
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"email": "charset@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(utf8_json.status(), 201, "a charset parameter is fine");
}

#[actix_web::test]
async fn look_alike_spellings_of_an_email_are_one_account() {
    let app = spawn_app().await;
    app.signup("ada@exämple.com").await;
    for spelling in [
        "ada@exa\u{308}mple.com", // the same é, decomposed
        "ada@xn--exmple-cua.com", // the domain in its IDNA form
        "\u{ff41}da@EXÄMPLE.com", // fullwidth a, upper case
    ] {
        let response = app
            .post_json(SIGNUP, &json!({"email": spelling, "password": PASSWORD}), None)
            .await;
        problem(response, 409, "email_taken").await;
        // Any spelling signs in to the one account.
        assert_eq!(app.login(spelling, PASSWORD).await.status(), 200, "{spelling:?}");
    }
}

#[actix_web::test]
async fn emails_with_invisible_characters_are_refused() {
    let app = spawn_app().await;
    app.signup("grace@example.com").await;
    for spelling in [
        "gr\u{200b}ace@example.com", // zero-width space
        "grace@exam\u{ad}ple.com",   // soft hyphen, which IDNA would silently drop
        "grace\u{200d}@example.com", // zero-width joiner
        "\u{202e}grace@example.com", // right-to-left override
    ] {
        let response = app
            .post_json(SIGNUP, &json!({"email": spelling, "password": PASSWORD}), None)
            .await;
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(
            field_codes(&body),
            [("email".to_string(), "invalid_characters".to_string())]
        );
    }
}
