//! The `login_throttles` table: consecutive failed sign-ins per throttle key and the back-off window
//! they started. A key is an account's normalised email (whether or not the account exists, so the
//! throttle tells nobody which accounts exist) or a trusted device of one account.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::login_throttles as lt;
use crate::{lock_writes, write_transaction, DbConn, DbError};

/// Whether a sign-in attempt may check the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; the attempt is already counted as a failure until [`clear`] (or [`refund`]).
    Allowed,
    /// Refused without checking the password until `until`.
    Throttled {
        /// End of the back-off window.
        until: NaiveDateTime,
    },
}

/// Counts a sign-in attempt on `key` *before* the password is checked, in one write transaction, so
/// parallel guesses cannot slip past the limit: each takes a numbered slot, and the slot that reaches
/// the limit starts the back-off window for those after it. `backoff(n)` gives the window after `n`
/// consecutive failures (or none below the limit). `on_first_refusal` runs in the same transaction
/// when this attempt is the first one refused in its window (to record it), so a refusal costs the
/// same one commit whether or not it records anything.
pub fn begin_attempt(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    backoff: impl Fn(i32) -> Option<Duration>,
    on_first_refusal: impl FnOnce(&mut DbConn) -> Result<(), DbError>,
) -> Result<Attempt, DbError> {
    write_transaction(conn, |conn| {
        // Twice at most: a correct password elsewhere deletes the row (`clear`) and may do so
        // between our insert and our update, which then counts nothing; the row is made again.
        for _ in 0..2 {
            ensure_row(conn, key, now)?;
            let open = lt::locked_until.is_null().or(lt::locked_until.le(now));
            let counted = diesel::update(lt::table.find(key).filter(open))
                .set((lt::failures.eq(lt::failures + 1), lt::updated_at.eq(now)))
                .execute(conn)?;
            if counted == 0 {
                let Some(until): Option<Option<NaiveDateTime>> = lt::table
                    .find(key)
                    .select(lt::locked_until)
                    .get_result(conn)
                    .optional()?
                else {
                    continue;
                };
                let first_refusal =
                    diesel::update(lt::table.find(key).filter(lt::throttle_reported.eq(false)))
                        .set(lt::throttle_reported.eq(true))
                        .execute(conn)?
                        == 1;
                if first_refusal {
                    on_first_refusal(conn)?;
                }
                return Ok(Attempt::Throttled {
                    until: until.unwrap_or(now),
                });
            }
            let failures: i32 = lt::table.find(key).select(lt::failures).get_result(conn)?;
            if let Some(window) = backoff(failures) {
                diesel::update(lt::table.find(key))
                    .set((lt::locked_until.eq(now + window), lt::throttle_reported.eq(false)))
                    .execute(conn)?;
            }
            return Ok(Attempt::Allowed);
        }
        Err(DbError::Unavailable(
            "a sign-in throttle row kept disappearing under concurrent sign-ins".into(),
        ))
    })
}

/// Takes back an attempt whose password was never checked (the hashing queue shed it): a client
/// told "try again later" has not guessed, so it must not move the account towards a back-off. The
/// decrement is relative and the row stays locked until commit, so a failure counted meanwhile by a
/// parallel attempt is never overwritten.
pub fn refund(
    conn: &mut DbConn,
    key: &str,
    backoff: impl Fn(i32) -> Option<Duration>,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let target = lt::table.find(key).filter(lt::failures.gt(0));
        if diesel::update(target)
            .set(lt::failures.eq(lt::failures - 1))
            .execute(conn)?
            == 0
        {
            return Ok(());
        }
        let failures: i32 = lt::table.find(key).select(lt::failures).get_result(conn)?;
        if backoff(failures).is_none() {
            diesel::update(lt::table.find(key))
                .set(lt::locked_until.eq(None::<NaiveDateTime>))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A correct password ends the count and any back-off of `key`.
pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    let _writing = lock_writes(conn)?;
    diesel::delete(lt::table.find(key)).execute(conn)?;
    Ok(())
}

/// Deletes the rows untouched since `before` whose window (if any) has ended: they hold nothing a
/// later attempt would need, and unknown emails would otherwise accumulate for ever.
pub fn delete_idle(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    let _writing = lock_writes(conn)?;
    let window_over = lt::locked_until.is_null().or(lt::locked_until.lt(before));
    Ok(diesel::delete(lt::table.filter(lt::updated_at.lt(before)).filter(window_over)).execute(conn)?)
}

/// Inserts a zeroed row for `key` unless one exists (an upsert needs the concrete backend).
fn ensure_row(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> Result<(), DbError> {
    let row = (
        lt::throttle_key.eq(key),
        lt::failures.eq(0),
        lt::throttle_reported.eq(false),
        lt::updated_at.eq(now),
    );
    let insert = diesel::insert_into(lt::table).values(row);
    match conn {
        DbConn::Postgres(pg) => insert.on_conflict_do_nothing().execute(pg)?,
        DbConn::Sqlite(sqlite) => insert.on_conflict_do_nothing().execute(sqlite)?,
    };
    Ok(())
}
