//! `portcullis [serve]` migrates and serves; `portcullis migrate` only migrates;
//! `portcullis check-config` validates the configuration and exits; `portcullis keys rotate` starts
//! a signing key rotation and `portcullis keys list` shows the keys.

use std::process::ExitCode;

use portcullis_server::{Application, Settings};

const USAGE: &str = "usage: portcullis [serve | migrate | check-config | keys rotate | keys list]";

fn main() -> ExitCode {
    // Read ahead of the other settings, so that configuration errors are logged in the chosen format
    // too; a wrong value is reported with them and falls back to text meanwhile.
    let _ = dotenvy::dotenv();
    let format = std::env::var("LOG_FORMAT")
        .ok()
        .and_then(|name| portcullis_server::config::LogFormat::parse(name.trim()))
        .unwrap_or(portcullis_server::config::LogFormat::Text);
    portcullis_server::logging::init(format);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.as_slice() {
        [] => "serve",
        [one] if matches!(one.as_str(), "serve" | "migrate" | "check-config") => one.as_str(),
        [keys, action] if keys == "keys" && matches!(action.as_str(), "rotate" | "list") => action.as_str(),
        [one] if matches!(one.as_str(), "-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        "check-config" => {
            println!(
                "configuration is valid ({:?}, {:?} database)",
                settings.app_env,
                settings.database_url.backend()
            );
            ExitCode::SUCCESS
        }
        "migrate" => match portcullis_server::migrate(&settings) {
            Ok(applied) => {
                println!(
                    "migrations applied: {}",
                    if applied.is_empty() {
                        "none pending".into()
                    } else {
                        applied.join(", ")
                    }
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
        "rotate" | "list" => match portcullis_server::keys::command(&settings, command) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
        _ => serve(settings),
    }
}

fn serve(settings: Settings) -> ExitCode {
    let outcome = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until_stopped()
            .await
            .map_err(portcullis_server::StartupError::from)
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
