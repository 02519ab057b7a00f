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

#[test]
fn a_refused_postgres_login_prints_postgres_own_error_and_leaves_no_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    // The machine's PostgreSQL trusts local logins, so a role that does not exist stands in for a
    // wrong password: the server refuses the login and says why.
    let url = "postgres://no_such_role:wrong-password@127.0.0.1:5432/postgres";
    for args in [&["migrate"][..], &["serve"][..]] {
        let output = portcullis(dir.path(), args, &[("DATABASE_URL", url)]);
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
        "4 problems",
    ] {
        assert!(said.contains(needle), "{needle} in {said}");
    }
    assert!(!said.contains("too-short"), "secrets are not echoed: {said}");
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
