//! S6: a mixed open-loop workload (80% reads, 10% writes, 5% refresh, 1% login, 4% list), with the
//! server's peak memory sampled while it runs (S8).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Bench, Slots};
use crate::http::{get, post};
use crate::load::{memory_mib, open_loop, Call};
use crate::results::Class;

const MIX_NAMES: [&str; 5] = [
    "read (80%)",
    "write (10%)",
    "refresh (5%)",
    "login (1%)",
    "list (4%)",
];

/// The latencies per class, and the server's peak resident memory during the run (MiB).
pub(super) async fn run(name: &str, bench: &Bench<'_>, refresh: Slots) -> (Vec<Class>, f64) {
    eprintln!("== {name}: S6 mixed open-loop workload");
    let classes = classes(bench, refresh);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), bench.pid);
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(memory_mib(pid).0);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let mixed = open_loop(&classes, mix, bench.plan.mixed_rate, bench.plan.open).await;
    sampling.store(false, Ordering::Relaxed);
    let peak = sampler.await.unwrap_or(0.0);
    let named = MIX_NAMES.iter().map(|n| n.to_string()).zip(mixed).collect();
    (named, peak)
}

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

/// The calls in the order of [`MIX_NAMES`].
fn classes(bench: &Bench<'_>, refresh: Slots) -> Vec<Call> {
    let projects = format!("{}/api/v1/tenants/{}/projects", bench.app, bench.tenant);
    let (h_write, t_write, create) = (bench.http.clone(), bench.token.clone(), projects.clone());
    let write: Call = Arc::new(move |i| {
        post(
            &h_write,
            create.clone(),
            Some(t_write.clone()),
            json!({"name": format!("mixed {i}")}),
        )
    });
    let (h_list, t_list) = (bench.http.clone(), bench.token.clone());
    let list: Call = Arc::new(move |_| get(&h_list, format!("{projects}?limit=20"), Some(t_list.clone())));
    vec![
        bench.read_call(),
        write,
        bench.refresh_call(refresh),
        bench.login_call(),
        list,
    ]
}
