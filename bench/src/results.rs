//! What a run measured, the only thing the report reads: scenarios produce these, `report` writes
//! them out, and neither depends on the other.

use crate::load::Latencies;

/// One ratio scenario: Portcullis's throughput over the baseline's, per round.
pub struct Ratio {
    /// S1 … S5.
    pub id: &'static str,
    /// What is compared.
    pub label: &'static str,
    /// The target (the median ratio should be at least this).
    pub target: Option<f64>,
    /// Ratio of each A B round.
    pub rounds: Vec<f64>,
    /// Median absolute throughput of Portcullis.
    pub ours: f64,
    /// Median absolute throughput of the baseline.
    pub baseline: f64,
    /// Failed Portcullis requests.
    pub errors: u64,
    /// Unit of the absolute figures.
    pub unit: &'static str,
    /// Median over the rounds of Portcullis's median latency under the closed loop (ms).
    pub p50: f64,
    /// Median over the rounds of Portcullis's 99th percentile latency under the closed loop (ms).
    pub p99: f64,
}

/// The output of an A B alternation: the ratio of each round, the median absolute throughputs of
/// Portcullis and of the baseline, and Portcullis's failed requests.
pub struct Alternation {
    /// Ratio of each A B round.
    pub rounds: Vec<f64>,
    /// Median absolute throughput of Portcullis.
    pub ours: f64,
    /// Median absolute throughput of the baseline.
    pub baseline: f64,
    /// Failed Portcullis requests.
    pub errors: u64,
    /// Median of Portcullis's per-round median latencies (ms).
    pub p50: f64,
    /// Median of Portcullis's per-round p99 latencies (ms).
    pub p99: f64,
    /// Median of the baseline's per-round median latencies (ms).
    pub baseline_p50: f64,
}

impl Ratio {
    /// From the output of an alternation.
    pub fn new(
        id: &'static str,
        label: &'static str,
        target: Option<f64>,
        measured: Alternation,
        unit: &'static str,
    ) -> Ratio {
        Ratio {
            id,
            label,
            target,
            rounds: measured.rounds,
            ours: measured.ours,
            baseline: measured.baseline,
            errors: measured.errors,
            unit,
            p50: measured.p50,
            p99: measured.p99,
        }
    }

    /// Median of the rounds.
    pub fn median(&self) -> f64 {
        median(&self.rounds)
    }

    /// The lowest and highest round.
    pub fn spread(&self) -> (f64, f64) {
        let min = self.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }
}

/// The middle value (the upper one of an even count), 0 when there is none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// S6: the latencies of one class of the mixed workload, with its name.
pub type Class = (String, Latencies);

/// S7: a login storm against authenticated reads.
pub struct Storm {
    /// Logins per second sent (5x the measured capacity).
    pub rate: f64,
    /// Reads per second sent.
    pub read_rate: f64,
    /// Read p99 without the storm (ms).
    pub p99_alone: f64,
    /// Read p99 during the storm (ms).
    pub p99_storm: f64,
    /// Reads that failed during the storm.
    pub read_errors: usize,
    /// Reads sent during the storm.
    pub reads: usize,
    /// Logins sent.
    pub logins: usize,
    /// Logins refused (503/429) or failed.
    pub logins_refused: usize,
    /// Peak resident memory of the server (MiB).
    pub peak_rss: f64,
    /// Resident memory 10 s after the storm (MiB).
    pub rss_after: f64,
    /// The server's `HASH_CONCURRENCY` (the memory target allows 19 MiB per hashing thread).
    pub hash_concurrency: usize,
}

/// Everything measured on one backend.
pub struct BackendResult {
    /// SQLite or PostgreSQL.
    pub backend: &'static str,
    /// S1–S5.
    pub ratios: Vec<Ratio>,
    /// S6 per class.
    pub mixed: Vec<Class>,
    /// S7.
    pub storm: Storm,
    /// S8: resident memory after start-up (MiB).
    pub idle_rss: f64,
    /// S8: peak resident memory during S6 (MiB).
    pub s6_rss: f64,
    /// S9, when a Redis answered.
    pub instances: Option<Instances>,
}

/// S9: rate limits in Redis and two instances, on the same machine (overhead, not scaling).
pub struct Instances {
    /// Authenticated reads on one instance counting its limits in Redis, against one counting them in
    /// memory.
    pub redis: Alternation,
    /// The same reads alternating between two instances counting in Redis, against one of them alone.
    pub two: Alternation,
}
