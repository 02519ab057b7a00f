//! Helpers for the black-box tests: a fresh database per test (SQLite file, or a PostgreSQL database
//! created on `TEST_POSTGRES_URL` and dropped afterwards), the real server started in-process on a free
//! port, and a TCP proxy that can cut the server off from PostgreSQL.

// Test support: a failed set-up step should stop the test loudly, which is what `expect` does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use portcullis_server::{Application, Settings};

mod proxy;

pub use proxy::TcpProxy;

/// Which backend this run of the suite uses.
///
/// Without an explicit `sslmode`, test connections go without TLS: libpq is built with OpenSSL, and
/// OpenSSL's exit-time cleanup can crash the test process when a pool thread of a finished test is
/// still connecting as the harness exits. The local test server needs no TLS.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())?;
    if url.contains("sslmode=") {
        return Some(url);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}sslmode=disable"))
}

/// A database that exists for one test only.
pub struct TestDb {
    url: String,
    postgres: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// A new empty database on the backend of this run.
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match postgres_admin_url() {
            Some(admin) => {
                let name = format!("pcs_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|err| {
                    panic!("TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {err}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let url = replace_database(&admin, &name);
                TestDb {
                    url,
                    postgres: Some((admin, name)),
                    dir,
                }
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
                TestDb {
                    url,
                    postgres: None,
                    dir,
                }
            }
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True on PostgreSQL runs.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A folder that lives as long as the database (data dir, certificates, …).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// Swaps the database name of a PostgreSQL URL, keeping any query string.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{host_part}/{database}{query}")
}

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

/// Runs one SQL statement straight on the test database (to age a row, say), bypassing the server.
pub fn execute_sql(app: &TestApp, sql: &str) -> usize {
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn =
        portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).expect("test database");
    let statement = diesel::sql_query(sql);
    match &mut conn {
        portcullis_db::DbConn::Postgres(pg) => statement.execute(pg),
        portcullis_db::DbConn::Sqlite(sqlite) => statement.execute(sqlite),
    }
    .expect("statement runs")
}

/// Counts the rows of `table` matching the SQL condition `filter`, straight on the test database.
pub fn count_rows(app: &TestApp, table: &str, filter: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn =
        portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).expect("test database");
    let statement = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"));
    let rows: Vec<Count> = match &mut conn {
        portcullis_db::DbConn::Postgres(pg) => statement.load(pg),
        portcullis_db::DbConn::Sqlite(sqlite) => statement.load(sqlite),
    }
    .expect("count query runs");
    rows.first().map(|row| row.n).unwrap_or(0)
}

/// A timestamp literal both backends accept, `seconds` from now (negative: in the past).
pub fn sql_time(seconds: i64) -> String {
    (portcullis_db::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
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

/// Starts the real server on a given database with given variables.
pub async fn spawn_app_on(db: TestDb, vars: HashMap<String, String>) -> TestApp {
    let settings = Settings::from_vars(&vars).unwrap_or_else(|errors| panic!("{errors}"));
    let app = Application::build(settings).await.expect("server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let auth = app.auth();
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
    }
}
