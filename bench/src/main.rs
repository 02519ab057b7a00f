//! `portcullis-bench`: measures Portcullis against bare baselines in the same run and writes
//! `docs/benchmarks.md` and `docs/benchmarks.svg`.
//!
//! `portcullis-bench run --portcullis PATH [--quick] [--out DIR]` seeds a fresh database (SQLite, or the
//! PostgreSQL server of `DATABASE_URL`), starts Portcullis and the baseline server on it, and runs every
//! scenario against both in alternation. `portcullis-bench baseline` is the baseline server itself.

mod baseline;
mod crypto;
mod http;
mod load;
mod plan;
mod report;
mod results;
mod run;
mod scenarios;
mod seed;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("baseline") => baseline::main(&args[1..]),
        Some("run") => run::main(&args[1..]),
        _ => Err("usage: portcullis-bench (run --portcullis PATH [--quick] [--out DIR] | baseline --bind ADDR --database-url URL)".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Errors are reported and end the run; a benchmark has no partial result worth keeping.
pub type Result<T> = std::result::Result<T, String>;

/// Turns any displayable error into the run's error.
pub fn fail<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{context}: {err}")
}
