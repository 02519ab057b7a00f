//! SQLite WAL checkpoints off the request path.
//!
//! By default SQLite checkpoints inside the commit that grows the write-ahead log past 1000 pages:
//! that writer copies the pages into the database file and syncs it while it still holds the write
//! lock, so every writer queued behind it (see `tx`) waits too. Under a closed loop of refreshes
//! this was the refresh's latency tail (p99 at six times the median). So the connections of this
//! crate turn automatic checkpoints off (`PRAGMA wal_autocheckpoint = 0`, in `conn`) and one thread
//! per database file and process runs passive checkpoints beside the writers instead: a passive
//! checkpoint takes no lock a writer or reader waits on, and copies whatever no reader still needs.
//!
//! The thread lives as long as the file's writer gate (as long as any connection of this process to
//! the file is open), on a connection of its own that holds no gate.

use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};

/// After a checkpoint that copied pages: writes are coming in, look again soon so each checkpoint
/// stays small.
const BUSY: Duration = Duration::from_millis(50);
/// After a checkpoint that found nothing to copy.
const IDLE: Duration = Duration::from_millis(250);

/// Starts the checkpoint thread of the database file at `path`; it ends once `alive` is gone.
pub(crate) fn spawn<T: Send + Sync + 'static>(path: PathBuf, alive: Weak<T>) {
    let started = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&path, &alive));
    if let Err(err) = started {
        // Without the thread the log still gets checkpointed when the last connection closes; it
        // only grows meanwhile.
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

fn run<T>(path: &std::path::Path, alive: &Weak<T>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut failing = false;
    let mut pause = IDLE;
    let mut last = (0, 0);
    loop {
        std::thread::sleep(pause);
        if alive.strong_count() == 0 {
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
        match checkpoint(connection) {
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
    }
}

/// Opens the file without creating it: the server's connections made it, and a file removed since
/// (a test's temporary folder) must not come back empty.
fn open(path: &std::path::Path) -> Result<SqliteConnection, String> {
    if !path.exists() {
        return Err("the database file is gone".into());
    }
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| e.to_string())?;
    // This connection never writes rows; the pragma keeps it from checkpointing on close while
    // other connections are still open (SQLite only does that for the last one anyway).
    conn.batch_execute("PRAGMA wal_autocheckpoint = 0;")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One passive checkpoint: the pages in the log and how many of them are now in the database file
/// (both -1 when the database is not in WAL mode). A change since the last call means writes came in.
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
}
