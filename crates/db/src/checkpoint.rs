//! SQLite WAL checkpoints off the request path.
//!
//! By default SQLite checkpoints right after the commit that grows the write-ahead log past 1000
//! pages, on the committing connection: it copies the pages into the database file and syncs it
//! while the request still holds this process's writer gate (see `tx`), so every writer queued
//! behind it waits too. Under a closed loop of refreshes this was the refresh's latency tail (p99
//! at six times the median). So the connections of this crate turn automatic checkpoints off
//! (`PRAGMA wal_autocheckpoint = 0`, in `conn`) and one thread per database file and process runs
//! them instead:
//!
//! - a passive checkpoint every 50–250 ms, beside the writers: it takes no lock a writer or reader
//!   waits on, and copies the log up to where it ended when the checkpoint began;
//! - under steady writes a commit lands during nearly every passive checkpoint, so the log is never
//!   copied to its end and SQLite never starts it over: it would grow without bound. So once the
//!   log is longer than [`FINISH_AT`] pages after a passive pass, the thread takes the writer gate
//!   before the writers waiting for it (they wait, as behind any write) and copies the rest, which
//!   the passive pass left short (when that rest is long, another pass beside the writers comes
//!   first, so the writers wait for a short copy); the next writer then starts the log over, unless
//!   a read still uses its old part (then a later writer does), and `journal_size_limit` (in
//!   `conn`) gives the file's space back.
//!
//! The thread lives as long as the file's writer gate (as long as any connection of this process to
//! the file is open), on a connection of its own that holds no gate.

use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};

use crate::tx::Gate;

/// After a checkpoint that found new pages: writes are coming in, look again soon so each
/// checkpoint stays small.
const BUSY: Duration = Duration::from_millis(50);
/// After a checkpoint that found nothing new.
const IDLE: Duration = Duration::from_millis(250);
/// A log this long (in pages, 4 KiB each) after a passive pass is finished under the writer gate.
pub(crate) const FINISH_AT: i32 = 1000;
/// How long the thread waits for the writer gate before trying again at its next pass.
const GATE_WAIT: Duration = Duration::from_millis(500);
/// The most pages left for the pass under the gate (the writers wait for it), unless the log is
/// [`FINISH_ANYWAY`] pages long.
const FINISH_UNDER_GATE: i32 = FINISH_AT;
/// A log this long is finished under the gate whatever is left: writers outrun the passes.
const FINISH_ANYWAY: i32 = 4 * FINISH_AT;

/// The writer gate, held by the checkpoint thread until dropped (also when a checkpoint panics).
struct HeldGate(std::sync::Arc<Gate>);

impl HeldGate {
    fn take(gate: std::sync::Arc<Gate>, wait: Duration) -> Result<HeldGate, crate::DbError> {
        gate.acquire_first(wait)?;
        Ok(HeldGate(gate))
    }
}

impl Drop for HeldGate {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Starts the checkpoint thread of the database file at `path`; it ends once `gate` is gone.
pub(crate) fn spawn(path: PathBuf, gate: Weak<Gate>) {
    let started = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&path, &gate));
    if let Err(err) = started {
        // Without the thread the log is checkpointed only when the last connection closes.
        log::error!("could not start the SQLite checkpoint thread: {err}");
    }
}

#[derive(QueryableByName)]
struct Outcome {
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Pages of it now in the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

fn run(path: &std::path::Path, gate: &Weak<Gate>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut failing = false;
    let mut pause = IDLE;
    let mut last = (0, 0);
    loop {
        std::thread::sleep(pause);
        if gate.strong_count() == 0 {
            return;
        }
        pause = IDLE;
        let connection = match conn.as_mut() {
            Some(connection) => connection,
            None => match open(path) {
                Ok(opened) => conn.insert(opened),
                Err(err) => {
                    report(&mut failing, &format!("opening {}: {err}", path.display()));
                    continue;
                }
            },
        };
        let mut again = false;
        let outcome = checkpoint(connection).and_then(|state| {
            let (log, copied) = state;
            if log <= FINISH_AT || copied >= log {
                return Ok(state);
            }
            // Writers wait while the gate is held, so only a short rest is copied under it; a
            // long one (writes came in faster than the pass copied) gets another pass beside
            // the writers first, unless the log is already far too long.
            if log - copied > FINISH_UNDER_GATE && log < FINISH_ANYWAY {
                again = true;
                return Ok(state);
            }
            match gate.upgrade().map(|gate| HeldGate::take(gate, GATE_WAIT)) {
                Some(Ok(_held)) => checkpoint(connection),
                _ => Ok(state),
            }
        });
        match outcome {
            Ok(state) => {
                if failing {
                    log::info!("SQLite checkpoints of {} work again", path.display());
                    failing = false;
                }
                if state != last && state.0 > 0 {
                    pause = BUSY;
                }
                last = state;
            }
            Err(err) => {
                report(&mut failing, &err.to_string());
                conn = None;
            }
        }
        if again {
            pause = Duration::ZERO;
        }
    }
}

/// Opens the file read-write without creating it: the server's connections made it, and a file
/// removed since (a test's temporary folder) must not come back empty.
fn open(path: &std::path::Path) -> Result<SqliteConnection, String> {
    // The characters a URI path gives a meaning to are escaped.
    let escaped = path
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    SqliteConnection::establish(&format!("file:{escaped}?mode=rw")).map_err(|e| e.to_string())
}

/// One passive checkpoint: the pages in the log and how many of them are now in the database file
/// (both -1 when the database is not in WAL mode, or when another connection is checkpointing it).
/// A change since the last call means writes came in.
fn checkpoint(conn: &mut SqliteConnection) -> Result<(i32, i32), diesel::result::Error> {
    let outcome: Vec<Outcome> = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").load(conn)?;
    Ok(outcome.first().map_or((0, 0), |o| (o.log, o.checkpointed)))
}

/// Logs the first failure of a run of failures, not one per attempt.
fn report(failing: &mut bool, what: &str) {
    if !*failing {
        log::warn!("SQLite checkpoint failed (the write-ahead log grows until it works): {what}");
        *failing = true;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::{connect, write_transaction, DatabaseUrl, DbConn, DbError, PoolOptions};

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        wal_autocheckpoint: i32,
    }

    #[test]
    fn commits_leave_the_log_alone_and_the_thread_moves_it_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap();
        let mut conn = connect(&url, &PoolOptions::default()).unwrap();
        let DbConn::Sqlite(sqlite) = &mut conn else {
            unreachable!()
        };
        let setting: Vec<Setting> = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .load(sqlite)
            .unwrap();
        assert_eq!(setting[0].wal_autocheckpoint, 0, "no checkpoint inside a commit");
        sqlite.batch_execute("CREATE TABLE t (x TEXT)").unwrap();
        let before = std::fs::metadata(&file).unwrap().len();

        // About 100 pages: far below SQLite's own threshold of 1000, so only the thread can have
        // copied them into the database file.
        for _ in 0..100 {
            write_transaction(&mut conn, |conn| {
                let DbConn::Sqlite(sqlite) = conn else {
                    unreachable!()
                };
                sqlite.batch_execute(&format!("INSERT INTO t VALUES ('{}')", "x".repeat(4000)))?;
                Ok::<_, DbError>(())
            })
            .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&file).unwrap().len();
            if size >= before + 100 * 4000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file stayed at {size} bytes (from {before}): nothing checkpointed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn under_steady_writes_the_log_is_started_over_instead_of_growing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db");
        let wal = dir.path().join("g.db-wal");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap();
        let mut conn = connect(&url, &PoolOptions::default()).unwrap();
        let DbConn::Sqlite(sqlite) = &mut conn else {
            unreachable!()
        };
        sqlite.batch_execute("CREATE TABLE t (x TEXT)").unwrap();

        // Commits back to back, so one lands during nearly every passive checkpoint. SQLite counts
        // each start-over of the log in the log file's header (bytes 12..16, the checkpoint
        // sequence number); without one the log only grows.
        let row = "x".repeat(3000);
        let started_over = |wal: &std::path::Path| -> u32 {
            let header = std::fs::read(wal).map(|bytes| bytes.get(12..16).map(<[u8]>::to_vec));
            match header {
                Ok(Some(sequence)) => u32::from_be_bytes(sequence.try_into().unwrap()),
                _ => 0,
            }
        };
        let first = started_over(&wal);
        // Three writers of this process, each on its own connection: one always waits for the
        // gate, as under a closed loop of refreshes.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (url, stop, row) = (url.clone(), stop.clone(), row.clone());
                std::thread::spawn(move || {
                    let mut conn = connect(&url, &PoolOptions::default()).unwrap();
                    let mut commits = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        write_transaction(&mut conn, |conn| {
                            let DbConn::Sqlite(sqlite) = conn else {
                                unreachable!()
                            };
                            sqlite.batch_execute(&format!("INSERT INTO t VALUES ('{row}')"))?;
                            Ok::<_, DbError>(())
                        })
                        .unwrap();
                        commits += 1;
                    }
                    commits
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while started_over(&wal).wrapping_sub(first) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let commits: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let restarts = started_over(&wal).wrapping_sub(first);
        assert!(
            restarts >= 3,
            "{commits} commits in 60 s and the log was started over {restarts} times, not 3: it only grows"
        );
        let size = std::fs::metadata(&wal).unwrap().len();
        assert!(
            size <= 96 << 20,
            "the log file is {size} bytes after {commits} commits"
        );
    }
}
