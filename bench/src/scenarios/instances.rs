//! S9: what sharing the rate limits in Redis costs per request, and what a second instance on the same
//! machine costs (two processes share two cores, so this measures overhead, not scaling). Three extra
//! Portcullis processes on the run's database: one counting its limits in memory, two counting them in
//! one Redis; quotas high enough that nothing is refused, so every request pays the check.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::alternate;
use crate::http::get;
use crate::load::Call;
use crate::plan::Plan;
use crate::results::Instances;
use crate::seed::{Seeded, PASSWORD};
use crate::{fail, Result};

/// The base URLs of the three extra servers.
pub struct Instance {
    /// Limits in memory.
    pub memory: String,
    /// Limits in Redis, first instance.
    pub redis_a: String,
    /// Limits in Redis, second instance.
    pub redis_b: String,
}

fn reads(
    http: &reqwest::Client,
    bases: Vec<String>,
    token: &str,
    tenant: &str,
    projects: Arc<Vec<String>>,
) -> Call {
    let (http, token, tenant) = (http.clone(), token.to_owned(), tenant.to_owned());
    Arc::new(move |i| {
        let base = &bases[i % bases.len()];
        get(
            &http,
            format!(
                "{base}/api/v1/tenants/{tenant}/projects/{}",
                projects[i % projects.len()]
            ),
            Some(token.clone()),
        )
    })
}

/// Runs S9 against the three servers.
pub async fn measure_instances(
    name: &str,
    servers: &Instance,
    seeded: &Seeded,
    plan: Plan,
) -> Result<Instances> {
    eprintln!("== {name}: S9 rate limits in Redis, two instances");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(fail("client"))?;
    // The three share PUBLIC_URL (the issuer), keys and secrets: a token from one works on all.
    let tokens: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", servers.memory))
        .json(&json!({"email": seeded.members[0], "password": PASSWORD}))
        .send()
        .await
        .map_err(fail("login"))?
        .json()
        .await
        .map_err(fail("login body"))?;
    let token = tokens["access_token"].as_str().ok_or("no access token")?;
    let tenant = &seeded.tenants[0];
    let projects = Arc::new(seeded.projects[0].clone());
    let one = |base: &str| reads(&http, vec![base.to_owned()], token, tenant, projects.clone());
    let redis = alternate(plan, one(&servers.redis_a), one(&servers.memory)).await;
    let both = reads(
        &http,
        vec![servers.redis_a.clone(), servers.redis_b.clone()],
        token,
        tenant,
        projects.clone(),
    );
    let two = alternate(plan, both, one(&servers.redis_a)).await;
    Ok(Instances { redis, two })
}
