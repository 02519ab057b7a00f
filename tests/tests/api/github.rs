//! GitHub sign-in against the local fake, driven as a browser would: following redirects by hand and
//! keeping cookies.

use portcullis_github_fake::{FakeEmail, FakeGithub, FakeUser};
use portcullis_tests::{access, problem, spawn_app_with, TestApp, PASSWORD};
use reqwest::header::LOCATION;
use serde_json::{json, Value};

const APP_CALLBACK: &str = "https://app.example.com/callback";
/// The application's PKCE pair (RFC 7636, appendix B): it keeps the verifier and sends the challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A well-formed verifier that is not the one behind `CHALLENGE`.
const OTHER_VERIFIER: &str = "another-applications-verifier-0123456789abcdef";

fn users() -> Vec<FakeUser> {
    let user = |id: i64, login: &str, email: &str, verified: bool| FakeUser {
        id,
        login: login.into(),
        emails: vec![
            FakeEmail {
                email: format!("old-{email}"),
                primary: false,
                verified: true,
            },
            FakeEmail {
                email: email.into(),
                primary: true,
                verified,
            },
        ],
    };
    vec![
        user(583231, "octocat", "octocat@example.com", true),
        user(9001, "shadow", "shadow@example.com", false),
        user(4242, "twin", "twin@example.com", true),
        user(7777, "linker", "linker-gh@example.com", true),
    ]
}

async fn github_app() -> (TestApp, FakeGithub) {
    let fake = FakeGithub::start("test-client", "test-secret", users()).unwrap();
    let app = spawn_app_with(|vars| {
        vars.insert("GITHUB_CLIENT_ID".into(), "test-client".into());
        vars.insert("GITHUB_CLIENT_SECRET".into(), "test-secret".into());
        vars.insert(
            "GITHUB_AUTHORIZE_URL".into(),
            format!("{}/login/oauth/authorize", fake.url),
        );
        vars.insert(
            "GITHUB_TOKEN_URL".into(),
            format!("{}/login/oauth/access_token", fake.url),
        );
        vars.insert("GITHUB_API_URL".into(), fake.url.clone());
        vars.insert(
            "OAUTH_REDIRECT_ALLOWLIST".into(),
            format!("{APP_CALLBACK}, https://other.example.com/cb"),
        );
    })
    .await;
    (app, fake)
}

/// A browser: keeps cookies, follows nothing by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in_as(fake: &FakeGithub, login: &str) {
    let switched = reqwest::Client::new()
        .post(format!("{}/_fake/login", fake.url))
        .json(&json!({"login": login}))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 204);
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "expected a redirect");
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Our authorize redirect and GitHub's answer: returns the callback URL GitHub sent the browser to.
async fn until_callback(app: &TestApp, browser: &reqwest::Client, start: &str) -> String {
    let ours = browser.get(start).send().await.unwrap();
    assert_eq!(ours.headers()["cache-control"], "no-store");
    let to_github = location(&ours);
    assert!(
        to_github.contains("code_challenge_method=S256")
            && to_github.contains("scope=read%3Auser+user%3Aemail"),
        "{to_github}"
    );
    assert!(to_github.contains(&format!(
        "redirect_uri={}",
        urlencoded(&format!("{}/api/v1/auth/github/callback", app.address))
    )));
    location(&browser.get(&to_github).send().await.unwrap())
}

fn urlencoded(value: &str) -> String {
    value.replace(':', "%3A").replace('/', "%2F")
}

/// The authorize URL an application sends the browser to, with its S256 challenge.
fn authorize_path(redirect_uri: &str) -> String {
    format!(
        "/api/v1/auth/github/authorize?redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        urlencoded(redirect_uri)
    )
}

fn start_url(app: &TestApp) -> String {
    app.url(&authorize_path(APP_CALLBACK))
}

/// Runs the whole flow and returns where the application was sent back to.
async fn flow(app: &TestApp, browser: &reqwest::Client) -> reqwest::Url {
    let callback = until_callback(app, browser, &start_url(app)).await;
    let back = location(&browser.get(&callback).send().await.unwrap());
    assert!(back.starts_with(APP_CALLBACK), "{back}");
    reqwest::Url::parse(&back).unwrap()
}

fn param(url: &reqwest::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The application exchanges a login code with its verifier.
async fn exchange(app: &TestApp, code: &str) -> reqwest::Response {
    exchange_with(app, code, VERIFIER).await
}

async fn exchange_with(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/oauth/exchange",
        &json!({"login_code": code, "code_verifier": verifier}),
        None,
    )
    .await
}

#[actix_web::test]
async fn a_new_user_signs_in_and_comes_back_to_the_same_account() {
    let (app, _fake) = github_app().await;
    let back = flow(&app, &browser()).await;
    let code = param(&back, "login_code").expect("login code");
    let response = exchange(&app, &code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        tokens["user"]["email"], "octocat@example.com",
        "the verified primary email"
    );
    let me: Value = app
        .get("/api/v1/me", Some(access(&tokens)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["identities"][0]["provider"], "github");
    assert_eq!(me["identities"][0]["login"], "octocat");

    let again = flow(&app, &browser()).await;
    let second: Value = exchange(&app, &param(&again, "login_code").unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["user"]["id"], tokens["user"]["id"], "known by GitHub id");
    let events: Value = app
        .get("/api/v1/me/security-events", Some(access(&second)))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"identity.linked") && actions.contains(&"login.succeeded"),
        "{actions:?}"
    );
}

#[actix_web::test]
async fn a_missing_wrong_or_replayed_state_is_refused() {
    let (app, _fake) = github_app().await;
    // Missing: no flow cookie at all.
    let stranger = browser()
        .get(app.url("/api/v1/auth/github/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    problem(stranger, 400, "oauth_state_mismatch").await;

    // Wrong: a flow is under way, but the state does not match it.
    let tab = browser();
    let callback = until_callback(&app, &tab, &start_url(&app)).await;
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let code = param(&forged, "code").unwrap();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state");
    problem(
        tab.get(forged.as_str()).send().await.unwrap(),
        400,
        "oauth_state_mismatch",
    )
    .await;

    // Replayed: a finished flow's callback, even with a copy of the original cookie.
    let copy = browser();
    let started = copy.get(start_url(&app)).send().await.unwrap();
    let cookie = started.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let callback = location(&copy.get(location(&started)).send().await.unwrap());
    let first = copy.get(&callback).send().await.unwrap();
    assert!(param(&reqwest::Url::parse(&location(&first)).unwrap(), "login_code").is_some());
    problem(
        copy.get(&callback).send().await.unwrap(),
        400,
        "oauth_state_mismatch",
    )
    .await;
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let with_copied_cookie = replay
        .get(&callback)
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    problem(with_copied_cookie, 400, "oauth_state_mismatch").await;
}

#[actix_web::test]
async fn a_code_replayed_at_github_ends_in_an_error_without_tokens() {
    let (app, _fake) = github_app().await;
    let first = browser();
    let used_callback = until_callback(&app, &first, &start_url(&app)).await;
    assert!(param(
        &reqwest::Url::parse(&location(&first.get(&used_callback).send().await.unwrap())).unwrap(),
        "login_code"
    )
    .is_some());
    let used_code = param(&reqwest::Url::parse(&used_callback).unwrap(), "code").unwrap();

    let second = browser();
    let fresh = reqwest::Url::parse(&until_callback(&app, &second, &start_url(&app)).await).unwrap();
    let mut replayed = fresh.clone();
    let state = param(&fresh, "state").unwrap();
    replayed
        .query_pairs_mut()
        .clear()
        .append_pair("code", &used_code)
        .append_pair("state", &state);
    let back = reqwest::Url::parse(&location(&second.get(replayed.as_str()).send().await.unwrap())).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("oauth_exchange_failed"));
    assert!(param(&back, "login_code").is_none());
}

#[actix_web::test]
async fn redirect_uris_must_be_allowlisted_and_github_configured() {
    let (app, _fake) = github_app().await;
    for target in [
        "https://evil.example.net/callback",
        "https://app.example.com/callback/../steal",
        "https://app.example.com/callback?x=1",
    ] {
        let response = browser()
            .get(app.url(&authorize_path(target)))
            .send()
            .await
            .unwrap();
        problem(response, 400, "invalid_redirect_uri").await;
    }
    let plain = portcullis_tests::spawn_app().await;
    let response = browser()
        .get(plain.url(&authorize_path(APP_CALLBACK)))
        .send()
        .await
        .unwrap();
    problem(response, 404, "provider_not_configured").await;
    let user = plain.signup("nolink@example.com").await;
    problem(
        complete_link(&plain, "made-up", access(&user)).await,
        404,
        "provider_not_configured",
    )
    .await;
}

#[actix_web::test]
async fn unverified_emails_and_existing_local_accounts_are_not_signed_in() {
    let (app, fake) = github_app().await;
    sign_in_as(&fake, "shadow").await;
    let back = flow(&app, &browser()).await;
    assert_eq!(param(&back, "error").as_deref(), Some("github_email_unverified"));
    assert_eq!(
        app.login("shadow@example.com", PASSWORD).await.status(),
        401,
        "no account was created"
    );

    let local = app.signup("twin@example.com").await;
    sign_in_as(&fake, "twin").await;
    let back = flow(&app, &browser()).await;
    assert_eq!(param(&back, "error").as_deref(), Some("account_exists"));
    assert!(param(&back, "login_code").is_none());
    let me: Value = app
        .get("/api/v1/me", Some(access(&local)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["identities"], json!([]), "nothing was linked");
}

/// POST /auth/github/link as the holder of `token`: the URL to open in a browser.
async fn start_link(app: &TestApp, token: &str) -> String {
    let started = app
        .request(
            reqwest::Method::POST,
            &format!(
                "/api/v1/auth/github/link?redirect_uri={}",
                urlencoded(APP_CALLBACK)
            ),
            Some(token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    started.json::<Value>().await.unwrap()["authorize_url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Opens a link URL in a fresh browser (signed in at GitHub as the fake's current user) and returns
/// where the application was sent back to.
async fn finish_in_browser(app: &TestApp, authorize_url: &str) -> reqwest::Url {
    let tab = browser();
    let callback = until_callback(app, &tab, authorize_url).await;
    let back = location(&tab.get(&callback).send().await.unwrap());
    assert!(back.starts_with(APP_CALLBACK), "{back}");
    reqwest::Url::parse(&back).unwrap()
}

/// A whole link flow started by the holder of `token`, up to the application's callback.
async fn link_flow(app: &TestApp, token: &str) -> reqwest::Url {
    let authorize_url = start_link(app, token).await;
    finish_in_browser(app, &authorize_url).await
}

async fn complete_link(app: &TestApp, code: &str, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/github/link/complete",
        &json!({"link_code": code}),
        Some(token),
    )
    .await
}

async fn identities(app: &TestApp, tokens: &Value) -> Value {
    let me: Value = app
        .get("/api/v1/me", Some(access(tokens)))
        .await
        .json()
        .await
        .unwrap();
    me["identities"].clone()
}

async fn delete_account(app: &TestApp, tokens: &Value) {
    let deleted = app
        .request(reqwest::Method::DELETE, "/api/v1/me", Some(access(tokens)))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

#[actix_web::test]
async fn linking_unlinking_and_the_last_login_method() {
    let (app, fake) = github_app().await;
    let local = app.signup("linker@example.com").await;
    sign_in_as(&fake, "linker").await;
    let back = link_flow(&app, access(&local)).await;
    let code = param(&back, "link_code").expect("link code");
    assert_eq!(
        identities(&app, &local).await,
        json!([]),
        "the callback links nothing"
    );
    let completed = complete_link(&app, &code, access(&local)).await;
    assert_eq!(completed.status(), 200);
    let linked: Value = completed.json().await.unwrap();
    assert_eq!(linked["identities"][0]["provider"], "github");
    assert_eq!(linked["identities"][0]["login"], "linker");
    let me: Value = app
        .get("/api/v1/me", Some(access(&local)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["identities"], linked["identities"], "the same body as GET /me");
    let events: Value = app
        .get("/api/v1/me/security-events", Some(access(&local)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["action"], "identity.linked");
    // GitHub now signs this account in.
    let via_github: Value = exchange(&app, &param(&flow(&app, &browser()).await, "login_code").unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(via_github["user"]["id"], local["user"]["id"]);

    // Another account cannot take the same GitHub account.
    let other = app.signup("someone@example.com").await;
    let refused = link_flow(&app, access(&other)).await;
    let code = param(&refused, "link_code").unwrap();
    problem(
        complete_link(&app, &code, access(&other)).await,
        409,
        "identity_in_use",
    )
    .await;
    assert_eq!(identities(&app, &other).await, json!([]));

    let unlinked = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/identities/github",
            Some(access(&local)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 204);
    let me: Value = app
        .get("/api/v1/me", Some(access(&local)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["identities"], json!([]));
    let again = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/identities/github",
            Some(access(&local)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // An account that signs in only with GitHub keeps its only way in.
    sign_in_as(&fake, "octocat").await;
    let github_only: Value = exchange(&app, &param(&flow(&app, &browser()).await, "login_code").unwrap())
        .await
        .json()
        .await
        .unwrap();
    let refused = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/identities/github",
            Some(access(&github_only)),
        )
        .send()
        .await
        .unwrap();
    problem(refused, 409, "last_login_method").await;
}

#[actix_web::test]
async fn a_login_code_works_once_and_for_sixty_seconds() {
    let (app, _fake) = github_app().await;
    let code = param(&flow(&app, &browser()).await, "login_code").unwrap();
    let first = exchange(&app, &code).await;
    assert_eq!(first.status(), 200, "{:?}", first.text().await);
    problem(exchange(&app, &code).await, 401, "invalid_login_code").await;
    problem(exchange(&app, "made-up").await, 401, "invalid_login_code").await;

    let late = param(&flow(&app, &browser()).await, "login_code").unwrap();
    let past = portcullis_tests::sql_time(-61);
    portcullis_tests::execute_sql(
        &app,
        &format!("UPDATE login_codes SET expires_at = '{past}' WHERE used_at IS NULL"),
    );
    problem(exchange(&app, &late).await, 401, "invalid_login_code").await;
}

#[actix_web::test]
async fn a_sign_in_needs_the_applications_s256_challenge() {
    let (app, _fake) = github_app().await;
    let redirect = urlencoded(APP_CALLBACK);
    for (query, field, code) in [
        (String::new(), "code_challenge", "required"),
        (
            format!("&code_challenge={VERIFIER}&code_challenge_method=plain"),
            "code_challenge_method",
            "unsupported",
        ),
        (
            format!("&code_challenge={CHALLENGE}"),
            "code_challenge_method",
            "required",
        ),
        (
            "&code_challenge=too-short&code_challenge_method=S256".to_owned(),
            "code_challenge",
            "invalid",
        ),
        (
            format!("&code_challenge={CHALLENGE}%3D&code_challenge_method=S256"),
            "code_challenge",
            "invalid",
        ),
    ] {
        let response = browser()
            .get(app.url(&format!(
                "/api/v1/auth/github/authorize?redirect_uri={redirect}{query}"
            )))
            .send()
            .await
            .unwrap();
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{query}: {body}");
    }
}

#[actix_web::test]
async fn any_failed_exchange_spends_the_login_code() {
    let (app, _fake) = github_app().await;
    // Login CSRF: a code obtained for one application (or planted by an attacker) is useless to a
    // party without its verifier, and one wrong guess ends it.
    let code = param(&flow(&app, &browser()).await, "login_code").unwrap();
    problem(
        exchange_with(&app, &code, OTHER_VERIFIER).await,
        401,
        "invalid_login_code",
    )
    .await;
    problem(exchange(&app, &code).await, 401, "invalid_login_code").await;

    // A verifier that is not even well-formed, or none at all, spends it just the same.
    let too_long = "a".repeat(129);
    for bad in [CHALLENGE, "short", too_long.as_str()] {
        let code = param(&flow(&app, &browser()).await, "login_code").unwrap();
        problem(exchange_with(&app, &code, bad).await, 401, "invalid_login_code").await;
        problem(exchange(&app, &code).await, 401, "invalid_login_code").await;
    }
    let code = param(&flow(&app, &browser()).await, "login_code").unwrap();
    let missing = app
        .post_json("/api/v1/auth/oauth/exchange", &json!({"login_code": code}), None)
        .await;
    let body = problem(missing, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "code_verifier");
    problem(exchange(&app, &code).await, 401, "invalid_login_code").await;
}

#[actix_web::test]
async fn only_the_user_who_started_a_link_can_complete_it() {
    let (app, fake) = github_app().await;
    let attacker = app.signup("attacker@example.com").await;
    let victim = app.signup("victim@example.com").await;
    // The attacker starts a link and gets the victim to open the URL; the victim is signed in at
    // GitHub, so the flow runs with the victim's GitHub account, in the victim's browser.
    let lure = start_link(&app, access(&attacker)).await;
    sign_in_as(&fake, "linker").await;
    let back = finish_in_browser(&app, &lure).await;
    let code = param(&back, "link_code").expect("link code");
    assert!(param(&back, "linked").is_none() && param(&back, "error").is_none());
    assert_eq!(
        identities(&app, &attacker).await,
        json!([]),
        "the callback links nothing"
    );

    // The victim's application completes with the victim's token: refused, and the code is spent.
    problem(
        complete_link(&app, &code, access(&victim)).await,
        403,
        "link_user_mismatch",
    )
    .await;
    problem(
        complete_link(&app, &code, access(&attacker)).await,
        400,
        "invalid_link_code",
    )
    .await;
    assert_eq!(identities(&app, &attacker).await, json!([]));
    assert_eq!(identities(&app, &victim).await, json!([]));

    // The mirror case: the victim starts, someone else presents the code first.
    let back = link_flow(&app, access(&victim)).await;
    let code = param(&back, "link_code").unwrap();
    problem(
        complete_link(&app, &code, access(&attacker)).await,
        403,
        "link_user_mismatch",
    )
    .await;
    problem(
        complete_link(&app, &code, access(&victim)).await,
        400,
        "invalid_link_code",
    )
    .await;
    assert_eq!(identities(&app, &victim).await, json!([]));

    // Only a user's access token completes a link, never an API key, never nobody.
    let tenant = app.create_tenant(access(&victim), "links").await;
    let key: Value = app
        .post_json(
            &format!("/api/v1/tenants/{}/api-keys", tenant["id"].as_str().unwrap()),
            &json!({"name": "k", "scopes": ["projects:read"]}),
            Some(access(&victim)),
        )
        .await
        .json()
        .await
        .unwrap();
    let code = param(&link_flow(&app, access(&victim)).await, "link_code").unwrap();
    problem(
        complete_link(&app, &code, key["key"].as_str().unwrap()).await,
        403,
        "forbidden",
    )
    .await;
    let anonymous = app
        .post_json(
            "/api/v1/auth/github/link/complete",
            &json!({"link_code": code}),
            None,
        )
        .await;
    assert_eq!(anonymous.status(), 401);
    // Neither spent the code: the user who started the flow still completes it.
    let completed = complete_link(&app, &code, access(&victim)).await;
    assert_eq!(completed.status(), 200);
    let linked: Value = completed.json().await.unwrap();
    assert_eq!(linked["identities"][0]["login"], "linker");
}

#[actix_web::test]
async fn a_link_code_is_single_use_and_lives_five_minutes() {
    let (app, fake) = github_app().await;
    let user = app.signup("linker@example.com").await;
    sign_in_as(&fake, "linker").await;
    problem(
        complete_link(&app, "made-up", access(&user)).await,
        400,
        "invalid_link_code",
    )
    .await;

    let code = param(&link_flow(&app, access(&user)).await, "link_code").unwrap();
    let in_five_minutes = portcullis_tests::execute_sql(
        &app,
        &format!(
            "UPDATE link_codes SET login = login WHERE expires_at > '{}' AND expires_at <= '{}'",
            portcullis_tests::sql_time(290),
            portcullis_tests::sql_time(301)
        ),
    );
    assert_eq!(
        in_five_minutes, 1,
        "the code expires five minutes after the callback"
    );
    assert_eq!(complete_link(&app, &code, access(&user)).await.status(), 200);
    problem(
        complete_link(&app, &code, access(&user)).await,
        400,
        "invalid_link_code",
    )
    .await;

    // Unlink, run the flow again, and let the code expire.
    let unlinked = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/identities/github",
            Some(access(&user)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 204);
    let late = param(&link_flow(&app, access(&user)).await, "link_code").unwrap();
    portcullis_tests::execute_sql(
        &app,
        &format!(
            "UPDATE link_codes SET expires_at = '{}' WHERE used_at IS NULL",
            portcullis_tests::sql_time(-1)
        ),
    );
    problem(
        complete_link(&app, &late, access(&user)).await,
        400,
        "invalid_link_code",
    )
    .await;
    assert_eq!(identities(&app, &user).await, json!([]));
}

#[actix_web::test]
async fn a_user_deleted_during_a_link_flow_gets_no_server_error() {
    let (app, fake) = github_app().await;
    sign_in_as(&fake, "linker").await;

    // Deleted between the authorize redirect and the callback: the application hears of it.
    let gone = app.signup("gone-before-callback@example.com").await;
    let tab = browser();
    let callback = until_callback(&app, &tab, &start_link(&app, access(&gone)).await).await;
    delete_account(&app, &gone).await;
    let answer = tab.get(&callback).send().await.unwrap();
    let back = reqwest::Url::parse(&location(&answer)).unwrap();
    assert!(back.as_str().starts_with(APP_CALLBACK), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("account_not_found"));
    assert!(param(&back, "link_code").is_none());

    // Deleted between the callback and link/complete: their token is refused like any token of a
    // deleted user, and the code died with the account.
    let gone = app.signup("gone-before-complete@example.com").await;
    let code = param(&link_flow(&app, access(&gone)).await, "link_code").unwrap();
    delete_account(&app, &gone).await;
    let refused = complete_link(&app, &code, access(&gone)).await;
    assert_eq!(refused.status(), 401);
    let other = app.signup("bystander@example.com").await;
    problem(
        complete_link(&app, &code, access(&other)).await,
        400,
        "invalid_link_code",
    )
    .await;

    // Deleted before the browser even opened the link URL.
    let gone = app.signup("gone-before-authorize@example.com").await;
    let lure = start_link(&app, access(&gone)).await;
    delete_account(&app, &gone).await;
    let response = browser().get(&lure).send().await.unwrap();
    problem(response, 400, "invalid_link_ticket").await;
}
