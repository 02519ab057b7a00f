//! GitHub sign-in against the local fake, driven as a browser would: following redirects by hand and
//! keeping cookies.

use portcullis_github_fake::{FakeEmail, FakeGithub, FakeUser};
use portcullis_tests::{
    action_names, spawn_app, spawn_app_with, Browser, JsonExt, Request, RequestHelper, TestApp, User,
    PASSWORD,
};
use reqwest::Url;
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
    let fake = FakeGithub::start("test-client", "test-secret", users()).expect("the fake GitHub starts");
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

async fn sign_in_as(fake: &FakeGithub, login: &str) {
    Browser::new()
        .post(&format!("{}/_fake/login", fake.url), &json!({ "login": login }))
        .await
        .expect(204);
}

#[track_caller]
fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|err| panic!("{text:?} is not a URL: {err}"))
}

/// Our authorize redirect and GitHub's answer: returns the callback URL GitHub sent the browser to.
async fn until_callback(app: &TestApp, browser: &Browser, start: &str) -> String {
    let ours = browser.get(start).await;
    assert_eq!(ours.header("cache-control"), "no-store");
    let to_github = ours.expect_redirect();
    assert!(
        to_github.contains("code_challenge_method=S256")
            && to_github.contains("scope=read%3Auser+user%3Aemail"),
        "{to_github}"
    );
    assert!(to_github.contains(&format!(
        "redirect_uri={}",
        urlencoded(&format!("{}/api/v1/auth/github/callback", app.address))
    )));
    browser.get(to_github).await.expect_redirect().to_owned()
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
async fn flow(app: &TestApp, browser: &Browser) -> Url {
    let callback = until_callback(app, browser, &start_url(app)).await;
    let back = browser.get(&callback).await.expect_redirect().to_owned();
    assert!(back.starts_with(APP_CALLBACK), "{back}");
    url(&back)
}

fn param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The query parameter `key` of `url`, which must be there.
#[track_caller]
fn required(url: &Url, key: &str) -> String {
    param(url, key).unwrap_or_else(|| panic!("no {key} in {url}"))
}

/// A whole sign-in flow in a fresh browser, up to the login code the application receives.
async fn login_code(app: &TestApp) -> String {
    required(&flow(app, &Browser::new()).await, "login_code")
}

/// The application exchanges a login code with its verifier.
fn exchange(app: &TestApp, code: &str) -> Request {
    exchange_with(app, code, VERIFIER)
}

fn exchange_with(app: &TestApp, code: &str, verifier: &str) -> Request {
    app.anonymous().post(
        "/api/v1/auth/oauth/exchange",
        &json!({"login_code": code, "code_verifier": verifier}),
    )
}

#[actix_web::test]
async fn a_new_user_signs_in_and_comes_back_to_the_same_account() {
    let (app, _fake) = github_app().await;
    let back = flow(&app, &Browser::new()).await;
    let code = required(&back, "login_code");
    let response = exchange(&app, &code).await;
    let octocat = User::from_tokens(&app, response.expect(200));
    assert_eq!(response.header("cache-control"), "no-store");
    assert_eq!(
        octocat.email(),
        "octocat@example.com",
        "the verified primary email"
    );
    let me = octocat.get("/api/v1/me").await.expect(200);
    assert_eq!(me["email_verified"], true, "GitHub verified the address");
    assert_eq!(me["identities"][0]["provider"], "github");
    assert_eq!(me["identities"][0]["login"], "octocat");

    let again = User::from_tokens(&app, exchange(&app, &login_code(&app).await).await.expect(200));
    assert_eq!(again.id(), octocat.id(), "known by GitHub id");
    let events = again.get("/api/v1/me/security-events").await.expect(200);
    let actions = action_names(&events);
    assert!(
        actions.iter().any(|a| a == "identity.linked") && actions.iter().any(|a| a == "login.succeeded"),
        "{actions:?}"
    );
}

#[actix_web::test]
async fn a_missing_wrong_or_replayed_state_is_refused() {
    let (app, _fake) = github_app().await;
    // Missing: no flow cookie at all.
    Browser::new()
        .get(&app.url("/api/v1/auth/github/callback?code=x&state=y"))
        .await
        .expect_problem(400, "oauth_state_mismatch");

    // Wrong: a flow is under way, but the state does not match it.
    let tab = Browser::new();
    let callback = until_callback(&app, &tab, &start_url(&app)).await;
    let mut forged = url(&callback);
    let code = required(&forged, "code");
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state");
    tab.get(forged.as_str())
        .await
        .expect_problem(400, "oauth_state_mismatch");

    // Replayed: a finished flow's callback, even with a copy of the original cookie.
    let copy = Browser::new();
    let started = copy.get(&start_url(&app)).await;
    let set_cookie = started.header("set-cookie");
    let cookie = set_cookie.split(';').next().unwrap_or(set_cookie).to_owned();
    let callback = copy
        .get(started.expect_redirect())
        .await
        .expect_redirect()
        .to_owned();
    let first = copy.get(&callback).await;
    assert!(param(&url(first.expect_redirect()), "login_code").is_some());
    copy.get(&callback)
        .await
        .expect_problem(400, "oauth_state_mismatch");
    Browser::cookieless()
        .get(&callback)
        .header("Cookie", &cookie)
        .await
        .expect_problem(400, "oauth_state_mismatch");
}

#[actix_web::test]
async fn a_code_replayed_at_github_ends_in_an_error_without_tokens() {
    let (app, _fake) = github_app().await;
    let first = Browser::new();
    let used_callback = until_callback(&app, &first, &start_url(&app)).await;
    assert!(param(
        &url(first.get(&used_callback).await.expect_redirect()),
        "login_code"
    )
    .is_some());
    let used_code = required(&url(&used_callback), "code");

    let second = Browser::new();
    let fresh = url(&until_callback(&app, &second, &start_url(&app)).await);
    let mut replayed = fresh.clone();
    let state = required(&fresh, "state");
    replayed
        .query_pairs_mut()
        .clear()
        .append_pair("code", &used_code)
        .append_pair("state", &state);
    let back = url(second.get(replayed.as_str()).await.expect_redirect());
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
        Browser::new()
            .get(&app.url(&authorize_path(target)))
            .await
            .expect_problem(400, "invalid_redirect_uri");
    }
    let plain = spawn_app().await;
    Browser::new()
        .get(&plain.url(&authorize_path(APP_CALLBACK)))
        .await
        .expect_problem(404, "provider_not_configured");
    let user = plain.user("nolink@example.com").await;
    complete_link(&user, "made-up")
        .await
        .expect_problem(404, "provider_not_configured");
}

#[actix_web::test]
async fn unverified_emails_and_existing_local_accounts_are_not_signed_in() {
    let (app, fake) = github_app().await;
    sign_in_as(&fake, "shadow").await;
    let back = flow(&app, &Browser::new()).await;
    assert_eq!(param(&back, "error").as_deref(), Some("github_email_unverified"));
    let refused = app.sign_in("shadow@example.com", PASSWORD).await;
    assert_eq!(refused.status(), 401, "no account was created: {refused}");

    let local = app.user("twin@example.com").await;
    sign_in_as(&fake, "twin").await;
    let back = flow(&app, &Browser::new()).await;
    assert_eq!(param(&back, "error").as_deref(), Some("account_exists"));
    assert!(param(&back, "login_code").is_none());
    let me = local.get("/api/v1/me").await.expect(200);
    assert_eq!(me["identities"], json!([]), "nothing was linked");
}

/// POST /auth/github/link as `who`: the URL to open in a browser.
async fn start_link(who: &User<'_>) -> String {
    let started = who
        .post(
            &format!(
                "/api/v1/auth/github/link?redirect_uri={}",
                urlencoded(APP_CALLBACK)
            ),
            None,
        )
        .await
        .expect(200);
    started.str_at("authorize_url").to_owned()
}

/// Opens a link URL in a fresh browser (signed in at GitHub as the fake's current user) and returns
/// where the application was sent back to.
async fn finish_in_browser(app: &TestApp, authorize_url: &str) -> Url {
    let tab = Browser::new();
    let callback = until_callback(app, &tab, authorize_url).await;
    let back = tab.get(&callback).await.expect_redirect().to_owned();
    assert!(back.starts_with(APP_CALLBACK), "{back}");
    url(&back)
}

/// A whole link flow started by `who`, up to the application's callback.
async fn link_flow(app: &TestApp, who: &User<'_>) -> Url {
    let authorize_url = start_link(who).await;
    finish_in_browser(app, &authorize_url).await
}

fn complete_link(who: &impl RequestHelper, code: &str) -> Request {
    who.post("/api/v1/auth/github/link/complete", &json!({ "link_code": code }))
}

async fn identities(who: &User<'_>) -> Value {
    let me = who.get("/api/v1/me").await.expect(200);
    me["identities"].clone()
}

async fn delete_account(who: &User<'_>) {
    who.delete("/api/v1/me")
        .json(&json!({ "password": PASSWORD }))
        .await
        .expect(204);
}

#[actix_web::test]
async fn linking_unlinking_and_the_last_login_method() {
    let (app, fake) = github_app().await;
    let local = app.user("linker@example.com").await;
    sign_in_as(&fake, "linker").await;
    let back = link_flow(&app, &local).await;
    let code = required(&back, "link_code");
    assert_eq!(identities(&local).await, json!([]), "the callback links nothing");
    let linked = complete_link(&local, &code).await.expect(200);
    assert_eq!(linked["identities"][0]["provider"], "github");
    assert_eq!(linked["identities"][0]["login"], "linker");
    let me = local.get("/api/v1/me").await.expect(200);
    assert_eq!(me["identities"], linked["identities"], "the same body as GET /me");
    let events = local.get("/api/v1/me/security-events").await.expect(200);
    assert_eq!(events["items"][0]["action"], "identity.linked");
    // The owner is told, at the account's address (the development transport writes .eml files).
    app.mail_file_with(&["To: linker@example.com", "Subject: A GitHub account was linked"])
        .await;
    // GitHub now signs this account in.
    let via_github = exchange(&app, &login_code(&app).await).await.expect(200);
    assert_eq!(via_github["user"]["id"], local.id());

    // Another account cannot take the same GitHub account.
    let other = app.user("someone@example.com").await;
    let refused = link_flow(&app, &other).await;
    complete_link(&other, &required(&refused, "link_code"))
        .await
        .expect_problem(409, "identity_in_use");
    assert_eq!(identities(&other).await, json!([]));

    local.delete("/api/v1/me/identities/github").await.expect(204);
    let me = local.get("/api/v1/me").await.expect(200);
    assert_eq!(me["identities"], json!([]));
    local.delete("/api/v1/me/identities/github").await.expect(404);

    // An account that signs in only with GitHub keeps its only way in.
    sign_in_as(&fake, "octocat").await;
    let github_only = User::from_tokens(&app, exchange(&app, &login_code(&app).await).await.expect(200));
    github_only
        .delete("/api/v1/me/identities/github")
        .await
        .expect_problem(409, "last_login_method");
}

#[actix_web::test]
async fn a_login_code_works_once_and_for_sixty_seconds() {
    let (app, _fake) = github_app().await;
    let code = login_code(&app).await;
    exchange(&app, &code).await.expect(200);
    exchange(&app, &code)
        .await
        .expect_problem(401, "invalid_login_code");
    exchange(&app, "made-up")
        .await
        .expect_problem(401, "invalid_login_code");

    let late = login_code(&app).await;
    let past = portcullis_tests::sql_time(-61);
    portcullis_tests::execute_sql(
        &app,
        &format!("UPDATE login_codes SET expires_at = '{past}' WHERE used_at IS NULL"),
    );
    exchange(&app, &late)
        .await
        .expect_problem(401, "invalid_login_code");
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
        let body = Browser::new()
            .get(&app.url(&format!(
                "/api/v1/auth/github/authorize?redirect_uri={redirect}{query}"
            )))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{query}: {body}");
    }
}

#[actix_web::test]
async fn any_failed_exchange_spends_the_login_code() {
    let (app, _fake) = github_app().await;
    // Login CSRF: a code obtained for one application (or planted by an attacker) is useless to a
    // party without its verifier, and one wrong guess ends it.
    let code = login_code(&app).await;
    exchange_with(&app, &code, OTHER_VERIFIER)
        .await
        .expect_problem(401, "invalid_login_code");
    exchange(&app, &code)
        .await
        .expect_problem(401, "invalid_login_code");

    // A verifier that is not even well-formed, or none at all, spends it just the same.
    let too_long = "a".repeat(129);
    for bad in [CHALLENGE, "short", too_long.as_str()] {
        let code = login_code(&app).await;
        exchange_with(&app, &code, bad)
            .await
            .expect_problem(401, "invalid_login_code");
        exchange(&app, &code)
            .await
            .expect_problem(401, "invalid_login_code");
    }
    let code = login_code(&app).await;
    let body = app
        .anonymous()
        .post("/api/v1/auth/oauth/exchange", &json!({ "login_code": code }))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "code_verifier");
    exchange(&app, &code)
        .await
        .expect_problem(401, "invalid_login_code");
}

#[actix_web::test]
async fn only_the_user_who_started_a_link_can_complete_it() {
    let (app, fake) = github_app().await;
    let attacker = app.user("attacker@example.com").await;
    let victim = app.user("victim@example.com").await;
    // The attacker starts a link and gets the victim to open the URL; the victim is signed in at
    // GitHub, so the flow runs with the victim's GitHub account, in the victim's browser.
    let lure = start_link(&attacker).await;
    sign_in_as(&fake, "linker").await;
    let back = finish_in_browser(&app, &lure).await;
    let code = required(&back, "link_code");
    assert!(param(&back, "linked").is_none() && param(&back, "error").is_none());
    assert_eq!(
        identities(&attacker).await,
        json!([]),
        "the callback links nothing"
    );

    // The victim's application completes with the victim's token: refused, and the code is spent.
    complete_link(&victim, &code)
        .await
        .expect_problem(403, "link_user_mismatch");
    complete_link(&attacker, &code)
        .await
        .expect_problem(400, "invalid_link_code");
    assert_eq!(identities(&attacker).await, json!([]));
    assert_eq!(identities(&victim).await, json!([]));

    // The mirror case: the victim starts, someone else presents the code first.
    let code = required(&link_flow(&app, &victim).await, "link_code");
    complete_link(&attacker, &code)
        .await
        .expect_problem(403, "link_user_mismatch");
    complete_link(&victim, &code)
        .await
        .expect_problem(400, "invalid_link_code");
    assert_eq!(identities(&victim).await, json!([]));

    // Only a user's access token completes a link, never an API key, never nobody.
    let tenant = victim.create_tenant("links").await;
    let key = victim
        .create_api_key(&tenant, &json!({"name": "k", "scopes": ["projects:read"]}))
        .await;
    let code = required(&link_flow(&app, &victim).await, "link_code");
    complete_link(&key, &code).await.expect_problem(403, "forbidden");
    let anonymous = complete_link(&app.anonymous(), &code).await;
    assert_eq!(anonymous.status(), 401, "{anonymous}");
    // Neither spent the code: the user who started the flow still completes it.
    let linked = complete_link(&victim, &code).await.expect(200);
    assert_eq!(linked["identities"][0]["login"], "linker");
}

#[actix_web::test]
async fn a_link_code_is_single_use_and_lives_five_minutes() {
    let (app, fake) = github_app().await;
    let user = app.user("linker@example.com").await;
    sign_in_as(&fake, "linker").await;
    complete_link(&user, "made-up")
        .await
        .expect_problem(400, "invalid_link_code");

    let code = required(&link_flow(&app, &user).await, "link_code");
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
    complete_link(&user, &code).await.expect(200);
    complete_link(&user, &code)
        .await
        .expect_problem(400, "invalid_link_code");

    // Unlink, run the flow again, and let the code expire.
    user.delete("/api/v1/me/identities/github").await.expect(204);
    let late = required(&link_flow(&app, &user).await, "link_code");
    portcullis_tests::execute_sql(
        &app,
        &format!(
            "UPDATE link_codes SET expires_at = '{}' WHERE used_at IS NULL",
            portcullis_tests::sql_time(-1)
        ),
    );
    complete_link(&user, &late)
        .await
        .expect_problem(400, "invalid_link_code");
    assert_eq!(identities(&user).await, json!([]));
}

#[actix_web::test]
async fn a_user_deleted_during_a_link_flow_gets_no_server_error() {
    let (app, fake) = github_app().await;
    sign_in_as(&fake, "linker").await;

    // Deleted between the authorize redirect and the callback: the application hears of it.
    let gone = app.user("gone-before-callback@example.com").await;
    let tab = Browser::new();
    let callback = until_callback(&app, &tab, &start_link(&gone).await).await;
    delete_account(&gone).await;
    let back = url(tab.get(&callback).await.expect_redirect());
    assert!(back.as_str().starts_with(APP_CALLBACK), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("account_not_found"));
    assert!(param(&back, "link_code").is_none());

    // Deleted between the callback and link/complete: their token is refused like any token of a
    // deleted user, and the code died with the account.
    let gone = app.user("gone-before-complete@example.com").await;
    let code = required(&link_flow(&app, &gone).await, "link_code");
    delete_account(&gone).await;
    let refused = complete_link(&gone, &code).await;
    assert_eq!(refused.status(), 401, "{refused}");
    let other = app.user("bystander@example.com").await;
    complete_link(&other, &code)
        .await
        .expect_problem(400, "invalid_link_code");

    // Deleted before the browser even opened the link URL.
    let gone = app.user("gone-before-authorize@example.com").await;
    let lure = start_link(&gone).await;
    delete_account(&gone).await;
    Browser::new()
        .get(&lure)
        .await
        .expect_problem(400, "invalid_link_ticket");
}

#[actix_web::test]
async fn a_github_sign_in_of_an_mfa_user_goes_through_the_challenge() {
    use portcullis_tests::{amr, fresh_step, totp_code};
    let (app, fake) = github_app().await;
    let base = fresh_step().await;
    sign_in_as(&fake, "octocat").await;
    let octocat = User::from_tokens(&app, exchange(&app, &login_code(&app).await).await.expect(200));
    assert_eq!(amr(octocat.tokens()), json!(["github"]));
    // A GitHub-only account enrols without a password (sending one is refused).
    octocat
        .post(
            "/api/v1/me/mfa/totp",
            &json!({"password": "some password or other"}),
        )
        .await
        .expect_problem(401, "invalid_credentials");
    let enrolment = octocat.post("/api/v1/me/mfa/totp", None).await.expect(200);
    let secret = enrolment.str_at("secret").to_owned();
    octocat
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": totp_code(&secret, base - 1)}),
        )
        .await
        .expect(200);

    let challenge = exchange(&app, &login_code(&app).await)
        .await
        .expect_problem(401, "mfa_required");
    assert!(challenge.get("access_token").is_none());
    let signed_in = app
        .anonymous()
        .post(
            "/api/v1/auth/mfa/verify",
            &json!({"mfa_token": challenge.str_at("mfa_token"), "code": totp_code(&secret, base)}),
        )
        .await
        .expect(200);
    assert_eq!(amr(&signed_in), json!(["github", "otp"]));
    assert_eq!(signed_in["user"]["id"], octocat.id());
}
