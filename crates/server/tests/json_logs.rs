//! `LOG_FORMAT=json` on the real binary: every line on stderr is one JSON object, and the access line
//! of a request carries its request id as a field.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str, request_id: &str) -> Option<String> {
    send(port, "GET", path, "", request_id)
}

fn send(port: u16, method: &str, path: &str, json: &str, request_id: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The `refresh_token` of a JSON answer.
fn refresh_token(answer: &str) -> String {
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["refresh_token"].as_str().unwrap().to_owned()
}

#[test]
fn every_line_is_a_json_object_and_access_lines_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir.path())
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/db.sqlite", dir.path().display()),
        )
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", dir.path().join("data"))
        .env("JWT_SECRET", "log-test-jwt-secret-0123456789abcdef-0123")
        .env("SESSION_SECRET", "s".repeat(64))
        .env("REFRESH_REUSE_GRACE_SECS", "0")
        .env("ARGON2_MEMORY_KIB", "1024")
        .env("ARGON2_ITERATIONS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        if let Some(answer) = get(port, "/healthz", "log-test-0001") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the server never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    get(port, "/no/such/route", "log-test-0002").unwrap();
    // A line written while answering (in the request's database work): a refresh token used twice.
    let signup = send(
        port,
        "POST",
        "/api/v1/auth/signup",
        r#"{"email":"logs@example.com","password":"correct horse battery staple"}"#,
        "log-test-0003",
    )
    .unwrap();
    let spent = format!(r#"{{"refresh_token":"{}"}}"#, refresh_token(&signup));
    let refreshed = send(port, "POST", "/api/v1/auth/refresh", &spent, "log-test-0004").unwrap();
    assert!(refreshed.starts_with("HTTP/1.1 200"), "{refreshed}");
    let reused = send(port, "POST", "/api/v1/auth/refresh", &spent, "log-test-0005").unwrap();
    assert!(reused.starts_with("HTTP/1.1 401"), "{reused}");
    // SIGTERM would be gentler, but the lines were written before the answers were sent.
    std::thread::sleep(Duration::from_millis(200));
    server.kill().unwrap();
    let mut stderr = String::new();
    server.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    server.wait().unwrap();

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        for key in ["ts", "level", "target", "msg"] {
            assert!(line[key].is_string(), "{key} missing: {line}");
        }
    }
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "portcullis::access" && l["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id} in {stderr}"))
            .clone()
    };
    let first = access("log-test-0001");
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/healthz");
    assert_eq!(first["peer"], "127.0.0.1");
    let unmatched = access("log-test-0002");
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["path"], "/no/such/route");
    let reuse = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("refresh token reuse detected"))
        })
        .unwrap_or_else(|| panic!("no reuse line in {stderr}"));
    assert_eq!(reuse["request_id"], "log-test-0005", "{reuse}");
    assert_eq!(reuse["level"], "WARN");
}
