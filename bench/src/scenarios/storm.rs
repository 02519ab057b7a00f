//! S7: a login storm at five times the measured login capacity, against a steady stream of
//! authenticated reads: how much the reads' p99 suffers, and the server's peak memory.

use crate::load::{memory_mib, open_loop};
use crate::results::Storm;

use super::Bench;

pub(super) async fn run(name: &str, bench: &Bench<'_>, login_capacity: f64) -> Storm {
    eprintln!("== {name}: S7 login storm");
    let plan = bench.plan;
    let reads = [bench.read_call()];
    let alone = open_loop(&reads, |_| 0, plan.read_rate, plan.open)
        .await
        .remove(0);
    let storm_rate = (login_capacity * 5.0).max(5.0);
    let logins = [bench.login_call()];
    let (with_storm, storm_logins) = tokio::join!(
        open_loop(&reads, |_| 0, plan.read_rate, plan.open),
        open_loop(&logins, |_| 0, storm_rate, plan.open)
    );
    let with_storm = with_storm.into_iter().next().unwrap_or_default();
    let storm_logins = storm_logins.into_iter().next().unwrap_or_default();
    let (_, peak_rss) = memory_mib(bench.pid);
    // Hashing threads give their argon2 memory back after 5 s idle.
    tokio::time::sleep(plan.settle).await;
    let (rss_after, _) = memory_mib(bench.pid);
    Storm {
        rate: storm_rate,
        read_rate: plan.read_rate,
        p99_alone: alone.p99,
        p99_storm: with_storm.p99,
        read_errors: with_storm.errors,
        reads: with_storm.count,
        logins: storm_logins.count,
        logins_refused: storm_logins.errors,
        peak_rss,
        rss_after,
        hash_concurrency: plan.hash_concurrency,
    }
}
