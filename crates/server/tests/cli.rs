//! The `portcullis` binary's commands, run as a user would run them.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn portcullis(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The PostgreSQL server of this run, from `TEST_POSTGRES_URL` (CI sets it). Without it, a test that
/// needs PostgreSQL says so and passes, so `cargo test` works on a machine without PostgreSQL.
fn postgres_url_or_skip(test: &str) -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Straight to stderr: the harness captures `eprintln!`, and a skip nobody sees looks
            // like a pass.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipping {test}: TEST_POSTGRES_URL is not set (it needs a PostgreSQL server)"
            );
            None
        }
    }
}

/// The same server and database as `url`, logging in as `user` with `password`.
fn with_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    // The user info ends at the last `@` before the host's path, if there is any.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host_and_path = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{user}:{password}@{host_and_path}")
}

#[test]
fn with_login_replaces_only_the_user_info() {
    for (url, expected) in [
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://u:p@127.0.0.1:5432/postgres",
        ),
        (
            "postgresql://a:b@db.example.com/x?sslmode=disable",
            "postgresql://u:p@db.example.com/x?sslmode=disable",
        ),
        ("postgres://localhost/db", "postgres://u:p@localhost/db"),
    ] {
        assert_eq!(with_login(url, "u", "p"), expected);
    }
}

#[test]
fn a_refused_postgres_login_prints_postgres_own_error_and_leaves_no_sqlite_file() {
    let Some(admin_url) =
        postgres_url_or_skip("a_refused_postgres_login_prints_postgres_own_error_and_leaves_no_sqlite_file")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The test PostgreSQL may trust local logins, so a role that does not exist stands in for a
    // wrong password: the server refuses the login and says why.
    let url = with_login(&admin_url, "no_such_role", "wrong-password");
    for args in [&["migrate"][..], &["serve"][..]] {
        let output = portcullis(dir.path(), args, &[("DATABASE_URL", &url)]);
        assert!(!output.status.success(), "{args:?} must fail");
        let said = text(&output);
        assert!(
            said.contains("no_such_role"),
            "PostgreSQL's own message is shown: {said}"
        );
        assert!(
            !said.contains("wrong-password"),
            "the password is not echoed: {said}"
        );
    }
    let stray: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with(".db") || p.contains("portcullis.db"))
        .collect();
    assert!(stray.is_empty(), "no SQLite file was created: {stray:?}");
}

#[test]
fn check_config_reports_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let output = portcullis(
        dir.path(),
        &["check-config"],
        &[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "too-short"),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ],
    );
    assert!(!output.status.success());
    let said = text(&output);
    for needle in [
        "JWT_SECRET",
        "SESSION_SECRET",
        "CORS_ALLOWED_ORIGINS",
        "PUBLIC_URL",
        "MAIL_TRANSPORT=file",
        "5 problems",
    ] {
        assert!(said.contains(needle), "{needle} in {said}");
    }
    assert!(!said.contains("too-short"), "secrets are not echoed: {said}");
}

/// Settings that work but are unsafe in production, one of each kind.
const WEAK_SETTINGS: &[(&str, &str)] = &[
    ("PUBLIC_URL", "https://auth.example.com"),
    ("JWT_SECRET", "changeme-changeme-changeme-changeme"),
    (
        "SESSION_SECRET",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ),
    ("TRUSTED_PROXIES", "0.0.0.0/0"),
    ("RATE_LIMIT_ENABLED", "false"),
    ("GITHUB_CLIENT_ID", "id"),
    ("GITHUB_CLIENT_SECRET", "github-client-secret"),
    (
        "GITHUB_TOKEN_URL",
        "http://github.example.com/login/oauth/access_token",
    ),
    ("OAUTH_REDIRECT_ALLOWLIST", "http://app.example.com/callback"),
    ("MAIL_TRANSPORT", "smtp"),
    ("SMTP_URL", "smtp://mail.example.com:587"),
];

#[test]
fn check_config_refuses_weak_settings_in_production_and_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = WEAK_SETTINGS.to_vec();
    vars.push(("APP_ENV", "production"));
    let output = portcullis(dir.path(), &["check-config"], &vars);
    assert!(!output.status.success(), "{}", text(&output));
    let said = text(&output);
    for needle in [
        "JWT_SECRET is too weak",
        "SESSION_SECRET is too weak",
        "TRUSTED_PROXIES: 0.0.0.0/0 is too broad",
        "RATE_LIMIT_ENABLED=false",
        "GITHUB_TOKEN_URL must be https://",
        "OAUTH_REDIRECT_ALLOWLIST: \"http://app.example.com/callback\" must be https://",
        "SMTP_URL has no TLS",
        "7 problems",
    ] {
        assert!(said.contains(needle), "{needle} in {said}");
    }
    assert!(
        !said.contains("changeme-changeme"),
        "secrets are not echoed: {said}"
    );
    assert!(!said.contains("xxxxxxxx"), "secrets are not echoed: {said}");

    // Development accepts the same settings, with a warning for each.
    let output = portcullis(dir.path(), &["check-config"], WEAK_SETTINGS);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        text(&output).matches("(refused in production)").count(),
        7,
        "{}",
        text(&output)
    );
}

#[test]
fn migrate_on_sqlite_creates_the_database_under_data_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = portcullis(dir.path(), &["migrate"], &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(dir.path().join("data/portcullis.db").exists());
    assert!(
        dir.path().join("data/jwt_secret").exists(),
        "development secrets are generated and kept"
    );
    let second = portcullis(dir.path(), &["migrate"], &[]);
    assert!(second.status.success());
    assert!(text(&second).contains("none pending"), "{}", text(&second));
}

/// The permission bits of a file or folder.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn a_fresh_data_folder_database_and_secrets_are_private_to_the_server_user() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The usual umask (022) makes new files world-readable unless the server asks for less; pin it so
    // the test does not depend on the caller's umask.
    let mut child = Command::new("sh")
        .args(["-c", "umask 022 && exec \"$0\" serve"])
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // /readyz takes SQLite's write lock, so the WAL files exist once it has answered.
    let ready = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        http(
            port,
            "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
    });
    let data = dir.path().join("data");
    let modes: Vec<(String, u32)> = [
        "",
        "portcullis.db",
        "portcullis.db-wal",
        "portcullis.db-shm",
        "jwt_secret",
        "session_secret",
    ]
    .iter()
    .map(|name| (format!("data/{name}"), mode(&data.join(name))))
    .collect();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(ready, "the server came up");
    let expected: Vec<(String, u32)> = modes
        .iter()
        .map(|(name, _)| {
            let private = if name == "data/" { 0o700 } else { 0o600 };
            (name.clone(), private)
        })
        .collect();
    let octal = |list: &[(String, u32)]| {
        list.iter()
            .map(|(name, mode)| format!("{name} {mode:o}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(octal(&modes), octal(&expected));
}

#[test]
fn an_unknown_command_prints_usage() {
    let dir = tempfile::tempdir().unwrap();
    let output = portcullis(dir.path(), &["frobnicate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("usage: portcullis"));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.display().to_string());
            if path.is_dir() {
                found.extend(walk(&path));
            }
        }
    }
    found
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, request: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    // An expensive argon2 setting makes a sign-in slow enough to be in flight when the signal lands.
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", &bind)
        .env("ARGON2_MEMORY_KIB", "262144")
        .env("ARGON2_ITERATIONS", "4")
        .env("RATE_LIMIT_ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        http(
            port,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert!(ready, "the server came up");

    let body = r#"{"email":"nobody@example.com","password":"correct horse battery staple"}"#;
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let in_flight = std::thread::spawn(move || http(port, &request));
    std::thread::sleep(std::time::Duration::from_millis(150));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let answer = in_flight
        .join()
        .unwrap()
        .expect("the in-flight request was answered");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    assert!(
        http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").is_err(),
        "no new connections after shutdown"
    );
}
