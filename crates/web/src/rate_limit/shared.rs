//! The shared tier of the rate limits: per-client counts in Redis (`REDIS_URL`), so that every
//! instance behind one load balancer draws on one quota. One Lua script does the GCRA step
//! ([`gcra.lua`](gcra.lua)) atomically on the Redis server's clock, with the interval and burst the
//! in-memory tier uses, so a client sees the same limits with and without Redis.
//!
//! Redis is never on the critical path of an answer: each check has a short deadline, and a check that
//! fails or times out marks the tier down; the in-memory tier then decides for that request and every
//! request after it, except one a second that tries Redis again. A failure also replaces the
//! connection. The first failure and the recovery are logged, not every request.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one check may take before the in-memory tier decides instead.
const DEADLINE: Duration = Duration::from_millis(250);
/// How long (ms) a tier that failed is left alone before one request tries it again.
const RETRY_AFTER_MS: u64 = 1000;

/// Redis as seen by one instance.
#[derive(Clone)]
pub struct SharedTier {
    client: redis::Client,
    connection: Arc<RwLock<ConnectionManager>>,
    script: Arc<redis::Script>,
    prefix: Arc<str>,
    state: Arc<TierState>,
}

#[derive(Default)]
struct TierState {
    down: AtomicBool,
    /// While down: when a request may try Redis again (ms since the epoch).
    retry_at_ms: AtomicU64,
}

/// The shared tier's verdict.
pub enum Verdict {
    /// Counted and allowed.
    Allowed,
    /// Refused; allowed again after this long.
    Refused(Duration),
}

/// A connection manager that connects on first use (so a Redis that is down at start-up costs
/// nothing until it answers), with every wait bounded by [`DEADLINE`].
fn connect(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(DEADLINE))
        .set_response_timeout(Some(DEADLINE))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl SharedTier {
    /// A tier on `url`, keys under `prefix`. Connects lazily: a Redis that is down at start-up only
    /// means the in-memory tier decides until it answers. Call on the server's runtime.
    pub fn new(url: &str, prefix: &str) -> Result<SharedTier, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let connection = connect(&client).map_err(|e| format!("REDIS_URL: {e}"))?;
        Ok(SharedTier {
            client,
            connection: Arc::new(RwLock::new(connection)),
            script: Arc::new(redis::Script::new(include_str!("gcra.lua"))),
            prefix: prefix.into(),
            state: Arc::default(),
        })
    }

    /// Whether this request should ask Redis: while it is up, every request; while it is down, one
    /// request once its second of rest is over (the others go on in memory without waiting).
    pub fn usable(&self) -> bool {
        if !self.state.down.load(Ordering::Relaxed) {
            return true;
        }
        let now = now_ms();
        let retry_at = self.state.retry_at_ms.load(Ordering::Relaxed);
        now >= retry_at
            && self
                .state
                .retry_at_ms
                .compare_exchange(
                    retry_at,
                    now + RETRY_AFTER_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn connection(&self) -> ConnectionManager {
        self.connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After any failure: a new connection (made on its first use, so this costs nothing while Redis
    /// is down). A Redis that vanished without closing the socket (a host gone, a partition) leaves
    /// the old one waiting on the kernel's retransmits for many minutes, and the connection manager
    /// reconnects only on I/O errors, not on timeouts — its own response timeout included, which
    /// comes back as an error rather than as our deadline.
    fn reconnect(&self) {
        match connect(&self.client) {
            Ok(fresh) => *self.connection.write().unwrap_or_else(PoisonError::into_inner) = fresh,
            Err(err) => log::debug!("redis: no new connection: {err}"),
        }
    }

    /// Whether the last check or probe failed.
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::Relaxed)
    }

    /// Counts a request of `client` against the quota `name` (`interval` per request, `burst` at once);
    /// `None` when Redis did not answer in time (the tier is then down for a second).
    pub async fn check(&self, name: &str, client: IpAddr, interval: Duration, burst: u32) -> Option<Verdict> {
        let key = format!("{}:rl:{name}:{client}", self.prefix);
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection();
        let mut invocation = self.script.key(key);
        invocation.arg(interval_us).arg(burst);
        let answer =
            actix_web::rt::time::timeout(DEADLINE, invocation.invoke_async::<u64>(&mut connection)).await;
        match answer {
            Ok(Ok(wait_us)) => {
                self.mark(true, None);
                Some(if wait_us == 0 {
                    Verdict::Allowed
                } else {
                    Verdict::Refused(Duration::from_micros(wait_us))
                })
            }
            Ok(Err(err)) => {
                self.mark(false, Some(&err.to_string()));
                self.reconnect();
                None
            }
            Err(_) => {
                self.mark(false, Some("no answer in time"));
                self.reconnect();
                None
            }
        }
    }

    /// Asks Redis whether it answers (for `/readyz`), and records the answer.
    pub async fn probe(&self) -> bool {
        let mut connection = self.connection();
        let answer = actix_web::rt::time::timeout(
            DEADLINE,
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(_)) => {
                self.mark(true, None);
                true
            }
            Ok(Err(err)) => {
                self.mark(false, Some(&err.to_string()));
                self.reconnect();
                false
            }
            Err(_) => {
                self.mark(false, Some("no answer in time"));
                self.reconnect();
                false
            }
        }
    }

    fn mark(&self, up: bool, cause: Option<&str>) {
        if up {
            if self.state.down.swap(false, Ordering::Relaxed) {
                log::info!("redis answers again: rate limits are shared across instances again");
            }
            return;
        }
        self.state
            .retry_at_ms
            .store(now_ms() + RETRY_AFTER_MS, Ordering::Relaxed);
        if !self.state.down.swap(true, Ordering::Relaxed) {
            log::warn!(
                "redis does not answer ({}): each instance applies its own in-memory rate limits until it does",
                cause.unwrap_or("unknown")
            );
        }
    }
}
