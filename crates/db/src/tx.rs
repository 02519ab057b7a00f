use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use crate::{DbConn, DbError};

/// Runs `work` in a transaction that takes the write lock up front.
///
/// On SQLite a plain (deferred) transaction that reads and then writes can fail with `SQLITE_BUSY`
/// without waiting when another writer got there first; `BEGIN IMMEDIATE` waits for the lock
/// (busy_timeout) instead, so read-check-write steps such as a refresh rotation are serialised. On
/// PostgreSQL it is an ordinary transaction: the row locks of its UPDATEs do the serialising.
/// `work` must not open a transaction of its own.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError>,
{
    if let DbConn::Sqlite(sqlite) = conn {
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
            .map_err(|err| E::from(err.into()))?;
        let result = work(conn);
        if let DbConn::Sqlite(sqlite) = conn {
            return finish_sqlite(sqlite, result);
        }
        return result;
    }
    conn.transaction(|conn| work(conn).map_err(Abort::Work))
        .map_err(|abort| match abort {
            Abort::Work(err) => err,
            Abort::Db(err) => E::from(DbError::from(err)),
        })
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
