//! How long and how much: the parameters of a run, full or quick.

use std::time::Duration;

use crate::seed::Size;

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
    /// Hashing threads of the server and of the baseline's argon2 pool alike (the server's default:
    /// all cores but one), so S4 compares the same parallelism.
    pub hash_concurrency: usize,
    /// How long after the storm the server's resident memory is read again.
    pub settle: Duration,
    /// `--only S2,S5`: just these throughput ratios, printed and not written to the report (for
    /// measuring one change quickly; the report always comes from a full run). Bit `n` is S`n`.
    pub only: Option<u8>,
}

impl Plan {
    /// Whether ratio scenario `id` ("S1" … "S5") is measured.
    pub fn includes(&self, id: &str) -> bool {
        let bit = id.strip_prefix('S').and_then(|n| n.parse::<u8>().ok());
        match (self.only, bit) {
            (None, _) => true,
            (Some(mask), Some(n)) if n < 8 => mask & (1 << n) != 0,
            _ => false,
        }
    }
}

/// The server's default `HASH_CONCURRENCY`: all cores but one, at least one.
fn spare_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

impl Plan {
    /// What `bench/run` measures and reports.
    pub fn full() -> Plan {
        Plan {
            measure: Duration::from_secs(4),
            // Five A B rounds: between rounds a ratio moves by up to 0.1 on a two-core machine
            // shared with the load generator (and PostgreSQL); the median of three was often one
            // outlier away from another verdict.
            rounds: 5,
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
            hash_concurrency: spare_cores(),
            settle: Duration::from_secs(10),
            only: None,
        }
    }

    /// `bench/run --quick`: tiny data and sub-second runs, so CI keeps the harness working.
    pub fn quick() -> Plan {
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
            hash_concurrency: spare_cores(),
            settle: Duration::from_millis(500),
            only: None,
        }
    }
}
