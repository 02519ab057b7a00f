//! `portcullis-bench run`: per backend, seed a fresh database, start Portcullis and the baseline on
//! it, measure, clean up; then write the report.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use portcullis_db::DatabaseUrl;

use crate::plan::Plan;
use crate::results::BackendResult;
use crate::{fail, report, scenarios, seed, Result};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

pub fn main(args: &[String]) -> Result<()> {
    let portcullis = flag(args, "--portcullis").ok_or("missing --portcullis PATH")?;
    let portcullis = std::fs::canonicalize(&portcullis).map_err(fail("--portcullis"))?;
    let out = std::path::PathBuf::from(flag(args, "--out").unwrap_or_else(|| "docs".into()));
    let mut plan = if args.iter().any(|a| a == "--quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(only) = flag(args, "--only") {
        let mut mask = 0u8;
        for id in only.split(',') {
            match id.trim().strip_prefix('S').and_then(|n| n.parse::<u8>().ok()) {
                Some(n @ 1..=5) => mask |= 1 << n,
                _ => return Err(format!("--only takes S1 … S5, not `{id}`")),
            }
        }
        plan.only = Some(mask);
    }
    // `--backend sqlite` or `--backend postgres` measures one; only with --only, since the report
    // always comes from a full run.
    let backend = flag(args, "--backend");
    match backend.as_deref() {
        None => {}
        Some("sqlite" | "postgres") if plan.only.is_some() => {}
        Some("sqlite" | "postgres") => return Err("--backend goes with --only".into()),
        Some(other) => return Err(format!("--backend takes sqlite or postgres, not `{other}`")),
    }
    let postgres = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    if backend.as_deref() == Some("postgres") && postgres.is_none() {
        return Err("--backend postgres needs DATABASE_URL naming a PostgreSQL server".into());
    }
    let mut results = Vec::new();
    if backend.as_deref() != Some("postgres") {
        results.extend(run_backend("SQLite", None, &portcullis, plan)?);
    }
    match postgres {
        Some(_) if backend.as_deref() == Some("sqlite") => {}
        Some(admin) => results.extend(run_backend("PostgreSQL", Some(&admin), &portcullis, plan)?),
        None => eprintln!("DATABASE_URL does not name a PostgreSQL server: measuring SQLite only"),
    }
    if plan.only.is_some() {
        return Ok(());
    }
    let tokens = crate::crypto::measure(if plan.quick { 200 } else { 20_000 })?;
    std::fs::create_dir_all(&out).map_err(fail("output folder"))?;
    report::write(&out, &results, &tokens, plan).map_err(fail("report"))?;
    println!(
        "wrote {}/benchmarks.md and {}/benchmarks.svg",
        out.display(),
        out.display()
    );
    Ok(())
}

/// A server process that is killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(fail("port"))?
        .local_addr()
        .map_err(fail("port"))?
        .port())
}

fn wait_ready(url: &str) -> Result<()> {
    for _ in 0..300 {
        if let Ok(mut stream) = std::net::TcpStream::connect(url.trim_start_matches("http://")) {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"GET /bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            if stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.1") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{url} did not come up"))
}

fn run_backend(
    name: &'static str,
    admin: Option<&str>,
    portcullis: &std::path::Path,
    plan: Plan,
) -> Result<Option<BackendResult>> {
    eprintln!("== {name}: seeding {:?}", plan.size);
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).map_err(fail("temp dir"))?;
    let (url, database) = match admin {
        Some(admin) => {
            let database = format!("portcullis_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::establish(admin).map_err(fail("PostgreSQL"))?;
            diesel::sql_query(format!("CREATE DATABASE {database}"))
                .execute(&mut conn)
                .map_err(fail("create database"))?;
            let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(admin);
            (format!("{base}/{database}"), Some(database))
        }
        None => (format!("sqlite://{}", dir.join("bench.db").display()), None),
    };
    let parsed = DatabaseUrl::parse(&url).map_err(fail("database url"))?;
    let seeded = seed::seed(&parsed, plan.size)?;
    let (app_port, base_port) = (free_port()?, free_port()?);
    let app = spawn_portcullis(
        portcullis,
        &dir,
        &url,
        app_port,
        plan,
        &[("RATE_LIMIT_ENABLED", "false".into())],
    )?;
    let baseline = Process(
        Command::new(std::env::current_exe().map_err(fail("own path"))?)
            .args([
                "baseline",
                "--bind",
                &format!("127.0.0.1:{base_port}"),
                "--database-url",
                &url,
                "--hash",
                &seeded.hash,
                "--hash-concurrency",
                &plan.hash_concurrency.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(fail("start baseline"))?,
    );
    let app_url = format!("http://127.0.0.1:{app_port}");
    let base_url = format!("http://127.0.0.1:{base_port}");
    wait_ready(&app_url)?;
    wait_ready(&base_url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail("runtime"))?;
    let servers = scenarios::Servers {
        app: app_url,
        base: base_url,
        pid: app.0.id(),
    };
    if plan.only.is_some() {
        let ratios = runtime.block_on(scenarios::measure_ratios(name, &servers, &seeded, plan));
        drop(app);
        drop(baseline);
        clean_up(admin, database, &dir);
        print_ratios(name, &ratios?);
        return Ok(None);
    }
    let result = runtime.block_on(scenarios::measure(name, &servers, &seeded, plan));
    drop(app);
    drop(baseline);
    let result = match (result, redis_url()) {
        (Ok(mut result), Some(redis)) => {
            result.instances = Some(instances(
                portcullis, &dir, &url, plan, &redis, &seeded, &runtime, name,
            )?);
            Ok(result)
        }
        (Ok(result), None) => {
            eprintln!(
                "== {name}: S9 skipped: no Redis answers at REDIS_URL (default redis://127.0.0.1:6379)"
            );
            Ok(result)
        }
        (err, _) => err,
    };
    clean_up(admin, database, &dir);
    result.map(Some)
}

/// Drops the run's PostgreSQL database and removes its folder.
fn clean_up(admin: Option<&str>, database: Option<String>, dir: &std::path::Path) {
    if let (Some(admin), Some(database)) = (admin, database) {
        if let Ok(mut conn) = PgConnection::establish(admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `--only`: one line per ratio on standard output.
fn print_ratios(backend: &str, ratios: &[crate::results::Ratio]) {
    for ratio in ratios {
        let rounds: Vec<String> = ratio.rounds.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{backend} {}: {:.2} ({}) {:.0} vs {:.0} {}, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            ratio.id,
            ratio.median(),
            rounds.join(" "),
            ratio.ours,
            ratio.baseline,
            ratio.unit,
            ratio.p50,
            ratio.p99,
            ratio.errors,
        );
    }
}

/// A Portcullis process on `url`, listening on `port`, with the bench's settings and `extra` on top.
fn spawn_portcullis(
    portcullis: &std::path::Path,
    dir: &std::path::Path,
    url: &str,
    port: u16,
    plan: Plan,
    extra: &[(&str, String)],
) -> Result<Process> {
    let mut command = Command::new(portcullis);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("HASH_CONCURRENCY", plan.hash_concurrency.to_string())
        .env("RUST_LOG", "warn")
        .env("JWT_SECRET", "bench-jwt-secret-0123456789abcdef-0123456789")
        .env(
            "SESSION_SECRET",
            "bench-session-secret-0123456789abcdef-0123456789abcdef-0123456789",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in extra {
        command.env(name, value);
    }
    Ok(Process(command.spawn().map_err(fail("start portcullis"))?))
}

/// The Redis S9 uses: `REDIS_URL`, by default the local one, when it answers.
fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let host = url.trim_start_matches("redis://").split('/').next()?.to_owned();
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&host).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    stream.write_all(b"PING\r\n").ok()?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).ok()?;
    (&answer == b"+PONG\r\n").then_some(url)
}

/// S9: three more servers on the run's database (limits in memory; limits in Redis, twice).
#[allow(clippy::too_many_arguments)]
fn instances(
    portcullis: &std::path::Path,
    dir: &std::path::Path,
    url: &str,
    plan: Plan,
    redis: &str,
    seeded: &seed::Seeded,
    runtime: &tokio::runtime::Runtime,
    name: &str,
) -> Result<crate::results::Instances> {
    // Quotas no request reaches: every request pays the check, none is refused.
    let limits = |redis: Option<&str>| {
        let mut env = vec![
            ("RATE_LIMIT_ENABLED", "true".to_owned()),
            ("RATE_LIMIT_API_PER_SEC", "1000000".to_owned()),
            ("RATE_LIMIT_API_BURST", "1000000".to_owned()),
            ("RATE_LIMIT_AUTH_PER_MIN", "1000000".to_owned()),
            ("RATE_LIMIT_AUTH_BURST", "1000000".to_owned()),
            ("PUBLIC_URL", "http://bench.portcullis.invalid".to_owned()),
        ];
        if let Some(redis) = redis {
            env.push(("REDIS_URL", redis.to_owned()));
            env.push((
                "REDIS_KEY_PREFIX",
                format!("bench-{}", uuid::Uuid::now_v7().simple()),
            ));
        }
        env
    };
    let prefix_env = limits(Some(redis));
    let (memory_port, a_port, b_port) = (free_port()?, free_port()?, free_port()?);
    let memory = spawn_portcullis(portcullis, dir, url, memory_port, plan, &limits(None))?;
    let base = |port: u16| format!("http://127.0.0.1:{port}");
    wait_ready(&base(memory_port))?;
    // The two Redis instances share one key prefix: one quota.
    let redis_a = spawn_portcullis(portcullis, dir, url, a_port, plan, &prefix_env)?;
    wait_ready(&base(a_port))?;
    let redis_b = spawn_portcullis(portcullis, dir, url, b_port, plan, &prefix_env)?;
    wait_ready(&base(b_port))?;
    let servers = scenarios::Instance {
        memory: base(memory_port),
        redis_a: base(a_port),
        redis_b: base(b_port),
    };
    let measured = runtime.block_on(scenarios::measure_instances(name, &servers, seeded, plan));
    drop((memory, redis_a, redis_b));
    measured
}
