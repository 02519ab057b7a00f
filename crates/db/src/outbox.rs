//! The `mail_outbox` table: messages written in the transaction of the change that causes them, and
//! claimed by delivery workers with a lease.
//!
//! A worker claims due messages by setting `leased_by`/`lease_until` in one write transaction (on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two instances claiming at once take disjoint rows
//! without waiting for each other; on SQLite `BEGIN IMMEDIATE` serialises the claims). Only the lease
//! holder can mark a message sent or failed; a lease that runs out (a crashed worker) makes the
//! message due again.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::mail_outbox;
use crate::{lock_writes, write_transaction, DbConn, DbError};

/// A message to queue.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail<'a> {
    /// UUID v7.
    pub id: &'a str,
    /// What kind of message (for the per-address cap and the log).
    pub kind: &'a str,
    /// The address as the user typed it.
    pub recipient: &'a str,
    /// The normalised address.
    pub recipient_key: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text part.
    pub text_body: &'a str,
    /// HTML part.
    pub html_body: &'a str,
    /// Queue time.
    pub created_at: NaiveDateTime,
    /// Due at once.
    pub next_attempt_at: NaiveDateTime,
}

/// A claimed message, ready to send.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxMail {
    /// UUID v7; also the message's `Message-ID`, so a receiver can tell a repeat.
    pub id: String,
    /// What kind of message.
    pub kind: String,
    /// The address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Writes a message into the outbox (in the caller's transaction).
pub fn queue(conn: &mut DbConn, mail: &NewMail<'_>) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    diesel::insert_into(mail_outbox::table)
        .values(mail)
        .execute(conn)?;
    Ok(())
}

/// How many messages of `kind` were queued for this address since `since`.
pub fn queued_since(
    conn: &mut DbConn,
    recipient_key: &str,
    kind: &str,
    since: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::recipient_key.eq(recipient_key))
        .filter(mail_outbox::kind.eq(kind))
        .filter(mail_outbox::created_at.gt(since))
        .count()
        .get_result(conn)?)
}

/// Serialises the per-address cap check and the insert that follows it across PostgreSQL
/// transactions (a transaction-scoped advisory lock on the address); SQLite's write transaction
/// already does. Call inside a write transaction, before [`queued_since`].
pub fn lock_recipient(conn: &mut DbConn, recipient_key: &str) -> Result<(), DbError> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind::<diesel::sql_types::Text, _>(recipient_key)
            .execute(pg)?;
    }
    Ok(())
}

/// Claims up to `batch` due messages for `worker` until `now + lease`, counting an attempt for each.
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    now: NaiveDateTime,
    lease: Duration,
    batch: i64,
) -> Result<Vec<OutboxMail>, DbError> {
    write_transaction(conn, |conn| {
        let due = mail_outbox::table
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::failed_at.is_null())
            .filter(mail_outbox::next_attempt_at.le(now))
            .filter(
                mail_outbox::lease_until
                    .is_null()
                    .or(mail_outbox::lease_until.lt(now)),
            )
            .order(mail_outbox::next_attempt_at.asc())
            .limit(batch)
            .select(mail_outbox::id);
        let ids: Vec<String> = match conn {
            DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            DbConn::Sqlite(sqlite) => due.load(sqlite)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The lease condition again: on PostgreSQL the rows are locked, on SQLite the claim is the
        // only writer; it costs nothing and keeps the claim right on its own.
        diesel::update(
            mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)).filter(
                mail_outbox::lease_until
                    .is_null()
                    .or(mail_outbox::lease_until.lt(now)),
            ),
        )
        .set((
            mail_outbox::leased_by.eq(worker),
            mail_outbox::lease_until.eq(now + lease),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
        ))
        .execute(conn)?;
        Ok(mail_outbox::table
            .filter(mail_outbox::id.eq_any(&ids))
            .order(mail_outbox::next_attempt_at.asc())
            .select(OutboxMail::as_select())
            .load(conn)?)
    })
}

/// Extends `worker`'s lease on an unsent message to `until`, right before sending it; false when the
/// worker no longer holds it (its lease ran out and another worker claimed it), and then it must not
/// send.
pub fn renew(conn: &mut DbConn, id: &str, worker: &str, until: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(held(id, worker).filter(mail_outbox::sent_at.is_null()))
        .set(mail_outbox::lease_until.eq(until))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Records a delivery by the lease holder and clears the bodies (they may hold a token link);
/// `leased_by` stays as the record of which worker delivered it. False when `worker` no longer held
/// the message.
pub fn mark_sent(conn: &mut DbConn, id: &str, worker: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::update(held(id, worker))
        .set((
            mail_outbox::sent_at.eq(now),
            mail_outbox::text_body.eq(""),
            mail_outbox::html_body.eq(""),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Records a failed attempt: due again at `retry_at`, or given up for good when it is `None`
/// (the bodies are then cleared).
pub fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    worker: &str,
    error: &str,
    now: NaiveDateTime,
    retry_at: Option<NaiveDateTime>,
) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let release = (
        mail_outbox::leased_by.eq(None::<String>),
        mail_outbox::lease_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(error),
    );
    let changed = match retry_at {
        Some(at) => diesel::update(held(id, worker))
            .set((release, mail_outbox::next_attempt_at.eq(at)))
            .execute(conn)?,
        None => diesel::update(held(id, worker))
            .set((
                release,
                mail_outbox::failed_at.eq(now),
                mail_outbox::text_body.eq(""),
                mail_outbox::html_body.eq(""),
            ))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Gives back every unsent message `worker` holds (a stopping worker), so another instance can
/// deliver them at once instead of after the lease; the attempt it counted is taken back.
pub fn release(conn: &mut DbConn, worker: &str) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::update(
        mail_outbox::table
            .filter(mail_outbox::leased_by.eq(worker))
            .filter(mail_outbox::sent_at.is_null()),
    )
    .set((
        mail_outbox::leased_by.eq(None::<String>),
        mail_outbox::lease_until.eq(None::<NaiveDateTime>),
        mail_outbox::attempts.eq(mail_outbox::attempts - 1),
    ))
    .execute(conn)?)
}

/// Deletes delivered and abandoned messages older than `before`.
pub fn delete_finished(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    let _writing = lock_writes(conn)?;
    Ok(diesel::delete(
        mail_outbox::table.filter(
            mail_outbox::sent_at
                .lt(before)
                .or(mail_outbox::failed_at.lt(before)),
        ),
    )
    .execute(conn)?)
}

fn held<'a>(
    id: &'a str,
    worker: &'a str,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<mail_outbox::table, &'a str>,
    diesel::dsl::Eq<mail_outbox::leased_by, &'a str>,
> {
    mail_outbox::table
        .find(id)
        .filter(mail_outbox::leased_by.eq(worker))
}

/// How many messages wait for delivery (or a retry), and how many were given up on and not yet
/// deleted: the outbox gauges of the metrics.
pub fn counts(conn: &mut DbConn) -> Result<(i64, i64), DbError> {
    let pending = mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn)?;
    let failed = mail_outbox::table
        .filter(mail_outbox::failed_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok((pending, failed))
}
