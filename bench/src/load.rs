//! A small load generator. Closed loop (N workers back to back) measures throughput; open loop sends
//! at a fixed rate on a schedule and measures each latency from the request's *scheduled* start, so a
//! stalled server cannot hide its stall by slowing the generator down (coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

/// One request of a scenario; `i` lets it vary (which project, which user). True on success.
pub type Call = Arc<dyn Fn(usize) -> BoxFuture<'static, bool> + Send + Sync>;

/// Closed-loop result.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    /// Successful requests per second.
    pub per_sec: f64,
    /// Failed requests.
    pub errors: u64,
    /// Median latency of the requests (ms).
    pub p50: f64,
    /// 99th percentile latency of the requests (ms).
    pub p99: f64,
}

/// Runs `concurrency` workers, each sending the next request as soon as the last one returns.
pub async fn closed_loop(call: Call, concurrency: usize, duration: Duration) -> Throughput {
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut i) = (0u64, 0u64, worker);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                if call(i).await {
                    ok += 1;
                } else {
                    errors += 1;
                }
                latencies.push(sent.elapsed());
                i += concurrency;
            }
            (ok, errors, latencies)
        }));
    }
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for worker in workers {
        if let Ok((o, e, l)) = worker.await {
            ok += o;
            errors += e;
            latencies.extend(l);
        }
    }
    latencies.sort();
    Throughput {
        per_sec: ok as f64 / start.elapsed().as_secs_f64(),
        errors,
        p50: quantile_ms(&latencies, 0.50),
        p99: quantile_ms(&latencies, 0.99),
    }
}

/// The `q` quantile of sorted latencies, in milliseconds (0 when there are none).
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Latencies of one class of requests, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    /// Requests sent.
    pub count: usize,
    /// Requests that failed.
    pub errors: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Sends `rate` requests per second for `duration`, each of the class `pick(i)` chooses among
/// `classes`; returns the latencies per class.
pub async fn open_loop(
    classes: &[Call],
    pick: impl Fn(usize) -> usize,
    rate: f64,
    duration: Duration,
) -> Vec<Latencies> {
    let start = tokio::time::Instant::now();
    let total = (rate * duration.as_secs_f64()) as usize;
    let mut sent = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let class = pick(i).min(classes.len().saturating_sub(1));
        let call = classes[class].clone();
        sent.push(tokio::spawn(async move {
            let ok = call(i).await;
            (class, ok, scheduled.elapsed())
        }));
    }
    let mut samples: Vec<Vec<(bool, Duration)>> = vec![Vec::new(); classes.len()];
    for handle in sent {
        if let Ok((class, ok, latency)) = handle.await {
            samples[class].push((ok, latency));
        }
    }
    samples
        .into_iter()
        .map(|mut class| {
            class.sort_by_key(|(_, latency)| *latency);
            let sorted: Vec<Duration> = class.iter().map(|(_, latency)| *latency).collect();
            Latencies {
                count: class.len(),
                errors: class.iter().filter(|(ok, _)| !ok).count(),
                p50: quantile_ms(&sorted, 0.50),
                p99: quantile_ms(&sorted, 0.99),
            }
        })
        .collect()
}

/// Resident and peak memory of a process, in MiB, from `/proc`.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
