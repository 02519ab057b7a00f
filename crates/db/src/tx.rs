//! Write transactions, and the in-process writer lock of SQLite.
//!
//! SQLite has one write lock per database file. A connection that finds it taken waits in SQLite's
//! busy handler, which *sleeps* in growing steps (1, 2, 5, 10 … 100 ms) and re-polls: under concurrent
//! writes the waiting writer sleeps long after the lock was freed, which showed as refresh p99 tails of
//! 165 ms. So the writers of this process queue on an in-process lock instead ([`lock_writes`]), and
//! are woken the moment it is released; SQLite's own lock (and `busy_timeout`) is then only ever
//! contended by another process. Reads take no lock (WAL lets them run beside the writer).
//!
//! - The lock is process-wide per database file: every SQLite connection opened on a file (pool or
//!   [`crate::connect`]) carries a handle on the same lock, so two pools on one file share it too.
//! - [`write_transaction`] takes it before `BEGIN IMMEDIATE` and holds it until after the commit or
//!   rollback. For a database file, the transaction runs on the file's one writer connection (owned
//!   by the lock, opened by the first write), not on the caller's pooled connection: SQLite drops a
//!   connection's page cache whenever another connection wrote, so writes spread over the pool
//!   read every page they touch again; the writer connection's cache stays valid from one write
//!   to the next (see `Gate::write`). The caller's connection is for its reads.
//! - A write outside a transaction (a single `UPDATE`, such as marking an API key used) still takes
//!   SQLite's write lock for the length of the statement, so it would wait in the busy handler just
//!   the same (and make a transaction wait behind it): every function of this crate that writes
//!   outside [`write_transaction`] takes the lock first, with `let _writing = lock_writes(conn)?;`.
//!   Code outside this crate that writes with plain diesel calls should do the same.
//! - The lock is re-entrant per connection: a write function called inside a write transaction (or
//!   inside another write function) on the same connection finds the lock already held by that
//!   connection and goes ahead. A write transaction inside a write transaction becomes a savepoint
//!   of the outer one, without waiting on the lock it already holds. One
//!   thread must not write through two connections of one database at once (the second would wait for
//!   the first): a request writes on its pooled connection (outside transactions) or on the writer
//!   connection (inside one), never on both at once.
//! - [`write_transaction`] must not be called inside a transaction it did not open (diesel's own
//!   `transaction`): on a file it would run on the writer connection, outside that transaction.
//! - A writer waits for the lock at most as long as a request waits for a pooled connection
//!   (`checkout_timeout`): the lock is a pool of one write slot. It then gets
//!   [`DbError::Unavailable`] (503), the same answer as a lock that SQLite could not get in time.
//!
//! On PostgreSQL none of this applies: row locks serialise the writers that conflict, and writers that
//! do not conflict run in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use crate::{DbConn, DbError};

/// Runs `work` in a transaction that takes the write lock up front.
///
/// On SQLite a plain (deferred) transaction that reads and then writes can fail with `SQLITE_BUSY`
/// without waiting when another writer got there first; `BEGIN IMMEDIATE` takes the write lock at the
/// start instead, after the in-process writer lock ([`lock_writes`]), so read-check-write steps such as
/// a refresh rotation are serialised without sleeping in SQLite's busy handler. On PostgreSQL it is an
/// ordinary transaction: the row locks of its UPDATEs do the serialising. On a SQLite file `work`
/// runs on the file's writer connection rather than on `conn` (see the module documentation).
/// A write transaction inside another one on the same connection (an operation that is also
/// called on its own, such as opening a session) becomes a savepoint of the outer one: its failure
/// rolls back its own writes, and everything commits with the outer transaction.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError>,
{
    if let DbConn::Sqlite(sqlite) = conn {
        let writer = writer_of(sqlite);
        // Inside a write this connection already makes (a write transaction, or a write holding
        // the lock): the generic path below nests as a savepoint, with no second wait on the lock.
        let nested = writer
            .as_ref()
            .is_some_and(|writer| writer.held.load(Ordering::Relaxed));
        if !nested {
            if let Some(gate) = writer.as_ref().and_then(|writer| writer.gate_with_connection()) {
                return gate.write(writer.as_ref().map_or(Duration::ZERO, |w| w.wait), work);
            }
            // Dropped at the end of this block, after the commit or rollback.
            let _writing = match writer {
                Some(writer) => Some(writer.acquire().map_err(E::from)?),
                None => None,
            };
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
                .map_err(|err| E::from(err.into()))?;
            let result = work(conn);
            if let DbConn::Sqlite(sqlite) = conn {
                return finish_sqlite(sqlite, result);
            }
            return result;
        }
    }
    conn.transaction(|conn| work(conn).map_err(Abort::Work))
        .map_err(|abort| match abort {
            Abort::Work(err) => err,
            Abort::Db(err) => E::from(DbError::from(err)),
        })
}

/// Takes the in-process writer lock of a SQLite database for a write outside [`write_transaction`]
/// (see the module documentation); a no-op on PostgreSQL, and when this connection already holds it.
/// Hold the returned guard until the write is done.
pub fn lock_writes(conn: &mut DbConn) -> Result<WriteLock, DbError> {
    let DbConn::Sqlite(sqlite) = conn else {
        return Ok(WriteLock(None));
    };
    match writer_of(sqlite) {
        Some(writer) if !writer.held.load(Ordering::Relaxed) => writer.acquire(),
        _ => Ok(WriteLock(None)),
    }
}

/// Holds the writer lock of one SQLite database until dropped (see [`lock_writes`]).
#[must_use = "the lock is released when the guard is dropped"]
pub struct WriteLock(Option<Arc<ConnWriter>>);

impl Drop for WriteLock {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take() {
            writer.held.store(false, Ordering::Relaxed);
            if let Some(gate) = &writer.gate {
                gate.release();
            }
        }
    }
}

fn finish_sqlite<T, E: From<DbError>>(sqlite: &mut SqliteConnection, result: Result<T, E>) -> Result<T, E> {
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite).map_err(|err| E::from(err.into()))?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(sqlite) {
                log::error!("rollback failed: {rollback}");
            }
            Err(err)
        }
    }
}

enum Abort<E> {
    Work(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Abort<E> {
    fn from(err: diesel::result::Error) -> Self {
        Abort::Db(err)
    }
}

/// The writer lock of one database file. A mutex and a condition variable rather than a bare
/// `Mutex<()>`, so a writer can give up after a deadline (a bare mutex waits for ever) and is woken as
/// soon as the lock is free. The checkpoint thread asks for it with [`Gate::acquire_first`]: it goes
/// before the writers waiting at that moment, which would otherwise keep taking it back from it
/// under steady writes.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    /// The connection the write transactions of this process run on, opened by the first one and
    /// used only by the gate's holder (see [`Gate::write`]).
    writer: Mutex<Option<WriterConn>>,
    /// How to open it; `None` for a database that is not a plain file (each `:memory:` connection
    /// is a database of its own) and for the gates of the tests below.
    opener: Option<(crate::DatabaseUrl, crate::PoolOptions)>,
}

#[derive(Default)]
struct GateState {
    /// A connection of this process writes.
    taken: bool,
    /// The checkpoint thread waits for the gate: writers let it go first.
    first_waiting: bool,
}

impl Gate {
    /// Takes the gate, waiting at most `wait` for the writer holding it.
    pub(crate) fn acquire(&self, wait: Duration) -> Result<(), DbError> {
        self.acquire_as(wait, false)
    }

    /// Takes the gate before the writers waiting for it (see `checkpoint`).
    pub(crate) fn acquire_first(&self, wait: Duration) -> Result<(), DbError> {
        self.acquire_as(wait, true)
    }

    fn acquire_as(&self, wait: Duration, first: bool) -> Result<(), DbError> {
        let deadline = Instant::now() + wait;
        // Nothing can panic while the mutex is held, so a poisoned one still holds a valid state.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if first {
            state.first_waiting = true;
        }
        while state.taken || (!first && state.first_waiting) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if first {
                    // The writers held back for it may go.
                    state.first_waiting = false;
                    self.freed.notify_all();
                }
                return Err(DbError::Unavailable(format!(
                    "database is locked: no write slot within {wait:?}"
                )));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        state.taken = true;
        if first {
            state.first_waiting = false;
        }
        Ok(())
    }

    pub(crate) fn release(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.taken = false;
        if state.first_waiting {
            // One of the woken is the checkpoint thread; the writers among them wait again.
            self.freed.notify_all();
        } else {
            self.freed.notify_one();
        }
    }

    /// Runs `work` in a write transaction on the writer connection, holding the gate.
    ///
    /// Every write transaction of this process runs on that one connection. SQLite keeps a page
    /// cache per connection and drops all of it whenever another connection has written since its
    /// last transaction: with the writes spread over the pool, every write found its connection's
    /// cache stale and read each page it touched again (a profile of the project create had the
    /// allocator and `pread` as its largest items after the scheduler). The writer connection runs
    /// every write transaction, so its cache stays valid from one to the next unless a single write
    /// outside a transaction ([`lock_writes`] on a pooled connection) came in between. Reads stay on
    /// the pool's connections, beside the writer.
    fn write<T, E: From<DbError>>(
        &self,
        wait: Duration,
        work: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.acquire(wait).map_err(E::from)?;
        // Released when this returns, and when `work` panics.
        let _holding = Holding(self);
        let mut slot = self.writer.lock().unwrap_or_else(|poisoned| {
            // A panic inside a transaction (its connection was closed on the way out, see
            // `DiscardOnPanic`): a new connection starts clean.
            let mut slot = poisoned.into_inner();
            *slot = None;
            self.writer.clear_poison();
            slot
        });
        // Like the pool's connections, the writer is replaced after a while (a file replaced on
        // disk, or a connection gone wrong without an error, is not written to for ever).
        if slot
            .as_ref()
            .is_some_and(|writer| writer.opened.elapsed() >= WRITER_LIFETIME)
        {
            *slot = None;
        }
        let mut slot = DiscardOnPanic(slot);
        let writer = match &mut *slot.0 {
            Some(writer) => writer,
            empty => empty.insert(WriterConn {
                conn: self.open_writer().map_err(E::from)?,
                opened: Instant::now(),
            }),
        };
        let conn = &mut writer.conn;
        let DbConn::Sqlite(sqlite) = conn else {
            return Err(E::from(DbError::Unavailable(
                "the writer connection is not SQLite".into(),
            )));
        };
        let own = writer_of(sqlite);
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
            .map_err(|err| E::from(err.into()))?;
        // Writes inside `work` on this connection go ahead, and nest as savepoints.
        if let Some(own) = &own {
            own.held.store(true, Ordering::Relaxed);
        }
        let result = work(conn);
        let DbConn::Sqlite(sqlite) = conn else {
            return result;
        };
        let result = finish_sqlite(sqlite, result);
        // A commit and a rollback that both failed leave the transaction open: start over with a
        // new connection rather than run the next write inside it.
        let clean = matches!(
            AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth(),
            Ok(None)
        );
        if let Some(own) = &own {
            own.held.store(false, Ordering::Relaxed);
        }
        if !clean {
            *slot.0 = None;
        }
        result
    }

    fn open_writer(&self) -> Result<DbConn, DbError> {
        let (url, options) = self
            .opener
            .as_ref()
            .ok_or_else(|| DbError::Unavailable("no writer connection for this database".into()))?;
        let mut conn = url.open_sqlite(options)?;
        // Its own slot marks it as writing while a transaction runs on it; it holds no gate.
        conn.set_instrumentation(WriterSlot(Arc::new(ConnWriter {
            gate: None,
            held: AtomicBool::new(false),
            wait: options.checkout_timeout,
        })));
        Ok(DbConn::Sqlite(conn))
    }
}

/// How long a writer connection is used before a new one replaces it (r2d2's default lifetime for
/// the pool's connections).
const WRITER_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The writer connection of a file, and when it was opened.
struct WriterConn {
    conn: DbConn,
    opened: Instant,
}

/// The writer connection's slot while a transaction runs on it. A panic inside the transaction
/// closes the connection on the way out, which rolls the transaction back and frees SQLite's write
/// lock at once: left open, it would hold that lock until the next write transaction, and every
/// write outside one ([`lock_writes`]) would wait out `busy_timeout` and fail meanwhile.
struct DiscardOnPanic<'a>(std::sync::MutexGuard<'a, Option<WriterConn>>);

impl Drop for DiscardOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            *self.0 = None;
        }
    }
}

/// The gate, held until dropped.
struct Holding<'a>(&'a Gate);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// One connection's handle on its database's [`Gate`], and whether this connection holds it.
struct ConnWriter {
    /// `None` for the writer connection itself, which its gate holds (and which is only ever used
    /// while the gate is held).
    gate: Option<Arc<Gate>>,
    held: AtomicBool,
    wait: Duration,
}

impl ConnWriter {
    fn acquire(self: &Arc<Self>) -> Result<WriteLock, DbError> {
        let Some(gate) = &self.gate else {
            return Ok(WriteLock(None));
        };
        gate.acquire(self.wait)?;
        self.held.store(true, Ordering::Relaxed);
        Ok(WriteLock(Some(self.clone())))
    }

    /// The gate, when it has a writer connection for the write transactions.
    fn gate_with_connection(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref().filter(|gate| gate.opener.is_some())
    }
}

/// Carries a connection's [`ConnWriter`]. Diesel gives a connection exactly one slot for caller
/// state, its instrumentation; this one observes nothing and only keeps the handle with the
/// connection, so it follows the connection in and out of the pool.
pub(crate) struct WriterSlot(Arc<ConnWriter>);

impl WriterSlot {
    /// The slot of a new connection to the SQLite file at `path`; writers give up after `wait`.
    /// `writer` opens the file's writer connection (for a plain file).
    pub(crate) fn for_file(
        path: &Path,
        wait: Duration,
        writer: Option<(crate::DatabaseUrl, crate::PoolOptions)>,
    ) -> WriterSlot {
        WriterSlot(Arc::new(ConnWriter {
            gate: Some(gate_of(path, writer)),
            held: AtomicBool::new(false),
            wait,
        }))
    }
}

impl Instrumentation for WriterSlot {
    fn on_connection_event(&mut self, _event: InstrumentationEvent<'_>) {}
}

fn writer_of(sqlite: &mut SqliteConnection) -> Option<Arc<ConnWriter>> {
    sqlite
        .instrumentation()
        .downcast_ref::<WriterSlot>()
        .map(|slot| slot.0.clone())
}

/// The gate of a database file, shared by every connection of this process to that file. Keyed by
/// the canonical path, so two spellings of one file share a gate; entries go when their last
/// connection closes.
fn gate_of(path: &Path, writer: Option<(crate::DatabaseUrl, crate::PoolOptions)>) -> Arc<Gate> {
    static GATES: OnceLock<Mutex<HashMap<PathBuf, Weak<Gate>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(gate) = gates.get(&key).and_then(Weak::upgrade) {
        return gate;
    }
    gates.retain(|_, gate| gate.strong_count() > 0);
    let gate = Arc::new(Gate {
        opener: writer,
        ..Gate::default()
    });
    gates.insert(key.clone(), Arc::downgrade(&gate));
    // The file's first connection in this process: its checkpoints run beside the writers from now
    // on (see `checkpoint`), for as long as the gate lives.
    if crate::conn::is_plain_file(path) {
        crate::checkpoint::spawn(key, Arc::downgrade(&gate));
    }
    gate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_writer_gets_the_gate_when_it_is_released_and_gives_up_after_its_deadline() {
        let gate = Arc::new(Gate::default());
        gate.acquire(Duration::ZERO).unwrap();
        let refused = gate.acquire(Duration::from_millis(20)).unwrap_err();
        assert!(refused.is_unavailable(), "{refused}");

        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                gate.acquire(Duration::from_secs(10)).map(|()| started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        gate.release();
        let waited = waiter.join().unwrap().unwrap();
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        gate.release();
    }

    fn sqlite(dir: &Path, checkout_timeout: Duration) -> DbConn {
        let url = crate::DatabaseUrl::parse(&format!("sqlite://{}", dir.join("w.db").display())).unwrap();
        let options = crate::PoolOptions {
            checkout_timeout,
            ..Default::default()
        };
        crate::connect(&url, &options).unwrap()
    }

    fn count(conn: &mut DbConn) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let rows: Vec<Count> =
            diesel::RunQueryDsl::load(diesel::sql_query("SELECT COUNT(*) AS n FROM t"), conn).unwrap();
        rows[0].n
    }

    fn insert(conn: &mut DbConn) -> Result<(), DbError> {
        let _writing = lock_writes(conn)?;
        diesel::RunQueryDsl::execute(diesel::sql_query("INSERT INTO t VALUES (1)"), conn)?;
        Ok(())
    }

    #[test]
    fn writes_inside_a_write_transaction_go_ahead_and_a_nested_transaction_is_a_savepoint() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlite(dir.path(), Duration::from_secs(30));
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();

        let started = Instant::now();
        write_transaction(&mut conn, |conn| {
            insert(conn)?;
            write_transaction(conn, insert)?;
            // A failed inner transaction rolls back only its own writes.
            let failed: Result<(), DbError> = write_transaction(conn, |conn| {
                insert(conn)?;
                Err(DbError::NotFound)
            });
            assert!(matches!(failed, Err(DbError::NotFound)), "{failed:?}");
            Ok::<_, DbError>(())
        })
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no wait on its own lock"
        );
        assert_eq!(count(&mut conn), 2, "outer and first inner insert committed");
        let failed: Result<(), DbError> = write_transaction(&mut conn, |conn| {
            write_transaction(conn, insert)?;
            Err(DbError::NotFound)
        });
        assert!(failed.is_err());
        assert_eq!(
            count(&mut conn),
            2,
            "the outer rollback took the inner writes with it"
        );

        write_transaction(&mut conn, insert).unwrap();
        insert(&mut conn).unwrap();
        assert_eq!(count(&mut conn), 4, "the lock was released after each write");
    }

    #[test]
    fn a_second_connection_waits_for_the_writer_then_writes() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let mut first = sqlite(dir.path(), Duration::from_millis(50));
        first.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        let mut second = sqlite(dir.path(), Duration::from_millis(50));

        let held = lock_writes(&mut first).unwrap();
        let refused = insert(&mut second).unwrap_err();
        assert!(refused.is_unavailable(), "{refused}");
        // Reads do not take the lock.
        assert_eq!(count(&mut second), 0);
        drop(held);
        insert(&mut second).unwrap();

        let mut patient = sqlite(dir.path(), Duration::from_secs(10));
        let outcome = write_transaction(&mut first, |conn| {
            insert(conn)?;
            let waiter = std::thread::spawn(move || insert(&mut patient).map(|()| count(&mut patient)));
            std::thread::sleep(Duration::from_millis(50));
            Ok::<_, DbError>(waiter)
        })
        .unwrap();
        assert_eq!(
            outcome.join().unwrap().unwrap(),
            3,
            "the waiter wrote after the commit"
        );
    }

    /// A temporary table lives in one connection only: whether `temp.marker` answers tells on
    /// which connection a statement ran.
    fn sees_marker(conn: &mut DbConn) -> bool {
        diesel::RunQueryDsl::execute(diesel::sql_query("SELECT * FROM temp.marker"), conn).is_ok()
    }

    #[test]
    fn the_write_transactions_of_every_connection_run_on_one_writer_connection() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let mut first = sqlite(dir.path(), Duration::from_secs(5));
        first.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        let mut second = sqlite(dir.path(), Duration::from_secs(5));

        write_transaction(&mut first, |conn| {
            conn.batch_execute("CREATE TEMP TABLE marker (x INTEGER)")?;
            insert(conn)
        })
        .unwrap();
        assert!(!sees_marker(&mut first), "reads stay on the pooled connection");
        let seen = write_transaction(&mut second, |conn| {
            insert(conn)?;
            Ok::<_, DbError>(sees_marker(conn))
        })
        .unwrap();
        assert!(
            seen,
            "the second connection's transaction ran where the first one's did"
        );
        assert!(!sees_marker(&mut second));
        assert_eq!(count(&mut second), 2);
    }

    #[test]
    fn a_panic_in_a_write_transaction_frees_the_gate_and_commits_nothing() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlite(dir.path(), Duration::from_millis(500));
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        write_transaction(&mut conn, |conn| {
            conn.batch_execute("CREATE TEMP TABLE marker (x INTEGER)")
                .map_err(DbError::from)
        })
        .unwrap();

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), DbError> = write_transaction(&mut conn, |conn| {
                insert(conn)?;
                panic!("in the middle of a write");
            });
        }));
        assert!(panicked.is_err());

        // SQLite's write lock went with the panicking transaction: a write outside a transaction,
        // on the pooled connection, goes ahead (it would wait out busy_timeout and fail otherwise).
        insert(&mut conn).unwrap();
        // The gate is free (a held one would refuse this after 500 ms), the insert was rolled back,
        // and the write ran on a new writer connection: the old one went with its open transaction.
        let seen = write_transaction(&mut conn, |conn| {
            insert(conn)?;
            Ok::<_, DbError>(sees_marker(conn))
        })
        .unwrap();
        assert!(!seen, "a new writer connection");
        assert_eq!(count(&mut conn), 2, "only the writes after the panic");
    }

    #[test]
    fn one_file_has_one_gate_whatever_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.db");
        std::fs::write(&file, b"").unwrap();
        let spelled_otherwise = dir.path().join(".").join("x.db");
        let a = gate_of(&file, None);
        assert!(Arc::ptr_eq(&a, &gate_of(&spelled_otherwise, None)));
        assert!(!Arc::ptr_eq(&a, &gate_of(&dir.path().join("y.db"), None)));
    }
}
