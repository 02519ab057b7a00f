//! The pages in headless Chromium, end to end: what the HTTP tests of `pages.rs` check with a
//! scripted client, done here by a real browser with its own cookie rules, redirects and form
//! submission. Skipped (and said so) without Chromium, unless `TEST_REQUIRE_BROWSER` is set.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use portcullis_tests::{spawn_app_with, Chrome, JsonExt, RequestHelper, SmtpSink, TestApp, PASSWORD};
use serde_json::json;

// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Answers one request of [`OtherSite`].
fn serve(stream: std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    // Drain the headers.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let body = match target.split_once("/attack?to=") {
        Some((_, app)) => format!(
            "<!doctype html><title>Prize</title><form method=\"post\" action=\"{app}/console\">\
             <input name=\"name\" value=\"Evil\"><input name=\"slug\" value=\"evil\">\
             <button id=\"go\">Claim your prize</button></form>"
        ),
        None => "<!doctype html><title>App</title><p id=\"app\">Back at the application</p>".to_owned(),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Another site on another port: an application's callback (`/callback`) and an attacker's page
/// (`/attack?to=APP`) whose button posts a form to the app's console.
struct OtherSite {
    url: String,
}

impl OtherSite {
    fn start() -> OtherSite {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            // A thread per connection: a browser opens spare connections it may never use.
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        OtherSite { url }
    }
}

fn mail_vars(vars: &mut std::collections::HashMap<String, String>, sink: &SmtpSink) {
    vars.insert("MAIL_TRANSPORT".into(), "smtp".into());
    vars.insert("SMTP_URL".into(), sink.url());
    vars.insert("MAIL_FROM".into(), "Portcullis Tests <auth@example.com>".into());
    vars.insert("MAIL_POLL_INTERVAL_MS".into(), "50".into());
    vars.insert("MAIL_RETRY_BASE_MS".into(), "100".into());
}

async fn mailed_token(sink: &SmtpSink, to: &str, page: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = sink.to(to).into_iter().rev().find(|m| m.text.contains(page)) {
            return mail.token(page);
        }
        assert!(std::time::Instant::now() < deadline, "no {page} mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until the browser is at a URL whose path is `path`.
async fn wait_for_path(browser: &Chrome, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let url = browser.url().await;
        if url::Url::parse(&url).is_ok_and(|u| u.path() == path) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "at {url}, not {path}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn sign_in(browser: &Chrome, app: &TestApp, email: &str) {
    browser.open(&app.url("/login")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.submit("main form button[type=submit]").await;
    wait_for_path(browser, "/console").await;
}

#[actix_web::test]
async fn an_owner_and_a_member_run_a_tenant_in_chromium() {
    let Some(owner) = Chrome::start().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let site = OtherSite::start();
    let callback = format!("{}/callback", site.url);
    let app = spawn_app_with(|vars| {
        mail_vars(vars, &sink);
        vars.insert("OAUTH_REDIRECT_ALLOWLIST".into(), callback.clone());
    })
    .await;

    // Sign up, then verify the address from the mail that arrived.
    owner.open(&app.url("/signup")).await;
    owner.screenshot("signup").await;
    owner.fill("#email", "owner@example.com").await;
    owner.fill("#password", PASSWORD).await;
    owner.submit("main form button[type=submit]").await;
    wait_for_path(&owner, "/account").await;
    owner.find("#verify-notice").await;
    let token = mailed_token(&sink, "owner@example.com", "verify-email").await;
    owner
        .open(&app.url(&format!("/verify-email?token={token}")))
        .await;
    owner.submit("main form button[type=submit]").await;
    assert!(owner.text("main [role=status]").await.contains("verified"));
    let owner_api = app.login_as("owner@example.com", PASSWORD).await;
    assert_eq!(
        owner_api.get("/api/v1/me").await.expect(200)["email_verified"],
        true
    );
    owner.open(&app.url("/account")).await;
    owner.screenshot("account").await;

    // Sign out and in again.
    owner.submit("header form button").await;
    wait_for_path(&owner, "/login").await;
    owner.screenshot("login").await;
    sign_in(&owner, &app, "owner@example.com").await;

    // A tenant.
    owner.fill("#name", "Acme").await;
    owner.fill("#slug", "acme").await;
    owner.submit("main form button[type=submit]").await;
    owner.find("#invite-form").await;
    let tenant_url = owner.url().await;
    let tid = tenant_url.rsplit('/').next().unwrap().to_owned();

    // An invitation; the member opens the link signed out, signs up and comes back to accept it.
    owner.fill("#invite-email", "member@example.com").await;
    owner.check("#invite-form input[value=viewer]", true).await;
    owner.submit("#invite-form button[type=submit]").await;
    let link = owner.text("#shown-once").await;
    let member = Chrome::start().await.expect("a second browser");
    member.open(&link).await;
    wait_for_path(&member, "/login").await;
    member.submit("main a[href^='/signup']").await;
    wait_for_path(&member, "/signup").await;
    member.fill("#email", "member@example.com").await;
    member.fill("#password", PASSWORD).await;
    member.submit("main form button[type=submit]").await;
    wait_for_path(&member, "/invitation").await;
    member.submit("main form button[type=submit]").await;
    wait_for_path(&member, &format!("/console/{tid}")).await;

    // The owner makes the member an editor.
    owner.open(&tenant_url).await;
    let roles_form = "form[aria-label='Roles of member@example.com']";
    owner
        .check(&format!("{roles_form} input[value=viewer]"), false)
        .await;
    owner
        .check(&format!("{roles_form} input[value=editor]"), true)
        .await;
    owner.submit(&format!("{roles_form} button")).await;
    owner.find("#invite-form").await;
    let members = owner_api
        .get(&format!("/api/v1/tenants/{tid}/members"))
        .await
        .expect(200);
    let row = members
        .array_at("items")
        .iter()
        .find(|m| m.str_at("email") == "member@example.com")
        .unwrap()
        .clone();
    assert_eq!(row["roles"], json!(["editor"]));

    // A custom role, then an API key that works over the API.
    owner.fill("#role-name", "auditor").await;
    owner.check("#role-form input[value='tenant:read']", true).await;
    owner.check("#role-form input[value='audit:read']", true).await;
    owner.submit("#role-form button[type=submit]").await;
    owner.find("#key-form").await;
    let roles = owner_api
        .get(&format!("/api/v1/tenants/{tid}/roles"))
        .await
        .expect(200);
    assert!(roles
        .array_at("items")
        .iter()
        .any(|r| r.str_at("name") == "auditor"));
    owner.fill("#key-name", "ci").await;
    owner.check("#key-form input[value='projects:read']", true).await;
    owner.submit("#key-form button[type=submit]").await;
    let secret = owner.text("#shown-once").await;
    owner.screenshot("console").await;
    let listed = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{tid}/projects")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.status(),
        200,
        "the key from the console works over the API"
    );

    // The audit log.
    owner.submit("main a[href$='/audit']").await;
    wait_for_path(&owner, &format!("/console/{tid}/audit")).await;
    let log = owner.html().await;
    for action in [
        "member.roles_changed",
        "role.created",
        "api_key.created",
        "invitation.accepted",
    ] {
        assert!(log.contains(action), "{action} in the audit page");
    }
    owner.screenshot("audit").await;

    // The member, made admin, is offered every scope but tenant:delete; sent anyway, it is refused.
    owner.open(&tenant_url).await;
    owner
        .check(&format!("{roles_form} input[value=editor]"), false)
        .await;
    owner
        .check(&format!("{roles_form} input[value=admin]"), true)
        .await;
    owner.submit(&format!("{roles_form} button")).await;
    owner.find("#invite-form").await;
    member.open(&tenant_url).await;
    let offered = member
        .run("return [...document.querySelectorAll('#role-form input[name=scopes]')].map(i => i.value)")
        .await;
    let offered: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(!offered.contains(&"tenant:delete"), "{offered:?}");
    assert!(offered.contains(&"roles:manage"), "{offered:?}");
    member.fill("#role-name", "wrecker").await;
    member
        .run(
            "const box = document.createElement('input'); box.type = 'checkbox'; box.name = 'scopes'; \
             box.value = 'tenant:delete'; box.checked = true; document.querySelector('#role-form').append(box);",
        )
        .await;
    member.submit("#role-form button[type=submit]").await;
    assert!(
        member.text("#errors").await.contains("tenant:delete")
            || member.html().await.contains("role=\"alert\"")
    );
    let roles = owner_api
        .get(&format!("/api/v1/tenants/{tid}/roles"))
        .await
        .expect(200);
    assert!(roles
        .array_at("items")
        .iter()
        .all(|r| r.str_at("name") != "wrecker"));

    // A cross-site form aimed at the console changes nothing, though the cookie goes with it
    // (127.0.0.1 on another port is the same site, so SameSite=Lax does not stop it).
    owner
        .open(&format!("{}/attack?to={}", site.url, app.address))
        .await;
    owner.submit("#go").await;
    assert_eq!(owner.text("main h1").await, "Request refused");
    let tenants = owner_api.get("/api/v1/tenants").await.expect(200);
    assert!(tenants
        .array_at("items")
        .iter()
        .all(|t| t.str_at("slug") != "evil"));

    // An application's hosted sign-in: back at its callback with a code it exchanges.
    let hosted =
        format!("/login?redirect_uri={callback}&code_challenge={CHALLENGE}&code_challenge_method=S256");
    member.open(&app.url(&hosted)).await;
    member.fill("#email", "member@example.com").await;
    member.fill("#password", PASSWORD).await;
    member.submit("main form button[type=submit]").await;
    member.find("#app").await;
    let back = url::Url::parse(&member.url().await).unwrap();
    assert_eq!(back.path(), "/callback");
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "login_code")
        .map(|(_, v)| v.into_owned())
        .expect("a login code");
    app.anonymous()
        .post(
            "/api/v1/auth/oauth/exchange",
            &json!({"login_code": code, "code_verifier": VERIFIER}),
        )
        .await
        .expect(200);

    // Small screens: nothing wider than a 375 px phone.
    owner.resize(375, 812).await;
    owner.open(&tenant_url).await;
    let width = owner.run("return document.documentElement.scrollWidth").await;
    assert!(
        width.as_u64().is_some_and(|w| w <= 375),
        "page is {width} px wide"
    );
    owner.screenshot("console-375").await;
    // From the keyboard: Tab moves from one labelled field to the next, and focus is visible.
    // (An application's sign-in shows the form to a signed-in browser too.)
    member.open(&app.url(&hosted)).await;
    member.find("#email").await.send_keys("\u{E004}").await.unwrap();
    assert_eq!(
        member.run("return document.activeElement.id").await,
        json!("password")
    );
    let outline = member
        .run("return getComputedStyle(document.activeElement).outlineStyle")
        .await;
    assert_eq!(outline, json!("solid"), "a visible focus ring");
    member.quit().await;
    owner.quit().await;
}
