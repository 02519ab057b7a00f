use std::time::Duration;

use diesel::connection::SimpleConnection;

use crate::conn::{DatabaseUrl, DbConn};
use crate::{lock_writes, DbError};

/// The connection pool every request draws from.
pub type Pool = r2d2::Pool<Manager>;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once.
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

/// An r2d2 manager that knows its backend from the URL and reports the real connection error
/// (diesel's `ConnectionManager<MultiConnection>` tries each backend in turn and hides why it failed).
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    options: PoolOptions,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.url.establish(&self.options)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        ping(conn)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Builds the pool without opening a connection, so a server whose database is down still starts
/// serving `/healthz` and recovers on its own when the database comes back.
pub fn build_pool(url: &DatabaseUrl, options: &PoolOptions) -> Pool {
    let manager = Manager {
        url: url.clone(),
        options: options.clone(),
    };
    r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.checkout_timeout)
        .error_handler(Box::new(LogErrors))
        .build_unchecked(manager)
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
