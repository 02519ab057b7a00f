//! The real server started in-process on a free port, and the original request helpers on it
//! (`get`, `post_json`, `signup`, `login`, … returning `reqwest` types). Those stay for the files that
//! still use them; new tests act through the actors of `actors.rs` and `http.rs`.

use std::collections::HashMap;

use actix_web::dev::ServerHandle;
use portcullis_server::{Application, Settings};

use crate::TestDb;

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client without redirects or cookies of its own.
    pub client: reqwest::Client,
    /// The database the server uses.
    pub db: TestDb,
    /// Stops the server.
    pub handle: ServerHandle,
    /// The server's identity state (its password hasher counts argon2 runs).
    pub auth: actix_web::web::Data<portcullis_auth::Auth>,
    /// Where `/metrics` is served, when `METRICS_BIND_ADDR` was set.
    pub metrics_address: Option<String>,
}

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request to `path` with an optional bearer token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// POSTs a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.request(reqwest::Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// GETs with an optional token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, token)
            .send()
            .await
            .expect("request sent")
    }

    /// Signs up `email` with [`PASSWORD`] and returns the token response.
    pub async fn signup(&self, email: &str) -> serde_json::Value {
        let response = self
            .post_json(
                "/api/v1/auth/signup",
                &serde_json::json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(response.status(), 201, "sign-up of {email}");
        response.json().await.expect("token response")
    }

    /// Signs in with owned arguments (for futures that outlive the caller's borrows).
    pub async fn login_owned(&self, email: String, password: &str) -> reqwest::Response {
        self.login(&email, password).await
    }

    /// Signs in and returns the token response.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            &serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }
}

impl TestApp {
    /// Creates a tenant as the holder of `token` and returns its body.
    pub async fn create_tenant(&self, token: &str, slug: &str) -> serde_json::Value {
        let response = self
            .post_json(
                "/api/v1/tenants",
                &serde_json::json!({"name": format!("Tenant {slug}"), "slug": slug}),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), 201, "create tenant {slug}");
        response.json().await.expect("tenant")
    }

    /// Invites the user of `member` (a token response) with `roles` and accepts as them.
    pub async fn add_member(
        &self,
        owner_token: &str,
        tenant_id: &str,
        member: &serde_json::Value,
        roles: &[&str],
    ) {
        let email = member["user"]["email"].as_str().expect("email");
        let invitation: serde_json::Value = self
            .post_json(
                &format!("/api/v1/tenants/{tenant_id}/invitations"),
                &serde_json::json!({"email": email, "roles": roles}),
                Some(owner_token),
            )
            .await
            .json()
            .await
            .expect("invitation");
        let token = invitation["token"]
            .as_str()
            .unwrap_or_else(|| panic!("invitation token: {invitation}"));
        let accepted = self
            .post_json(
                "/api/v1/invitations/accept",
                &serde_json::json!({"token": token}),
                Some(access(member)),
            )
            .await;
        assert_eq!(accepted.status(), 200, "accept invitation");
    }

    /// Creates a custom role as the holder of `token`.
    pub async fn create_role(&self, token: &str, tenant_id: &str, name: &str, scopes: &[&str]) {
        let response = self
            .post_json(
                &format!("/api/v1/tenants/{tenant_id}/roles"),
                &serde_json::json!({"name": name, "scopes": scopes}),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), 201, "create role {name}");
    }
}

/// The access token of a token response.
pub fn access(tokens: &serde_json::Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

/// The refresh token of a token response.
pub fn refresh(tokens: &serde_json::Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the runtime ends with the test.
        drop(self.handle.stop(false));
    }
}

/// The JWT secret of test servers (tests that mint tokens by hand use it).
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef-0123456789";

/// The variables every test server starts from; tests change them through [`spawn_app_with`].
pub fn base_vars(db: &TestDb) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("DATABASE_URL".into(), db.url().to_owned());
    vars.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    vars.insert(
        "JWT_SECRET".into(),
        "test-jwt-secret-0123456789abcdef-0123456789".into(),
    );
    vars.insert("SESSION_SECRET".into(), "s".repeat(64));
    vars.insert("DATA_DIR".into(), db.dir().join("data").display().to_string());
    vars.insert("CORS_ALLOWED_ORIGINS".into(), "https://app.example.com".into());
    vars.insert("DB_POOL_SIZE".into(), "4".into());
    // Tests sign many users in from one address; the rate-limit tests switch limits back on.
    vars.insert("RATE_LIMIT_ENABLED".into(), "false".into());
    // Light argon2 parameters keep the suite fast; the code path is the production one.
    vars.insert("ARGON2_MEMORY_KIB".into(), "1024".into());
    vars.insert("ARGON2_ITERATIONS".into(), "1".into());
    vars
}

/// Starts the real server on a fresh database with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the real server after `customize` has changed the variables.
pub async fn spawn_app_with(customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let db = TestDb::new();
    let mut vars = base_vars(&db);
    customize(&mut vars);
    spawn_app_on(db, vars).await
}

impl TestApp {
    /// The `.eml` files the development mail transport wrote so far (`DATA_DIR/mail`), as text.
    pub fn mail_files(&self) -> Vec<String> {
        let dir = self.db.dir().join("data").join("mail");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Waits (up to 10 s) for a mail file containing every one of `needles`, and returns it.
    pub async fn mail_file_with(&self, needles: &[&str]) -> String {
        let find = || {
            self.mail_files()
                .into_iter()
                .find(|mail| needles.iter().all(|needle| mail.contains(needle)))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(mail) = find() {
                return mail;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail file with {needles:?}: {:#?}",
                self.mail_files()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A second server instance on this app's database, started from the default test variables
    /// changed by `customize`. Both answer to the same public URL (this app's), as instances behind
    /// one load balancer do: it is the issuer of their tokens.
    pub async fn second_instance(&self, customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
        let db = self.db.shared();
        let mut vars = base_vars(&db);
        vars.insert("PUBLIC_URL".into(), self.address.clone());
        customize(&mut vars);
        spawn_app_on(db, vars).await
    }
}

/// Starts the real server on a given database with given variables.
pub async fn spawn_app_on(db: TestDb, vars: HashMap<String, String>) -> TestApp {
    let settings = Settings::from_vars(&vars).unwrap_or_else(|errors| panic!("{errors}"));
    let app = Application::build(settings).await.expect("server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let auth = app.auth();
    let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        db,
        handle,
        auth,
        metrics_address,
    }
}
