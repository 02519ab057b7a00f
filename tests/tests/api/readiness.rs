//! `/readyz` follows the database down and back up without a restart.

use std::net::SocketAddr;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use portcullis_tests::{base_vars, spawn_app_on, TcpProxy, TestApp, TestDb};
use serde_json::Value;

/// A handle on the database that can take it away from the server and give it back.
pub enum Outage {
    /// PostgreSQL behind a proxy the test can cut.
    Postgres(TcpProxy),
    /// SQLite, whose write lock a second connection can hold.
    Sqlite {
        path: String,
        holder: Option<SqliteConnection>,
    },
}

impl Outage {
    pub fn begin(&mut self) {
        match self {
            Outage::Postgres(proxy) => proxy.cut(),
            Outage::Sqlite { path, holder } => {
                let mut conn = SqliteConnection::establish(path).unwrap();
                conn.batch_execute("BEGIN EXCLUSIVE").unwrap();
                *holder = Some(conn);
            }
        }
    }

    pub fn end(&mut self) {
        match self {
            Outage::Postgres(proxy) => proxy.restore(),
            Outage::Sqlite { holder, .. } => {
                if let Some(mut conn) = holder.take() {
                    conn.batch_execute("ROLLBACK").unwrap();
                }
            }
        }
    }
}

fn host_port(url: &str) -> SocketAddr {
    let after_scheme = url.split_once("://").unwrap().1;
    let authority = after_scheme.split('/').next().unwrap();
    let host = authority.rsplit('@').next().unwrap();
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    host.replace("localhost", "127.0.0.1").parse().unwrap()
}

/// Starts the server with its database behind an [`Outage`] switch.
pub async fn spawn_app_with_outage() -> (TestApp, Outage) {
    let db = TestDb::new();
    let mut vars = base_vars(&db);
    let outage = if db.is_postgres() {
        let proxy = TcpProxy::start(host_port(db.url())).await;
        let proxied = db
            .url()
            .replacen(&host_port(db.url()).to_string(), &proxy.addr().to_string(), 1);
        let proxied = if proxied == db.url() {
            // URL spelled with `localhost` or without a port: rebuild it on the proxy's address.
            let (scheme, rest) = db.url().split_once("://").unwrap();
            let (authority, path) = rest.split_once('/').unwrap();
            let user = authority
                .rsplit_once('@')
                .map(|(user, _)| format!("{user}@"))
                .unwrap_or_default();
            format!("{scheme}://{user}{}/{path}", proxy.addr())
        } else {
            proxied
        };
        vars.insert("DATABASE_URL".into(), proxied);
        Outage::Postgres(proxy)
    } else {
        let path = db.url().trim_start_matches("sqlite://").to_owned();
        Outage::Sqlite { path, holder: None }
    };
    (spawn_app_on(db, vars).await, outage)
}

async fn ready_status(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/readyz"))
        .timeout(Duration::from_secs(6))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[actix_web::test]
async fn readiness_follows_the_database_down_and_back() {
    let (app, mut outage) = spawn_app_with_outage().await;
    assert_eq!(
        ready_status(&app).await,
        (200, serde_json::json!({"status": "ready"}))
    );

    outage.begin();
    // The client timeout (6 s) bounds the wait: a hang fails the test instead of passing slowly.
    let (status, body) = ready_status(&app).await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"status": "unavailable"}))
    );
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "liveness does not depend on the database");

    outage.end();
    let mut recovered = false;
    for _ in 0..20 {
        if ready_status(&app).await.0 == 200 {
            recovered = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "readiness returns without a restart");
}

#[actix_web::test]
async fn writes_during_an_outage_fail_fast_and_every_acknowledged_write_survives() {
    let (app, mut outage) = spawn_app_with_outage().await;
    let tokens = app.signup("writer@example.com").await;
    let token = portcullis_tests::access(&tokens).to_owned();
    let tid = app.create_tenant(&token, "outage").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let projects = format!("/api/v1/tenants/{tid}/projects");
    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for i in 0..16 {
        match i {
            6 => outage.begin(),
            10 => outage.end(),
            _ => {}
        }
        // The client timeout bounds each request: a hang fails the test.
        let response = app
            .request(reqwest::Method::POST, &projects, Some(&token))
            .json(&serde_json::json!({ "name": format!("project {i}") }))
            .timeout(Duration::from_secs(6))
            .send()
            .await
            .expect("answered, not hung");
        match response.status().as_u16() {
            201 => acknowledged.push(
                response.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            503 => {
                assert!(response.headers().get("retry-after").is_some());
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "service_unavailable");
                assert!(
                    !body.to_string().contains("connection"),
                    "no driver detail leaks: {body}"
                );
                unavailable += 1;
            }
            other => panic!("request {i}: unexpected {other}"),
        }
    }
    assert!(unavailable > 0, "the outage was noticed");
    assert!(
        acknowledged.len() >= 6 + 3,
        "writes before and after the outage succeed: {}",
        acknowledged.len()
    );
    for id in &acknowledged {
        let response = app.get(&format!("{projects}/{id}"), Some(&token)).await;
        assert_eq!(response.status(), 200, "acknowledged project {id} is stored");
    }
}

/// How many server connections the app holds on its database (PostgreSQL), asked on a connection of
/// the test's own, straight to the server.
fn server_connections(app: &TestApp) -> i64 {
    portcullis_tests::count_rows(
        app,
        "pg_stat_activity",
        "datname = current_database() AND pid <> pg_backend_pid()",
    )
}

#[actix_web::test]
async fn connections_that_sat_in_the_pool_through_an_outage_are_replaced_without_a_restart() {
    let (app, mut outage) = spawn_app_with_outage().await;
    let tokens = app.signup("idle@example.com").await;
    let token = portcullis_tests::access(&tokens).to_owned();
    let tid = app.create_tenant(&token, "idle").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/tenants/{tid}");
    let burst = || {
        futures_util::future::join_all((0..8).map(|_| {
            app.request(reqwest::Method::GET, &path, Some(&token))
                .timeout(Duration::from_secs(6))
                .send()
        }))
    };
    let statuses = |responses: Vec<reqwest::Result<reqwest::Response>>| -> Vec<u16> {
        responses
            .into_iter()
            .map(|r| r.expect("answered, not hung").status().as_u16())
            .collect()
    };
    // Fill the pool (4 connections in tests) with live connections, then leave them idle.
    for _ in 0..3 {
        assert!(statuses(burst().await).iter().all(|s| *s == 200));
    }
    if app.db.is_postgres() {
        assert!(
            server_connections(&app) >= 2,
            "the pool holds several connections before the outage"
        );
    }

    // The database goes away and comes back while no request runs: every pooled connection is dead,
    // and nothing has noticed yet.
    outage.begin();
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    outage.end();

    // The first request may draw a dead connection: it is told to retry (503), never given a 500.
    let first = app
        .request(reqwest::Method::GET, &path, Some(&token))
        .timeout(Duration::from_secs(6))
        .send()
        .await
        .expect("answered, not hung");
    assert!(
        [200, 503].contains(&first.status().as_u16()),
        "{}",
        first.status()
    );
    // From then on the other dead connections are found before a request uses them, even when many
    // requests draw connections at once.
    for round in 0..3 {
        let statuses = statuses(burst().await);
        assert!(
            statuses.iter().all(|s| *s == 200),
            "round {round} after the outage: {statuses:?}"
        );
    }
}
