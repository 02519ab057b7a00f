//! S1–S5: Portcullis's closed-loop throughput over a bare baseline doing the same work.

use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{alternate, Bench, Slots};
use crate::http::{get, post};
use crate::results::Ratio;
use crate::seed::Seeded;
use crate::Result;

/// S1–S5 in order, and the refresh tokens S5 left behind (S6 keeps rotating them).
pub(super) async fn run(name: &str, bench: &Bench<'_>, seeded: &Seeded) -> Result<(Vec<Ratio>, Slots)> {
    let plan = bench.plan;
    let mut ratios = Vec::new();
    if plan.includes("S1") {
        ratios.push(health(name, bench).await);
    }
    if plan.includes("S2") {
        ratios.push(read(name, bench).await);
    }
    if plan.includes("S3") {
        ratios.push(create(name, bench).await);
    }
    if plan.includes("S4") {
        ratios.push(login(name, bench).await);
    }
    if !plan.includes("S5") {
        // Only with --only, which runs nothing after the ratios.
        return Ok((ratios, Arc::new(Vec::new())));
    }
    let (s5, slots) = refresh(name, bench, seeded).await?;
    ratios.push(s5);
    Ok((ratios, slots))
}

async fn health(name: &str, bench: &Bench<'_>) -> Ratio {
    eprintln!("== {name}: S1 health");
    let (h, b) = (bench.http.clone(), bench.http.clone());
    let (a_url, b_url) = (format!("{}/healthz", bench.app), format!("{}/bare", bench.base));
    let s1 = alternate(
        bench.plan,
        Arc::new(move |_| get(&h, a_url.clone(), None)),
        Arc::new(move |_| get(&b, b_url.clone(), None)),
    )
    .await;
    Ratio::new("S1", "/healthz vs bare handler", Some(0.9), s1, "req/s")
}

async fn read(name: &str, bench: &Bench<'_>) -> Ratio {
    eprintln!("== {name}: S2 authenticated project read");
    let (b, projects) = (bench.http.clone(), bench.projects.clone());
    let url = format!("{}/read/{}", bench.base, bench.tenant);
    let s2 = alternate(
        bench.plan,
        bench.read_call(),
        Arc::new(move |i| get(&b, format!("{url}/{}", projects[i % projects.len()]), None)),
    )
    .await;
    Ratio::new(
        "S2",
        "authenticated project GET vs bare read",
        Some(0.75),
        s2,
        "req/s",
    )
}

async fn create(name: &str, bench: &Bench<'_>) -> Ratio {
    eprintln!("== {name}: S3 project create");
    let (h, b, t) = (bench.http.clone(), bench.http.clone(), bench.token.clone());
    let (a_url, b_url) = (
        format!("{}/api/v1/tenants/{}/projects", bench.app, bench.tenant),
        format!("{}/insert/{}", bench.base, bench.tenant),
    );
    let s3 = alternate(
        bench.plan,
        Arc::new(move |i| {
            post(
                &h,
                a_url.clone(),
                Some(t.clone()),
                json!({"name": format!("bench {i}")}),
            )
        }),
        Arc::new(move |_| post(&b, b_url.clone(), None, json!({}))),
    )
    .await;
    Ratio::new("S3", "project create vs bare insert", Some(0.7), s3, "req/s")
}

async fn login(name: &str, bench: &Bench<'_>) -> Ratio {
    eprintln!("== {name}: S4 login throughput");
    let b = bench.http.clone();
    let b_url = format!("{}/argon2", bench.base);
    let s4 = alternate(
        bench.plan,
        bench.login_call(),
        Arc::new(move |_| post(&b, b_url.clone(), None, json!({}))),
    )
    .await;
    Ratio::new(
        "S4",
        "logins/s vs raw argon2id verifies/s",
        Some(0.9),
        s4,
        "req/s",
    )
}

async fn refresh(name: &str, bench: &Bench<'_>, seeded: &Seeded) -> Result<(Ratio, Slots)> {
    eprintln!("== {name}: S5 refresh");
    let mut refresh_tokens = Vec::new();
    for i in 0..bench.plan.concurrency {
        let tokens = bench.login(&seeded.members[i % seeded.members.len()]).await?;
        refresh_tokens.push(Mutex::new(
            tokens["refresh_token"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let slots: Slots = Arc::new(refresh_tokens);
    let (b, sessions) = (bench.http.clone(), Arc::new(seeded.sessions.clone()));
    let base = bench.base.to_owned();
    let s5 = alternate(
        bench.plan,
        bench.refresh_call(slots.clone()),
        Arc::new(move |i| {
            post(
                &b,
                format!("{base}/rui/{}", sessions[i % sessions.len()]),
                None,
                json!({}),
            )
        }),
    )
    .await;
    let ratio = Ratio::new(
        "S5",
        "refresh vs bare read-update-insert transaction",
        Some(0.7),
        s5,
        "req/s",
    );
    Ok((ratio, slots))
}
