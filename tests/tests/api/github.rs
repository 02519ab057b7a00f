//! GitHub sign-in against the local fake, driven as a browser would: following redirects by hand and
//! keeping cookies.

use portcullis_github_fake::{FakeEmail, FakeGithub, FakeUser};
use portcullis_tests::{access, spawn_app_with, TestApp, PASSWORD};
use reqwest::header::LOCATION;
use serde_json::{json, Value};

use crate::signup::problem;

const APP_CALLBACK: &str = "https://app.example.com/callback";
/// The application's PKCE pair (RFC 7636, appendix B): it keeps the verifier and sends the challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

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
