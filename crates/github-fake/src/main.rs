//! `github-fake`: serves the fake on `FAKE_GITHUB_ADDR` (default 127.0.0.1:9090) for offline
//! development. `FAKE_GITHUB_CLIENT_ID` / `FAKE_GITHUB_CLIENT_SECRET` must match Portcullis's
//! `GITHUB_CLIENT_ID` / `GITHUB_CLIENT_SECRET`; `FAKE_GITHUB_USERS` may hold a JSON list of users.

use std::net::TcpListener;
use std::process::ExitCode;

use portcullis_github_fake::{default_users, FakeGithub, FakeUser};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let addr = var("FAKE_GITHUB_ADDR", "127.0.0.1:9090");
    let users = match std::env::var("FAKE_GITHUB_USERS") {
        Ok(json) => match serde_json::from_str::<Vec<FakeUser>>(&json) {
            Ok(users) => users,
            Err(err) => {
                eprintln!("FAKE_GITHUB_USERS is not a JSON list of users: {err}");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => default_users(),
    };
    let run = || -> std::io::Result<()> {
        let listener = TcpListener::bind(&addr)?;
        log::info!("fake GitHub on http://{addr}");
        let (id, secret) = (
            var("FAKE_GITHUB_CLIENT_ID", "fake-client-id"),
            var("FAKE_GITHUB_CLIENT_SECRET", "fake-client-secret"),
        );
        actix_web::rt::System::new()
            .block_on(async move { FakeGithub::server(listener, &id, &secret, users)?.await })
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
