//! The scenarios, run against Portcullis and the baseline in alternation (A B A B …).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use futures_util::FutureExt;
use portcullis_db::DatabaseUrl;
use serde_json::{json, Value};

use crate::load::{closed_loop, memory_mib, open_loop, Call, Latencies, Throughput};
use crate::report::{self, BackendResult, Ratio, Storm};
use crate::seed::{self, Seeded, Size, PASSWORD};
use crate::{fail, Result};

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Each closed-loop measurement.
    pub measure: Duration,
    /// A B pairs per scenario.
    pub rounds: usize,
    /// Closed-loop workers.
    pub concurrency: usize,
    /// Open-loop duration.
    pub open: Duration,
    /// Mixed workload rate.
    pub mixed_rate: f64,
    /// Reads per second during the storm scenario.
    pub read_rate: f64,
    /// Data set.
    pub size: Size,
    /// Whether this is the quick variant (CI keeps the harness working; figures mean little).
    pub quick: bool,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            measure: Duration::from_secs(4),
            rounds: 3,
            concurrency: 16,
            open: Duration::from_secs(8),
            mixed_rate: 200.0,
            read_rate: 50.0,
            size: Size {
                tenants: 100,
                users: 5000,
                projects: 100_000,
            },
            quick: false,
        }
    }

    fn quick() -> Plan {
        Plan {
            measure: Duration::from_millis(500),
            rounds: 1,
            concurrency: 4,
            open: Duration::from_secs(1),
            mixed_rate: 40.0,
            read_rate: 20.0,
            size: Size {
                tenants: 4,
                users: 40,
                projects: 400,
            },
            quick: true,
        }
    }
}

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
    let plan = if args.iter().any(|a| a == "--quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    let mut results = Vec::new();
    results.push(run_backend("SQLite", None, &portcullis, plan)?);
    match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        Some(admin) => results.push(run_backend("PostgreSQL", Some(&admin), &portcullis, plan)?),
        None => eprintln!("DATABASE_URL does not name a PostgreSQL server: measuring SQLite only"),
    }
    std::fs::create_dir_all(&out).map_err(fail("output folder"))?;
    report::write(&out, &results, plan).map_err(fail("report"))?;
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
) -> Result<BackendResult> {
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
    let app = Process(
        Command::new(portcullis)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("BIND_ADDR", format!("127.0.0.1:{app_port}"))
            .env("RATE_LIMIT_ENABLED", "false")
            .env("RUST_LOG", "warn")
            .env("JWT_SECRET", "bench-jwt-secret-0123456789abcdef-0123456789")
            .env(
                "SESSION_SECRET",
                "bench-session-secret-0123456789abcdef-0123456789abcdef-0123456789",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(fail("start portcullis"))?,
    );
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
    let result = runtime.block_on(measure(name, &app_url, &base_url, app.0.id(), &seeded, plan));
    drop(app);
    drop(baseline);
    if let (Some(admin), Some(database)) = (admin, database) {
        if let Ok(mut conn) = PgConnection::establish(admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

struct Ctx {
    http: reqwest::Client,
    app: String,
}

impl Ctx {
    async fn login(&self, email: &str) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}/api/v1/auth/login", self.app))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .map_err(fail("login"))?;
        if !response.status().is_success() {
            return Err(format!("login of {email}: {}", response.status()));
        }
        response.json().await.map_err(fail("login body"))
    }
}

fn ok(response: reqwest::Result<reqwest::Response>) -> bool {
    response.is_ok_and(|r| r.status().is_success())
}

fn get(
    http: &reqwest::Client,
    url: String,
    token: Option<String>,
) -> futures_util::future::BoxFuture<'static, bool> {
    let request = http.get(url);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    async move { ok(request.send().await) }.boxed()
}

fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<String>,
    body: Value,
) -> futures_util::future::BoxFuture<'static, bool> {
    let request = http.post(url).json(&body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    async move { ok(request.send().await) }.boxed()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// A B A B … closed-loop rounds; returns the ratio of each round and the median absolute figures.
async fn alternate(plan: Plan, a: Call, b: Call, a_concurrency: usize) -> (Vec<f64>, f64, f64, u64) {
    let (mut ratios, mut ours, mut theirs, mut errors) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..plan.rounds {
        let Throughput {
            per_sec: x,
            errors: e,
        } = closed_loop(a.clone(), a_concurrency, plan.measure).await;
        let Throughput { per_sec: y, .. } = closed_loop(b.clone(), a_concurrency, plan.measure).await;
        errors += e;
        ratios.push(if y > 0.0 { x / y } else { 0.0 });
        ours.push(x);
        theirs.push(y);
    }
    (ratios, median(&ours), median(&theirs), errors)
}

async fn measure(
    name: &'static str,
    app: &str,
    base: &str,
    pid: u32,
    seeded: &Seeded,
    plan: Plan,
) -> Result<BackendResult> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(fail("client"))?;
    let ctx = Ctx {
        http: http.clone(),
        app: app.to_owned(),
    };
    let idle_rss = memory_mib(pid).0;
    let member = ctx.login(&seeded.members[0]).await?;
    let token = member["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();
    let tenant = seeded.tenants[0].clone();
    let projects = Arc::new(seeded.projects[0].clone());
    let mut ratios = Vec::new();

    eprintln!("== {name}: S1 health");
    let (h, b) = (http.clone(), http.clone());
    let (a_url, b_url) = (format!("{app}/healthz"), format!("{base}/bare"));
    let s1 = alternate(
        plan,
        Arc::new(move |_| get(&h, a_url.clone(), None)),
        Arc::new(move |_| get(&b, b_url.clone(), None)),
        plan.concurrency,
    )
    .await;
    ratios.push(Ratio::new(
        "S1",
        "/healthz vs bare handler",
        Some(0.9),
        s1,
        "req/s",
    ));

    eprintln!("== {name}: S2 authenticated project read");
    let (h, b, t, p1, p2) = (
        http.clone(),
        http.clone(),
        token.clone(),
        projects.clone(),
        projects.clone(),
    );
    let (app_s, base_s, tid1, tid2) = (app.to_owned(), base.to_owned(), tenant.clone(), tenant.clone());
    let s2 = alternate(
        plan,
        Arc::new(move |i| {
            get(
                &h,
                format!("{app_s}/api/v1/tenants/{tid1}/projects/{}", p1[i % p1.len()]),
                Some(t.clone()),
            )
        }),
        Arc::new(move |i| get(&b, format!("{base_s}/read/{tid2}/{}", p2[i % p2.len()]), None)),
        plan.concurrency,
    )
    .await;
    ratios.push(Ratio::new(
        "S2",
        "authenticated project GET vs bare read",
        Some(0.75),
        s2,
        "req/s",
    ));

    eprintln!("== {name}: S3 project create");
    let (h, b, t) = (http.clone(), http.clone(), token.clone());
    let (a_url, b_url) = (
        format!("{app}/api/v1/tenants/{tenant}/projects"),
        format!("{base}/insert/{tenant}"),
    );
    let s3 = alternate(
        plan,
        Arc::new(move |i| {
            post(
                &h,
                a_url.clone(),
                Some(t.clone()),
                json!({"name": format!("bench {i}")}),
            )
        }),
        Arc::new(move |_| post(&b, b_url.clone(), None, json!({}))),
        plan.concurrency,
    )
    .await;
    ratios.push(Ratio::new(
        "S3",
        "project create vs bare insert",
        Some(0.7),
        s3,
        "req/s",
    ));

    eprintln!("== {name}: S4 login throughput");
    let users = plan.size.users;
    let (h, b) = (http.clone(), http.clone());
    let (a_url, b_url) = (format!("{app}/api/v1/auth/login"), format!("{base}/argon2"));
    let s4 = alternate(
        plan,
        Arc::new(move |i| {
            post(
                &h,
                a_url.clone(),
                None,
                json!({"email": format!("user{}@bench.example", i % users), "password": PASSWORD}),
            )
        }),
        Arc::new(move |_| post(&b, b_url.clone(), None, json!({}))),
        plan.concurrency,
    )
    .await;
    let login_capacity = s4.1;
    ratios.push(Ratio::new(
        "S4",
        "logins/s vs raw argon2id verifies/s",
        Some(0.9),
        s4,
        "req/s",
    ));

    eprintln!("== {name}: S5 refresh");
    let mut refresh_tokens = Vec::new();
    for i in 0..plan.concurrency {
        let tokens = ctx.login(&seeded.members[i % seeded.members.len()]).await?;
        refresh_tokens.push(Mutex::new(
            tokens["refresh_token"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let refresh_tokens = Arc::new(refresh_tokens);
    let (h, b, slots, sessions) = (
        http.clone(),
        http.clone(),
        refresh_tokens.clone(),
        Arc::new(seeded.sessions.clone()),
    );
    let (a_url, base_s) = (format!("{app}/api/v1/auth/refresh"), base.to_owned());
    let s5 = alternate(
        plan,
        Arc::new(move |i| {
            let slots = slots.clone();
            let slot = i % slots.len();
            let current = slots[slot].lock().map(|t| t.clone()).unwrap_or_default();
            let request = h.post(a_url.clone()).json(&json!({ "refresh_token": current }));
            async move {
                let Ok(response) = request.send().await else {
                    return false;
                };
                let Ok(body) = response.json::<Value>().await else {
                    return false;
                };
                match body["refresh_token"].as_str() {
                    Some(next) => {
                        if let Ok(mut held) = slots[slot].lock() {
                            *held = next.to_owned();
                        }
                        true
                    }
                    None => false,
                }
            }
            .boxed()
        }),
        Arc::new(move |i| {
            post(
                &b,
                format!("{base_s}/rui/{}", sessions[i % sessions.len()]),
                None,
                json!({}),
            )
        }),
        plan.concurrency,
    )
    .await;
    ratios.push(Ratio::new(
        "S5",
        "refresh vs bare read-update-insert transaction",
        Some(0.7),
        s5,
        "req/s",
    ));

    eprintln!("== {name}: S6 mixed open-loop workload");
    let classes = mixed_classes(
        &ctx,
        &token,
        &tenant,
        projects.clone(),
        refresh_tokens.clone(),
        users,
    );
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(memory_mib(pid).0);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let mixed = open_loop(&classes, mix, plan.mixed_rate, plan.open).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let s6_rss = sampler.await.unwrap_or(0.0);

    eprintln!("== {name}: S7 login storm");
    let (h, t, p) = (http.clone(), token.clone(), projects.clone());
    let read_url = format!("{app}/api/v1/tenants/{tenant}/projects");
    let read: Call = Arc::new(move |i| get(&h, format!("{read_url}/{}", p[i % p.len()]), Some(t.clone())));
    let alone = open_loop(std::slice::from_ref(&read), |_| 0, plan.read_rate, plan.open)
        .await
        .remove(0);
    let storm_rate = (login_capacity * 5.0).max(5.0);
    let h = http.clone();
    let login_url = format!("{app}/api/v1/auth/login");
    let login: Call = Arc::new(move |i| {
        post(
            &h,
            login_url.clone(),
            None,
            json!({"email": format!("user{}@bench.example", i % users), "password": PASSWORD}),
        )
    });
    let (reads, logins) = ([read.clone()], [login]);
    let (with_storm, storm_logins) = tokio::join!(
        open_loop(&reads, |_| 0, plan.read_rate, plan.open),
        open_loop(&logins, |_| 0, storm_rate, plan.open)
    );
    let with_storm = with_storm.into_iter().next().unwrap_or_default();
    let storm_logins = storm_logins.into_iter().next().unwrap_or_default();
    let (_, peak_rss) = memory_mib(pid);
    let storm = Storm {
        rate: storm_rate,
        read_rate: plan.read_rate,
        p99_alone: alone.p99,
        p99_storm: with_storm.p99,
        read_errors: with_storm.errors,
        reads: with_storm.count,
        logins: storm_logins.count,
        logins_refused: storm_logins.errors,
        peak_rss,
    };
    Ok(BackendResult {
        backend: name,
        ratios,
        mixed: MIX_NAMES.iter().map(|n| n.to_string()).zip(mixed).collect(),
        storm,
        idle_rss,
        s6_rss,
    })
}

const MIX_NAMES: [&str; 5] = [
    "read (80%)",
    "write (10%)",
    "refresh (5%)",
    "login (1%)",
    "list (4%)",
];

/// 80% reads, 10% writes, 5% refresh, 1% login, 4% list, spread evenly over the schedule.
fn mix(i: usize) -> usize {
    match (i * 37) % 100 {
        0..=79 => 0,
        80..=89 => 1,
        90..=94 => 2,
        95 => 3,
        _ => 4,
    }
}

fn mixed_classes(
    ctx: &Ctx,
    token: &str,
    tenant: &str,
    projects: Arc<Vec<String>>,
    refresh: Arc<Vec<Mutex<String>>>,
    users: usize,
) -> Vec<Call> {
    let app = ctx.app.clone();
    let http = ctx.http.clone();
    let (h1, h2, h3, h4, h5) = (http.clone(), http.clone(), http.clone(), http.clone(), http);
    let (t1, t2, t5) = (token.to_owned(), token.to_owned(), token.to_owned());
    let one = format!("{app}/api/v1/tenants/{tenant}/projects");
    let (many, create, refresh_url, login_url) = (
        one.clone(),
        one.clone(),
        format!("{app}/api/v1/auth/refresh"),
        format!("{app}/api/v1/auth/login"),
    );
    let read: Call = Arc::new(move |i| {
        get(
            &h1,
            format!("{one}/{}", projects[i % projects.len()]),
            Some(t1.clone()),
        )
    });
    let write: Call = Arc::new(move |i| {
        post(
            &h2,
            create.clone(),
            Some(t2.clone()),
            json!({"name": format!("mixed {i}")}),
        )
    });
    let renew: Call = Arc::new(move |i| {
        let slots = refresh.clone();
        let slot = i % slots.len();
        let current = slots[slot].lock().map(|t| t.clone()).unwrap_or_default();
        let request = h3
            .post(refresh_url.clone())
            .json(&json!({ "refresh_token": current }));
        async move {
            let Ok(response) = request.send().await else {
                return false;
            };
            let Ok(body) = response.json::<Value>().await else {
                return false;
            };
            if let (Some(next), Ok(mut held)) = (body["refresh_token"].as_str(), slots[slot].lock()) {
                *held = next.to_owned();
                return true;
            }
            false
        }
        .boxed()
    });
    let login: Call = Arc::new(move |i| {
        post(
            &h4,
            login_url.clone(),
            None,
            json!({"email": format!("user{}@bench.example", i % users), "password": PASSWORD}),
        )
    });
    let list: Call = Arc::new(move |_| get(&h5, format!("{many}?limit=20"), Some(t5.clone())));
    vec![read, write, renew, login, list]
}

/// Kept so the figures can be re-derived: the latencies of one class.
pub type Class = (String, Latencies);
