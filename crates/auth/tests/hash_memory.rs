//! Resident memory of password hashing, in a process of its own (RSS is per process). Linux only:
//! it reads `/proc/self/status`.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use portcullis_auth::password::{HashParams, PasswordHasher};

const MIB: u64 = 1024 * 1024;

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Production parameters (19 MiB per hash), two hashing threads, a burst of 24 hashes: resident
/// memory grows by at most two blocks while hashing and falls back once the threads are idle.
#[tokio::test]
async fn hashing_memory_is_bounded_by_the_threads_and_given_back_when_idle() {
    let params = HashParams::default();
    let block = u64::from(params.memory_kib) * 1024;
    let hasher = PasswordHasher::new(params, 2).unwrap();
    let before = rss();

    let mut peak = before;
    for round in 0..6 {
        let hashes = (0..4).map(|i| hasher.hash(format!("password {round} {i}")));
        for hash in futures_util::future::join_all(hashes).await {
            hash.unwrap();
        }
        peak = peak.max(rss());
    }
    let grown = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} MiB, peak {} MiB (+{} MiB)",
        before / MIB,
        peak / MIB,
        grown / MIB
    );
    assert!(
        grown <= 2 * block + 8 * MIB,
        "two threads hold at most two blocks: grew {} MiB",
        grown / MIB
    );

    // The threads free their blocks after 5 s without work.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = rss();
    eprintln!("RSS after idle {} MiB", after / MIB);
    assert!(
        after <= before + 4 * MIB,
        "memory returns to the idle level: {} MiB before, {} MiB after",
        before / MIB,
        after / MIB
    );
}
