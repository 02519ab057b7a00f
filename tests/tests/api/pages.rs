//! The hosted pages and the console over real HTTP, as a browser without scripts uses them: forms
//! posted with the session cookie, the CSRF token of the page and the page's origin. Every outcome is
//! checked through the API, not through the pages themselves.

use portcullis_tests::{
    amr, fresh_step, spawn_app, spawn_app_with, totp_code, JsonExt, RequestHelper, SmtpSink, TestApp,
    PASSWORD,
};
use reqwest::header::HeaderMap;
use serde_json::json;

/// A browser: a cookie jar, no redirects followed, and forms posted from the app's origin.
struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

/// One answer: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
    }

    /// The `value` of the first hidden input named `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    /// The text of `<output id="shown-once">`.
    fn shown_once(&self) -> String {
        let start = self
            .body
            .find("<output id=\"shown-once\">")
            .unwrap_or_else(|| panic!("nothing shown once: {}", self.body))
            + "<output id=\"shown-once\">".len();
        let end = self.body[start..].find("</output>").unwrap() + start;
        self.body[start..end].replace("&#38;", "&").replace("&amp;", "&")
    }
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Visitor<'a> {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Visitor { app, client }
    }

    async fn get(&self, path: &str) -> Answer {
        let response = self.client.get(self.app.url(path)).send().await.unwrap();
        answer(response).await
    }

    /// Follows redirects from `path` (ours or another host's) to the first page that is not one.
    async fn follow(&self, path: &str) -> (String, Answer) {
        let mut at = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.app.url(path)
        };
        for _ in 0..10 {
            let here = answer(self.client.get(&at).send().await.unwrap()).await;
            if !(300..400).contains(&here.status) {
                return (at, here);
            }
            at = url::Url::parse(&at)
                .unwrap()
                .join(here.location())
                .unwrap()
                .to_string();
        }
        panic!("too many redirects from {path}");
    }

    /// Posts `fields` with the CSRF token of the page at `from`, from this app's origin.
    async fn submit(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(from).await.field("csrf");
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(action, &all, Some(&self.app.address)).await
    }

    async fn post_raw(&self, action: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(self.app.url(action))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn sign_up(&self, email: &str) {
        let done = self
            .submit("/signup", "/signup", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "/account");
    }

    async fn sign_in(&self, email: &str) {
        let done = self
            .submit("/login", "/login", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
    }

    /// Creates a tenant from the console; its id.
    async fn create_tenant(&self, slug: &str) -> String {
        let done = self
            .submit("/console", "/console", &[("name", "Acme"), ("slug", slug)])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        done.location().trim_start_matches("/console/").to_owned()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

fn checkbox_values<'b>(body: &'b str, form_id: &str, name: &str) -> Vec<&'b str> {
    let start = body
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form {form_id}"));
    let form = &body[start..start + body[start..].find("</form>").unwrap()];
    let marker = format!("name=\"{name}\" value=\"");
    form.match_indices(&marker)
        .map(|(at, _)| {
            let from = at + marker.len();
            &form[from..from + form[from..].find('"').unwrap()]
        })
        .collect()
}

#[actix_web::test]
async fn a_tenant_is_run_from_the_console_under_the_api_rules() {
    let app = spawn_app().await;
    let owner = Visitor::new(&app);
    owner.sign_up("owner@example.com").await;
    let account = owner.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("owner@example.com"));
    assert!(
        account.body.contains("(this browser)"),
        "the browser's session is listed"
    );

    let tid = owner.create_tenant("acme").await;
    let owner_api = app.login_as("owner@example.com", PASSWORD).await;
    let tenants = owner_api.get("/api/v1/tenants").await.expect(200);
    assert_eq!(tenants.array_at("items")[0].str_at("id"), tid);
    assert_eq!(tenants.array_at("items")[0]["roles"], json!(["owner"]));

    // An invitation from the console; the link is shown once and the member accepts in a browser.
    let page = format!("/console/{tid}");
    let invited = owner
        .submit(
            &page,
            &format!("/console/{tid}/invitations"),
            &[("email", "member@example.com"), ("roles", "viewer")],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    let link = invited.shown_once();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    app.user("member@example.com").await;
    let member = Visitor::new(&app);
    member.sign_in("member@example.com").await;
    let path = format!("/invitation?token={token}");
    let joined = member.submit(&path, "/invitation", &[("token", &token)]).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let members = owner_api
        .get(&format!("/api/v1/tenants/{tid}/members"))
        .await
        .expect(200);
    let member_row = members
        .array_at("items")
        .iter()
        .find(|m| m.str_at("email") == "member@example.com")
        .expect("the member joined")
        .clone();
    assert_eq!(member_row["roles"], json!(["viewer"]));

    // Their role changed from the console.
    let uid = member_row.str_at("user_id").to_owned();
    let changed = owner
        .submit(
            &page,
            &format!("/console/{tid}/members/{uid}/roles"),
            &[("roles", "editor")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let after = owner_api
        .get(&format!("/api/v1/tenants/{tid}/members"))
        .await
        .expect(200);
    let after = after
        .array_at("items")
        .iter()
        .find(|m| m.str_at("user_id") == uid)
        .unwrap()
        .clone();
    assert_eq!(after["roles"], json!(["editor"]));

    // The last owner cannot be demoted from the console either.
    let me = owner_api.get("/api/v1/me").await.expect(200);
    let refused = owner
        .submit(
            &page,
            &format!("/console/{tid}/members/{}/roles", me.str_at("id")),
            &[("roles", "viewer")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("at least one owner"), "{}", refused.body);

    // A custom role and an API key; the key works over the API.
    let role = owner
        .submit(
            &page,
            &format!("/console/{tid}/roles"),
            &[
                ("name", "auditor"),
                ("scopes", "audit:read"),
                ("scopes", "tenant:read"),
            ],
        )
        .await;
    assert_eq!(role.status, 303, "{}", role.body);
    let roles = owner_api
        .get(&format!("/api/v1/tenants/{tid}/roles"))
        .await
        .expect(200);
    let auditor = roles
        .array_at("items")
        .iter()
        .find(|r| r.str_at("name") == "auditor")
        .expect("the role exists")
        .clone();
    assert_eq!(auditor["scopes"], json!(["tenant:read", "audit:read"]));

    let created = owner
        .submit(
            &page,
            &format!("/console/{tid}/api-keys"),
            &[("name", "ci"), ("scopes", "projects:read")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created.shown_once();
    let listed = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{tid}/projects")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "the key made in the console works");

    // A project from the console, seen over the API; a second tenant to switch to.
    let made = owner
        .submit(
            &page,
            &format!("/console/{tid}/projects"),
            &[("name", "Launch"), ("description", "the first one")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let projects = owner_api
        .get(&format!("/api/v1/tenants/{tid}/projects"))
        .await
        .expect(200);
    assert_eq!(projects.array_at("items")[0].str_at("name"), "Launch");
    let second = owner.create_tenant("acme-two").await;
    let switcher = owner.get(&page).await;
    assert!(
        switcher.body.contains(&format!("href=\"/console/{second}\"")),
        "the tenant switcher"
    );

    // The audit log shows what the console did, as the API's log does.
    let audit = owner.get(&format!("/console/{tid}/audit")).await;
    assert_eq!(audit.status, 200);
    for action in [
        "member.roles_changed",
        "role.created",
        "api_key.created",
        "invitation.accepted",
    ] {
        assert!(audit.body.contains(action), "{action} in the log page");
    }
    let filtered = owner
        .get(&format!("/console/{tid}/audit?action=role.created"))
        .await;
    assert!(filtered.body.contains("role.created"));
    assert!(!filtered.body.contains("api_key.created"), "the filter applies");
}

#[actix_web::test]
async fn a_forged_cross_site_post_changes_nothing() {
    let app = spawn_app().await;
    let victim = Visitor::new(&app);
    victim.sign_up("victim@example.com").await;
    let csrf = victim.get("/console").await.field("csrf");
    let fields = |token: &'static str| vec![("name", "Evil"), ("slug", "evil"), ("csrf", token)];

    // Without a token, even from this origin.
    let no_token = victim
        .post_raw(
            "/console",
            &[("name", "Evil"), ("slug", "evil")],
            Some(&app.address),
        )
        .await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    // With the right token but from another site.
    let token: &'static str = Box::leak(csrf.into_boxed_str());
    let foreign = victim
        .post_raw("/console", &fields(token), Some("https://evil.example"))
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    // A wrong token.
    let wrong = victim
        .post_raw("/console", &fields("not-the-token"), Some(&app.address))
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    // Sign-out is a form too.
    let logout = victim
        .post_raw("/logout", &[], Some("https://evil.example"))
        .await;
    assert_eq!(logout.status, 403);

    let api = app.login_as("victim@example.com", PASSWORD).await;
    let tenants = api.get("/api/v1/tenants").await.expect(200);
    assert_eq!(tenants.array_at("items").len(), 0, "no tenant was created");
    assert_eq!(victim.get("/account").await.status, 200, "still signed in");
    // The control: the same form with the token, from this origin, works.
    let made = victim
        .post_raw("/console", &fields(token), Some(&app.address))
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
}

#[actix_web::test]
async fn the_browser_cookie_never_authenticates_the_api() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("cookie@example.com").await;
    let response = visitor
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = visitor
        .client
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"name": "Via cookie", "slug": "via-cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[actix_web::test]
async fn revoking_the_browser_session_signs_the_browser_out() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("revoked@example.com").await;
    let api = app.login_as("revoked@example.com", PASSWORD).await;
    let sessions = api.get("/api/v1/auth/sessions").await.expect(200);
    let browser_session = sessions
        .array_at("items")
        .iter()
        .find(|s| s["current"] == json!(false))
        .expect("the browser's session is listed with the API's")
        .str_at("id")
        .to_owned();
    api.delete(&format!("/api/v1/auth/sessions/{browser_session}"))
        .await
        .expect(204);
    let account = visitor.get("/account").await;
    assert_eq!(account.status, 303);
    assert_eq!(account.location(), "/login");
}

#[actix_web::test]
async fn the_console_offers_only_scopes_the_admin_holds_and_refuses_others() {
    let app = spawn_app().await;
    let owner = app.user("boss@example.com").await;
    let tenant = owner.create_tenant("scoped").await;
    owner.new_member(&tenant, "admin@example.com", &["admin"]).await;
    let admin = Visitor::new(&app);
    admin.sign_in("admin@example.com").await;
    let page = admin.get(&format!("/console/{}", tenant.id)).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // API.md: admin is every scope but tenant:delete.
    let admin_scopes = [
        "tenant:read",
        "tenant:update",
        "members:read",
        "members:invite",
        "members:manage",
        "roles:read",
        "roles:manage",
        "projects:read",
        "projects:write",
        "projects:delete",
        "api_keys:manage",
        "audit:read",
    ];
    let mut offered = checkbox_values(&page.body, "role-form", "scopes");
    offered.sort_unstable();
    let mut expected = admin_scopes.to_vec();
    expected.sort_unstable();
    assert_eq!(offered, expected, "the role checklist");
    let mut key_offered = checkbox_values(&page.body, "key-form", "scopes");
    key_offered.sort_unstable();
    assert_eq!(key_offered, expected, "the key checklist");

    // Sent anyway, the server refuses it and nothing is made.
    let forced = admin
        .submit(
            &format!("/console/{}", tenant.id),
            &format!("/console/{}/roles", tenant.id),
            &[("name", "wrecker"), ("scopes", "tenant:delete")],
        )
        .await;
    assert_eq!(forced.status, 403, "{}", forced.body);
    let roles = owner
        .get(&format!("/api/v1/tenants/{}/roles", tenant.id))
        .await
        .expect(200);
    assert!(
        roles
            .array_at("items")
            .iter()
            .all(|r| r.str_at("name") != "wrecker"),
        "{roles}"
    );
}

const APP_CALLBACK: &str = "https://app.example.com/callback";
// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[actix_web::test]
async fn hosted_sign_in_hands_the_application_a_login_code() {
    let app = spawn_app_with(|vars| {
        vars.insert("OAUTH_REDIRECT_ALLOWLIST".into(), APP_CALLBACK.into());
    })
    .await;
    app.user("spa@example.com").await;
    let visitor = Visitor::new(&app);
    let query = format!(
        "/login?redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        APP_CALLBACK
    );
    let form = visitor.get(&query).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains("app.example.com"),
        "the page names the application"
    );
    let done = visitor
        .submit(
            &query,
            "/login",
            &[
                ("email", "spa@example.com"),
                ("password", PASSWORD),
                ("redirect_uri", APP_CALLBACK),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    let location = url::Url::parse(done.location()).unwrap();
    assert!(done.location().starts_with(APP_CALLBACK), "{location}");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "login_code")
        .map(|(_, v)| v.into_owned())
        .expect("a login code");
    let tokens = app
        .anonymous()
        .post(
            "/api/v1/auth/oauth/exchange",
            &json!({"login_code": code, "code_verifier": VERIFIER}),
        )
        .await
        .expect(200);
    assert_eq!(
        amr(&tokens),
        json!(["pwd"]),
        "the application's session says how the user signed in"
    );

    // Signed in already, a visit still asks before a code is made: a GET hands out nothing.
    let again = visitor.get(&query).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.headers.get("location").is_none());

    // A redirect_uri outside the allowlist is never redirected to.
    let foreign = visitor
        .get(&format!(
            "/login?redirect_uri=https://evil.example/cb&code_challenge={CHALLENGE}&code_challenge_method=S256"
        ))
        .await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(foreign.headers.get("location").is_none());
}

#[actix_web::test]
async fn pages_carry_the_security_headers_and_load_nothing_from_elsewhere() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    for path in ["/login", "/signup", "/assets/pages.css"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let header = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert!(
            header("content-security-policy").contains("default-src 'none'"),
            "{path}"
        );
        assert!(
            !header("content-security-policy").contains("unsafe-inline"),
            "{path}"
        );
        assert!(
            !page.body.contains("http://") && !page.body.contains("https://"),
            "{path}: no other origin"
        );
        assert!(!page.body.contains("<script"), "{path}: no script");
    }
    let login = visitor.get("/login").await;
    for id in ["email", "password"] {
        assert!(
            login.body.contains(&format!("<label for=\"{id}\"")),
            "a label for {id}"
        );
    }
}

#[actix_web::test]
async fn a_wrong_password_is_explained_on_the_page() {
    let app = spawn_app().await;
    app.user("typo@example.com").await;
    let visitor = Visitor::new(&app);
    let refused = visitor
        .submit(
            "/login",
            "/login",
            &[
                ("email", "typo@example.com"),
                ("password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    assert!(refused.body.contains("typo@example.com"), "the email is kept");
    assert_eq!(visitor.get("/account").await.status, 303, "not signed in");
}

#[actix_web::test]
async fn an_expired_browser_session_is_signed_out_though_never_revoked() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("idle@example.com").await;
    assert_eq!(visitor.get("/account").await.status, 200);
    // The cookie is still in the browser; the row's idle expiry has passed.
    let past = portcullis_tests::sql_time(-60);
    let changed = portcullis_tests::execute_sql(
        &app,
        &format!("UPDATE sessions SET expires_at = '{past}' WHERE revoked_at IS NULL"),
    );
    assert_eq!(changed, 1);
    let account = visitor.get("/account").await;
    assert_eq!(account.status, 303, "{}", account.body);
    assert_eq!(account.location(), "/login");
}

fn mail_vars(vars: &mut std::collections::HashMap<String, String>, sink: &SmtpSink) {
    vars.insert("MAIL_TRANSPORT".into(), "smtp".into());
    vars.insert("SMTP_URL".into(), sink.url());
    vars.insert("MAIL_FROM".into(), "Portcullis Tests <auth@example.com>".into());
    vars.insert("MAIL_POLL_INTERVAL_MS".into(), "50".into());
    vars.insert("MAIL_RETRY_BASE_MS".into(), "100".into());
}

/// The newest mail to `to` whose text contains `needle`, waiting for it up to 10 s.
async fn mail_with(sink: &SmtpSink, to: &str, needle: &str) -> portcullis_tests::ReceivedMail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = sink.to(to).into_iter().rev().find(|m| m.text.contains(needle)) {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {to} with {needle}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn mailed_links_open_pages_that_act_only_on_a_click() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(|vars| mail_vars(vars, &sink)).await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("links@example.com").await;
    let api = app.login_as("links@example.com", PASSWORD).await;

    let token = mail_with(&sink, "links@example.com", "verify-email")
        .await
        .token("verify-email");
    let shown = visitor.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        api.get("/api/v1/me").await.expect(200)["email_verified"],
        false,
        "opening the link verifies nothing"
    );
    let done = visitor
        .submit(
            &format!("/verify-email?token={token}"),
            "/verify-email",
            &[("token", &token)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(api.get("/api/v1/me").await.expect(200)["email_verified"], true);
    let again = visitor
        .submit(
            &format!("/verify-email?token={token}"),
            "/verify-email",
            &[("token", &token)],
        )
        .await;
    assert!(again.status >= 400, "a link works once: {}", again.status);
    assert!(again.body.contains("role=\"alert\""), "explained on the page");

    // Forgot, then reset: every session ends, the browser's too.
    let asked = visitor
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "links@example.com")],
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let token = mail_with(&sink, "links@example.com", "reset-password")
        .await
        .token("reset-password");
    let weak = visitor
        .submit(
            &format!("/reset-password?token={token}"),
            "/reset-password",
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.body);
    let reset = visitor
        .submit(
            &format!("/reset-password?token={token}"),
            "/reset-password",
            &[
                ("token", &token),
                ("new_password", "a brand new passphrase for 2026"),
            ],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    app.sign_in("links@example.com", "a brand new passphrase for 2026")
        .await
        .expect(200);
    app.sign_in("links@example.com", PASSWORD).await.expect(401);
    assert_eq!(
        visitor.get("/account").await.status,
        303,
        "signed out by the reset"
    );
}

#[actix_web::test]
async fn a_second_factor_is_asked_on_its_page_and_the_application_gets_both_factors() {
    let app = spawn_app_with(|vars| {
        vars.insert("OAUTH_REDIRECT_ALLOWLIST".into(), APP_CALLBACK.into());
    })
    .await;
    let step = fresh_step().await;
    let ada = app.user("ada@example.com").await;
    let secret = ada
        .post("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect(200)
        .str_at("secret")
        .to_owned();
    ada.post(
        "/api/v1/me/mfa/totp/confirm",
        &json!({"code": totp_code(&secret, step - 1)}),
    )
    .await
    .expect(200);

    let visitor = Visitor::new(&app);
    let query =
        format!("/login?redirect_uri={APP_CALLBACK}&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let first = visitor
        .submit(
            &query,
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("redirect_uri", APP_CALLBACK),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(first.location(), "/mfa");
    assert_eq!(
        visitor.get("/account").await.status,
        303,
        "no session before the second factor"
    );
    let wrong = visitor.submit("/mfa", "/mfa", &[("code", "000000")]).await;
    assert!(wrong.status >= 400, "{}", wrong.body);
    assert!(wrong.body.contains("role=\"alert\""));
    let done = visitor
        .submit("/mfa", "/mfa", &[("code", &totp_code(&secret, step))])
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    let location = url::Url::parse(done.location()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "login_code")
        .map(|(_, v)| v.into_owned())
        .expect("a login code");
    let tokens = app
        .anonymous()
        .post(
            "/api/v1/auth/oauth/exchange",
            &json!({"login_code": code, "code_verifier": VERIFIER}),
        )
        .await
        .expect(200);
    assert_eq!(
        amr(&tokens),
        json!(["pwd", "otp"]),
        "not asked for the second factor again"
    );
    assert_eq!(
        visitor.get("/account").await.status,
        200,
        "the browser is signed in too"
    );
}

#[actix_web::test]
async fn an_invitation_opened_signed_out_comes_back_after_sign_up() {
    let app = spawn_app().await;
    let owner = app.user("host@example.com").await;
    let tenant = owner.create_tenant("welcoming").await;
    let invitation = owner.invite(&tenant, "newcomer@example.com", &["viewer"]).await;
    let token = invitation.str_at("token").to_owned();

    let visitor = Visitor::new(&app);
    let opened = visitor.get(&format!("/invitation?token={token}")).await;
    assert_eq!(opened.status, 303);
    let login = visitor.get(opened.location()).await;
    assert_eq!(login.status, 200);
    let next = login.field("next");
    assert_eq!(next, format!("/invitation?token={token}"));
    let signed_up = visitor
        .submit(
            &format!(
                "/signup?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ),
            "/signup",
            &[
                ("email", "newcomer@example.com"),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(signed_up.status, 303, "{}", signed_up.body);
    assert_eq!(signed_up.location(), next);
    let joined = visitor.submit(&next, "/invitation", &[("token", &token)]).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert_eq!(joined.location(), format!("/console/{}", tenant.id));

    // `next` never leads off the site.
    app.user("elsewhere@example.com").await;
    let other = Visitor::new(&app);
    for next in ["//evil.example/x", "https://evil.example/x", "/\\evil.example"] {
        let done = other
            .submit(
                "/login",
                "/login",
                &[
                    ("email", "elsewhere@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(done.status, 303);
        assert_eq!(done.location(), "/console", "{next}");
        other
            .post_raw(
                "/logout",
                &[("csrf", &other.get("/console").await.field("csrf"))],
                Some(&app.address),
            )
            .await;
    }
}

#[actix_web::test]
async fn the_account_page_changes_name_password_and_second_factor_through_the_api_rules() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("settings@example.com").await;

    let named = visitor
        .submit("/account", "/account/profile", &[("display_name", "Ada L.")])
        .await;
    assert_eq!(named.status, 200, "{}", named.body);
    let api = app.login_as("settings@example.com", PASSWORD).await;
    assert_eq!(api.get("/api/v1/me").await.expect(200)["display_name"], "Ada L.");

    // The password form checks the current password, as the API does.
    let wrong = visitor
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "not the password at all"),
                ("new_password", "a brand new passphrase for 2026"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let changed = visitor
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase for 2026"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    app.sign_in("settings@example.com", "a brand new passphrase for 2026")
        .await
        .expect(200);
    assert_eq!(
        visitor.get("/account").await.status,
        200,
        "this browser stays signed in"
    );

    // Two-factor: a QR code and the secret, a code turns it on, the recovery codes are shown once.
    let step = fresh_step().await;
    let enrolling = visitor
        .submit(
            "/account",
            "/account/mfa/enrol",
            &[("password", "a brand new passphrase for 2026")],
        )
        .await;
    assert_eq!(enrolling.status, 200, "{}", enrolling.body);
    assert!(
        enrolling.body.contains("src=\"data:image/svg+xml;base64,"),
        "a QR code"
    );
    let secret_at = enrolling.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let secret = &enrolling.body[secret_at..secret_at + enrolling.body[secret_at..].find('<').unwrap()];
    let on = visitor
        .submit(
            "/account",
            "/account/mfa/confirm",
            &[("code", &totp_code(secret, step))],
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(on.body.matches("<li><code>").count(), 10, "ten recovery codes");
    drop(api);
    app.sign_in("settings@example.com", "a brand new passphrase for 2026")
        .await
        .expect_problem(401, "mfa_required");
    let later = visitor.get("/account").await;
    assert!(!later.body.contains("<li><code>"), "shown once");
    assert!(
        later.body.contains("mfa.enabled"),
        "the security events are listed"
    );
}

/// A server with GitHub sign-in against the local fake, where `octocat` is signed in.
async fn github_app() -> (TestApp, portcullis_github_fake::FakeGithub) {
    use portcullis_github_fake::{FakeEmail, FakeGithub, FakeUser};
    let octocat = FakeUser {
        id: 583231,
        login: "octocat".into(),
        emails: vec![FakeEmail {
            email: "octocat@example.com".into(),
            primary: true,
            verified: true,
        }],
    };
    let fake = FakeGithub::start("test-client", "test-secret", vec![octocat]).unwrap();
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
    })
    .await;
    reqwest::Client::new()
        .post(format!("{}/_fake/login", fake.url))
        .json(&json!({"login": "octocat"}))
        .send()
        .await
        .unwrap();
    (app, fake)
}

#[actix_web::test]
async fn sign_in_with_github_from_the_login_page_ends_in_this_browser() {
    let (app, _fake) = github_app().await;
    let visitor = Visitor::new(&app);
    let login = visitor.get("/login").await;
    assert!(login.body.contains("href=\"/login/github\""), "the GitHub button");
    let (landed, page) = visitor.follow("/login/github").await;
    assert_eq!(page.status, 200, "{landed}: {}", page.body);
    assert!(landed.ends_with("/console"), "{landed}");
    let account = visitor.get("/account").await;
    assert!(account.body.contains("octocat@example.com"), "{}", account.body);

    // No application may have codes delivered to the pages' own callbacks.
    for callback in ["/login/github/done", "/account/github/linked"] {
        let own = app.url(callback);
        let refused = Visitor::new(&app)
            .get(&format!(
                "/api/v1/auth/github/authorize?redirect_uri={own}&code_challenge={CHALLENGE}&code_challenge_method=S256"
            ))
            .await;
        assert_eq!(refused.status, 400, "{callback}: {}", refused.body);
        let hosted = Visitor::new(&app)
            .get(&format!(
                "/login?redirect_uri={own}&code_challenge={CHALLENGE}&code_challenge_method=S256"
            ))
            .await;
        assert_eq!(hosted.status, 400, "{callback}: {}", hosted.body);
    }

    // A login code from another browser's flow is refused here: this browser has no verifier for it.
    let stranger = Visitor::new(&app);
    let refused = stranger.get("/login/github/done?login_code=abc").await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.location(), "/login");
    assert_eq!(stranger.get("/account").await.status, 303, "not signed in");
}

#[actix_web::test]
async fn github_is_linked_and_unlinked_from_the_account_page() {
    let (app, _fake) = github_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("linker@example.com").await;
    let started = visitor.submit("/account", "/account/github/link", &[]).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let (landed, page) = visitor.follow(started.location()).await;
    assert_eq!(page.status, 200, "{landed}: {}", page.body);
    assert!(
        page.body.contains("id=\"github-login\">octocat<"),
        "{}",
        page.body
    );
    let api = app.login_as("linker@example.com", PASSWORD).await;
    let me = api.get("/api/v1/me").await.expect(200);
    assert_eq!(me["identities"][0]["login"], "octocat", "{me}");

    let unlinked = visitor.submit("/account", "/account/github/unlink", &[]).await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.body);
    let me = api.get("/api/v1/me").await.expect(200);
    assert_eq!(me["identities"], json!([]), "{me}");
}

#[actix_web::test]
async fn using_the_pages_keeps_the_browser_session_alive() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    visitor.sign_up("active@example.com").await;
    // An hour of use later, with ten minutes left before the idle expiry.
    let (last_use, expiry) = (portcullis_tests::sql_time(-3600), portcullis_tests::sql_time(600));
    portcullis_tests::execute_sql(
        &app,
        &format!("UPDATE sessions SET last_used_at = '{last_use}', expires_at = '{expiry}'"),
    );
    assert_eq!(visitor.get("/account").await.status, 200);
    let pushed = portcullis_tests::count_rows(
        &app,
        "sessions",
        &format!("expires_at > '{}'", portcullis_tests::sql_time(3600)),
    );
    assert_eq!(pushed, 1, "the idle expiry moved forward with use");
}
