use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;

use crate::conn::{DatabaseUrl, DbConn};
use crate::{lock_writes, DbError};

/// The connection pool every request draws from.
pub type Pool = r2d2::Pool<Manager>;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections in the pool (a SQLite file also has its writer connection, see `tx`, and
    /// its checkpoint thread's).
    pub max_size: u32,
    /// How long a request waits for a connection before it gets 503 (r2d2's default of 30 s would
    /// leave clients hanging while the database is down); on SQLite also how long a write waits for
    /// the other writes of this process (see `tx`).
    pub checkout_timeout: Duration,
    /// How long a SQLite connection waits for the write lock of another process (SQLite's
    /// `busy_timeout`; the writers of this process queue before they reach it).
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            checkout_timeout: Duration::from_secs(2),
            sqlite_busy_timeout: Duration::from_secs(2),
        }
    }
}

/// After a connection is found broken, checkouts are checked with a round trip for this long.
const SUSPECT_FOR: Duration = Duration::from_secs(30);

/// An r2d2 manager that knows its backend from the URL and reports the real connection error
/// (diesel's `ConnectionManager<MultiConnection>` tries each backend in turn and hides why it failed).
///
/// No round trip per checkout: r2d2's default (`test_on_check_out`) sends `SELECT 1` before every
/// checkout, which cost 30% of the read throughput on PostgreSQL. Broken connections are found from
/// the errors of real queries instead:
///
/// - when a query finds the server gone, libpq marks the connection bad and diesel puts the
///   connection's transaction manager in its error state (`DatabaseErrorKind::ClosedConnection` or
///   `UnableToSendCommand` for the query itself, a 503); `has_broken` sees that state when the
///   connection comes back to the pool, and r2d2 closes the connection instead of keeping it. A
///   connection returned inside an open transaction (a panic in a transaction) is dropped too.
/// - an outage rarely breaks just one connection: the other idle connections of the pool were cut
///   as well but do not know it yet. So a broken connection, or a failed attempt to open one, makes the
///   whole pool suspect for `SUSPECT_FOR` (30 s): during that window each checkout is checked with a
///   round trip (`is_valid`), and the dead idle connections are dropped there, before a request uses
///   them. Outside the window the check is a clock read.
///
/// So after an outage that nobody noticed (no request while the database was away) the first request
/// that draws a dead connection gets 503, and the requests after it get live connections.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    options: PoolOptions,
    /// Milliseconds after `started` until which checkouts are pinged.
    suspect_until_ms: AtomicU64,
    started: Instant,
}

impl Manager {
    fn new(url: &DatabaseUrl, options: &PoolOptions) -> Manager {
        Manager {
            url: url.clone(),
            options: options.clone(),
            suspect_until_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Pings every checkout for the next [`SUSPECT_FOR`].
    fn suspect(&self) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(SUSPECT_FOR.as_millis()).unwrap_or(u64::MAX));
        self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    fn is_suspect(&self) -> bool {
        self.now_ms() < self.suspect_until_ms.load(Ordering::Relaxed)
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.url.establish(&self.options).inspect_err(|_| self.suspect())
    }

    /// Called on every checkout: a round trip only while the pool is suspect (see [`Manager`]).
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        if !self.is_suspect() {
            return Ok(());
        }
        ping(conn).inspect_err(|_| self.suspect())
    }

    /// Called when a connection comes back to the pool; no I/O. Diesel's `is_broken` is true when a
    /// query lost the server (libpq reports the connection bad, and diesel's transaction manager enters
    /// its error state) or a transaction was left open.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        let broken = std::thread::panicking() || R2D2Connection::is_broken(conn);
        if broken {
            self.suspect();
        }
        broken
    }
}

/// Builds the pool without opening a connection, so a server whose database is down still starts
/// serving `/healthz` and recovers on its own when the database comes back.
pub fn build_pool(url: &DatabaseUrl, options: &PoolOptions) -> Pool {
    build_observed_pool(url, options, Arc::default())
}

/// How often checkouts had to wait, for the metrics (r2d2 counts in-use and idle connections itself).
#[derive(Debug, Default)]
pub struct PoolWaits {
    /// Checkouts that waited 1 ms or more and got a connection.
    pub waited: AtomicU64,
    /// Checkouts that gave up after `checkout_timeout` (answered 503).
    pub timed_out: AtomicU64,
}

struct CountWaits(Arc<PoolWaits>);

impl std::fmt::Debug for CountWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountWaits")
    }
}

impl r2d2::HandleEvent for CountWaits {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        // An idle connection is handed over in microseconds; a millisecond means the checkout waited
        // for one to be returned or opened.
        if event.duration() >= Duration::from_millis(1) {
            self.0.waited.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn handle_timeout(&self, _event: r2d2::event::TimeoutEvent) {
        self.0.timed_out.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`build_pool`], counting checkout waits into `waits`.
pub fn build_observed_pool(url: &DatabaseUrl, options: &PoolOptions, waits: Arc<PoolWaits>) -> Pool {
    r2d2::Pool::builder()
        .event_handler(Box::new(CountWaits(waits)))
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.checkout_timeout)
        // `is_valid` runs on each checkout, but is a round trip only after a connection broke.
        .test_on_check_out(true)
        .error_handler(Box::new(LogErrors))
        .build_unchecked(Manager::new(url, options))
}

/// Opens a single connection outside any pool, with the driver's own error on failure; start-up and
/// `portcullis migrate` use it so a wrong password is reported as PostgreSQL says it.
pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<DbConn, DbError> {
    let mut conn = url.establish(options)?;
    if let DbConn::Sqlite(sqlite) = &mut conn {
        // WAL is a property of the file, so setting it once at start-up covers every later connection.
        sqlite
            .batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(DbError::from)?;
    }
    Ok(conn)
}

/// A round trip to the database.
pub fn ping(conn: &mut DbConn) -> Result<(), DbError> {
    match conn {
        DbConn::Postgres(pg) => pg.batch_execute("SELECT 1"),
        DbConn::Sqlite(sqlite) => sqlite.batch_execute("SELECT 1"),
    }
    .map_err(DbError::from)
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<DbError> for LogErrors {
    fn handle_error(&self, error: DbError) {
        log::warn!("database connection failed: {error}");
    }
}

/// Whether the database can take a write right now. SQLite answers `SELECT 1` even while another
/// process holds the write lock, so it takes (and releases) the write lock instead.
pub fn check_ready(conn: &mut DbConn) -> Result<(), DbError> {
    // Behind this process's own writers, like any write (see `tx`): only another process holding the
    // lock for longer than `busy_timeout` makes the database unready.
    let _writing = lock_writes(conn)?;
    match conn {
        DbConn::Postgres(pg) => pg.batch_execute("SELECT 1"),
        DbConn::Sqlite(sqlite) => sqlite.batch_execute("BEGIN IMMEDIATE; ROLLBACK;"),
    }
    .map_err(DbError::from)
}
