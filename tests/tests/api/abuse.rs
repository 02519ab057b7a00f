//! Rate limits, client addresses behind proxies, TLS, slow clients and a login storm.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use portcullis_tests::{access, problem, spawn_app_with, PASSWORD};
use serde_json::{json, Value};

fn limited(vars: &mut std::collections::HashMap<String, String>) {
    vars.insert("RATE_LIMIT_ENABLED".into(), "true".into());
    vars.insert("RATE_LIMIT_AUTH_PER_MIN".into(), "1".into());
    vars.insert("RATE_LIMIT_AUTH_BURST".into(), "3".into());
    vars.insert("RATE_LIMIT_API_PER_SEC".into(), "1".into());
    vars.insert("RATE_LIMIT_API_BURST".into(), "5".into());
}

#[actix_web::test]
async fn sign_in_routes_have_a_strict_quota_per_client() {
    let app = spawn_app_with(limited).await;
    for _ in 0..3 {
        assert_eq!(app.login("nobody@example.com", PASSWORD).await.status(), 401);
    }
    let refused = app.login("nobody@example.com", PASSWORD).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = problem(refused, 429, "rate_limited").await;
    assert!(body["request_id"].is_string());
    // A spoofed X-Forwarded-For from an untrusted peer is ignored: still the same client.
    let spoofed = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "198.51.100.77")
        .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Other routes have their own, generous quota.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[actix_web::test]
async fn other_routes_have_their_own_quota() {
    let app = spawn_app_with(limited).await;
    let statuses: Vec<u16> = join_all((0..8).map(|_| app.get("/healthz", None)))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    let refused = app.get("/healthz", None).await;
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    problem(refused, 429, "rate_limited").await;
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota() {
    let app = spawn_app_with(|vars| {
        limited(vars);
        vars.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        for _ in 0..3 {
            // One email per client: the per-account throttle is not what this test is about.
            let response = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .header("X-Forwarded-For", format!("203.0.113.250, {client}"))
                .json(&json!({"email": format!("nobody-{client}@example.com"), "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{client}");
        }
    }
    // The forwarded address is what sessions record.
    let tokens: Value = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("X-Forwarded-For", "198.51.100.9")
        .json(&json!({"email": "proxied@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions: Value = app
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .header("X-Forwarded-For", "198.51.100.9")
        .bearer_auth(access(&tokens))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["items"][0]["ip"], "198.51.100.9");
}

#[actix_web::test]
async fn limits_can_be_switched_off() {
    let app = spawn_app_with(|vars| {
        limited(vars);
        vars.insert("RATE_LIMIT_ENABLED".into(), "false".into());
    })
    .await;
    for n in 0..10 {
        let email = format!("nobody{n}@example.com");
        assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    }
}

#[actix_web::test]
async fn https_is_served_when_a_certificate_is_configured() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let app = spawn_app_with(|vars| {
        vars.insert("TLS_CERT_FILE".into(), cert.display().to_string());
        vars.insert("TLS_KEY_FILE".into(), key.display().to_string());
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap()])
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let plain = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
}

#[actix_web::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let app = portcullis_tests::spawn_app().await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let started = Instant::now();
        let mut buffer = Vec::new();
        let read = stream.read_to_end(&mut buffer);
        (
            started.elapsed(),
            read.is_ok(),
            String::from_utf8_lossy(&buffer).into_owned(),
        )
    })
    .await
    .unwrap();
    let (waited, closed, answer) = outcome;
    assert!(closed, "the server closed the connection");
    assert!(
        waited < Duration::from_secs(12),
        "cut off after the request timeout, not held: {waited:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[actix_web::test]
async fn a_login_storm_is_shed_while_reads_keep_working() {
    let app = spawn_app_with(|vars| {
        // Production cost, one hash at a time: the storm is many times what the machine can hash.
        vars.insert("ARGON2_MEMORY_KIB".into(), "19456".into());
        vars.insert("ARGON2_ITERATIONS".into(), "2".into());
        vars.insert("HASH_CONCURRENCY".into(), "1".into());
    })
    .await;
    let tokens = app.signup("reader@example.com").await;
    let tid = app.create_tenant(access(&tokens), "storm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Unknown accounts: no per-account back-off applies, and each costs a full (dummy) hash.
    let emails: Vec<String> = (0..200).map(|i| format!("storm{i}@example.com")).collect();
    let storm = join_all(emails.iter().map(|email| app.login(email, "wrong password")));
    let reads = async {
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(
                app.get(&format!("/api/v1/tenants/{tid}"), Some(access(&tokens)))
                    .await
                    .status()
                    .as_u16(),
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        statuses
    };
    let (logins, reads) = futures_util::join!(storm, reads);
    assert!(
        reads.iter().all(|s| *s == 200),
        "reads during the storm: {reads:?}"
    );
    let login_statuses: Vec<u16> = logins.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        login_statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{login_statuses:?}"
    );
    let shed = login_statuses.iter().filter(|s| **s == 503).count();
    assert!(
        shed > 0,
        "excess logins are shed instead of queueing without bound: {login_statuses:?}"
    );
    let busy = logins.iter().find(|r| r.status() == 503).unwrap();
    assert!(busy.headers().get("retry-after").is_some());
}

/// A POST to `path` with a JSON body from the client named in `X-Forwarded-For`.
async fn post_from(
    app: &portcullis_tests::TestApp,
    path: &str,
    client: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("X-Forwarded-For", client)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_percent_encoded_sign_in_path_is_held_to_the_sign_in_quota() {
    let app = spawn_app_with(limited).await;
    let wrong = json!({"email": "nobody@example.com", "password": PASSWORD});
    // Each spelling reaches the login handler (401, not 404) ...
    for path in [
        "/api/v1/auth/logi%6E",
        "/api/v1/auth/%6Cogin",
        "/api/v1/%61uth/login",
    ] {
        let response = app.post_json(path, &wrong, None).await;
        problem(response, 401, "invalid_credentials").await;
    }
    // ... and counts against the sign-in quota (burst 3), which is now spent for every spelling.
    for path in [
        "/api/v1/auth/logi%6E",
        "/api/v1/auth/login",
        "/api/v1/auth/sign%75p",
    ] {
        let response = app.post_json(path, &wrong, None).await;
        problem(response, 429, "rate_limited").await;
    }
}

#[actix_web::test]
async fn ipv6_clients_share_a_quota_per_64() {
    let app = spawn_app_with(|vars| {
        limited(vars);
        vars.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    let wrong = json!({"email": "nobody@example.com", "password": PASSWORD});
    for client in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
    ] {
        let response = post_from(&app, "/api/v1/auth/login", client, &wrong).await;
        assert_eq!(response.status(), 401, "{client}");
    }
    let same_64 = post_from(&app, "/api/v1/auth/login", "2001:db8:1:2:1234::9", &wrong).await;
    problem(same_64, 429, "rate_limited").await;
    let next_64 = post_from(&app, "/api/v1/auth/login", "2001:db8:1:3::1", &wrong).await;
    assert_eq!(next_64.status(), 401, "another /64 is another client");
}
