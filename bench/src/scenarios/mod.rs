//! The scenarios, run against Portcullis and the baseline in alternation (A B A B …): S1–S5 as
//! throughput ratios (`ratios`), S6 the mixed open-loop workload (`mixed`), S7 the login storm
//! (`storm`), S8 memory along the way. They produce `results`, which the report reads.

mod instances;
mod mixed;
mod ratios;
mod storm;

pub use instances::{measure_instances, Instance};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};

use crate::load::{closed_loop, memory_mib, Call, Throughput};
use crate::plan::Plan;
use crate::results::{median, Alternation, BackendResult};
use crate::seed::{Seeded, PASSWORD};
use crate::{fail, Result};

/// The two servers of a run.
pub struct Servers {
    /// Portcullis's base URL.
    pub app: String,
    /// The baseline's base URL.
    pub base: String,
    /// Portcullis's process id, for its memory.
    pub pid: u32,
}

/// What every scenario works with: a client, the servers, and a signed-in tenant member.
struct Bench<'a> {
    http: reqwest::Client,
    app: &'a str,
    base: &'a str,
    pid: u32,
    plan: Plan,
    /// The member's access token.
    token: String,
    /// The member's tenant.
    tenant: String,
    /// Projects of that tenant.
    projects: Arc<Vec<String>>,
    /// Seeded users (`user{i}@bench.example`).
    users: usize,
}

/// Refresh tokens, one slot per worker, each replaced by the token its rotation returns.
type Slots = Arc<Vec<Mutex<String>>>;

impl Bench<'_> {
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

    /// A password login of seeded user `i`.
    fn login_call(&self) -> Call {
        let (http, url, users) = (
            self.http.clone(),
            format!("{}/api/v1/auth/login", self.app),
            self.users,
        );
        Arc::new(move |i| {
            crate::http::post(
                &http,
                url.clone(),
                None,
                json!({"email": format!("user{}@bench.example", i % users), "password": PASSWORD}),
            )
        })
    }

    /// An authenticated read of one of the tenant's projects.
    fn read_call(&self) -> Call {
        let (http, token, projects) = (self.http.clone(), self.token.clone(), self.projects.clone());
        let url = format!("{}/api/v1/tenants/{}/projects", self.app, self.tenant);
        Arc::new(move |i| {
            crate::http::get(
                &http,
                format!("{url}/{}", projects[i % projects.len()]),
                Some(token.clone()),
            )
        })
    }

    /// A refresh that rotates the token in slot `i % slots`.
    fn refresh_call(&self, slots: Slots) -> Call {
        let (http, url) = (self.http.clone(), format!("{}/api/v1/auth/refresh", self.app));
        Arc::new(move |i| rotate(&http, url.clone(), slots.clone(), i))
    }
}

fn rotate(http: &reqwest::Client, url: String, slots: Slots, i: usize) -> BoxFuture<'static, bool> {
    let slot = i % slots.len();
    let current = slots[slot].lock().map(|t| t.clone()).unwrap_or_default();
    let request = http.post(url).json(&json!({ "refresh_token": current }));
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
}

/// A B A B … closed-loop rounds; the ratio of each round and the median absolute figures.
pub(crate) async fn alternate(plan: Plan, a: Call, b: Call) -> Alternation {
    let (mut rounds, mut ours, mut theirs, mut errors) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let (mut p50s, mut p99s, mut base_p50s) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        let Throughput {
            per_sec: x,
            errors: e,
            p50,
            p99,
        } = closed_loop(a.clone(), plan.concurrency, plan.measure).await;
        let Throughput {
            per_sec: y,
            p50: base_p50,
            ..
        } = closed_loop(b.clone(), plan.concurrency, plan.measure).await;
        base_p50s.push(base_p50);
        errors += e;
        rounds.push(if y > 0.0 { x / y } else { 0.0 });
        ours.push(x);
        theirs.push(y);
        p50s.push(p50);
        p99s.push(p99);
    }
    Alternation {
        rounds,
        ours: median(&ours),
        baseline: median(&theirs),
        errors,
        p50: median(&p50s),
        p99: median(&p99s),
        baseline_p50: median(&base_p50s),
    }
}

/// Every scenario on one backend, in order.
pub async fn measure(
    name: &'static str,
    servers: &Servers,
    seeded: &Seeded,
    plan: Plan,
) -> Result<BackendResult> {
    let idle_rss = memory_mib(servers.pid).0;
    let bench = signed_in(servers, seeded, plan).await?;
    let (ratios, refresh_tokens) = ratios::run(name, &bench, seeded).await?;
    let login_capacity = ratios.iter().find(|r| r.id == "S4").map_or(0.0, |r| r.ours);
    let (mixed, s6_rss) = mixed::run(name, &bench, refresh_tokens).await;
    let storm = storm::run(name, &bench, login_capacity).await;
    Ok(BackendResult {
        backend: name,
        ratios,
        mixed,
        storm,
        idle_rss,
        s6_rss,
        instances: None,
    })
}

/// The ratio scenarios `plan.only` names, and nothing else (`--only`).
pub async fn measure_ratios(
    name: &'static str,
    servers: &Servers,
    seeded: &Seeded,
    plan: Plan,
) -> Result<Vec<crate::results::Ratio>> {
    let bench = signed_in(servers, seeded, plan).await?;
    Ok(ratios::run(name, &bench, seeded).await?.0)
}

/// The client and a signed-in member of the first tenant.
async fn signed_in<'a>(servers: &'a Servers, seeded: &Seeded, plan: Plan) -> Result<Bench<'a>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(fail("client"))?;
    let mut bench = Bench {
        http,
        app: &servers.app,
        base: &servers.base,
        pid: servers.pid,
        plan,
        token: String::new(),
        tenant: seeded.tenants[0].clone(),
        projects: Arc::new(seeded.projects[0].clone()),
        users: plan.size.users,
    };
    let member = bench.login(&seeded.members[0]).await?;
    bench.token = member["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();
    Ok(bench)
}
