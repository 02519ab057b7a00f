//! The delivery worker: claims due messages from the outbox, sends them, records the outcome.
//!
//! Every instance runs one. Claims are leases (see `portcullis_db::outbox`), so two instances never
//! hold one message; a message is marked sent only by its lease holder, right after the transport
//! accepted it. A failure is retried with exponential back-off (`MAIL_RETRY_BASE_MS` doubling, at
//! most an hour apart) until `MAIL_MAX_ATTEMPTS`, or given up at once when the server refused it for
//! good (an SMTP 5xx). A database outage only delays the next claim. On shutdown the message being
//! sent finishes and the rest of the claimed batch is given back for any instance to send.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use portcullis_db::outbox::{self, OutboxMail};
use portcullis_db::{Pool, Sealer};
use tokio::sync::{watch, Notify};

use crate::transport::{SendError, Transport};
use crate::MailConfig;

/// Messages claimed at once: small, so that several instances share a burst.
const BATCH: i64 = 5;
/// How long a claim holds a message. Each message's lease is renewed right before it is sent, and a
/// send is cut off after [`SEND_TIMEOUT`], far less: a live worker never sends on a lapsed lease, so
/// two workers never send one message.
const LEASE_SECS: i64 = 600;
/// The most one delivery may take, whatever the transport (lettre's own timeout applies to each
/// network step, not to the whole conversation).
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest wait between two attempts at one message.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Controls a running worker.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, lets the message being sent finish, gives the rest of the batch back, and
    /// waits at most `grace` for all that.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, self.done).await.is_err() {
            log::warn!("mail worker did not stop within {grace:?}; its leased messages will be retried");
        }
    }
}

pub(crate) fn spawn(
    pool: Pool,
    transport: Transport,
    config: Arc<MailConfig>,
    from: Mailbox,
    wake: Arc<Notify>,
    bodies: Arc<Sealer>,
) -> WorkerHandle {
    let (stop, stopping) = watch::channel(false);
    let worker = Worker {
        id: uuid::Uuid::now_v7().to_string(),
        pool,
        transport,
        config,
        from,
        wake,
        bodies,
        stopping,
    };
    let done = tokio::spawn(worker.run());
    WorkerHandle { stop, done }
}

struct Worker {
    id: String,
    pool: Pool,
    transport: Transport,
    config: Arc<MailConfig>,
    from: Mailbox,
    wake: Arc<Notify>,
    bodies: Arc<Sealer>,
    stopping: watch::Receiver<bool>,
}

impl Worker {
    async fn run(self) {
        loop {
            if self.stopped() {
                break;
            }
            let claimed = self.claim().await;
            let full = claimed.len() as i64 == BATCH;
            for mail in claimed {
                if self.stopped() {
                    break;
                }
                self.deliver(mail).await;
            }
            if self.stopped() {
                break;
            }
            if !full {
                // Wait for a message queued by this instance, the next poll (messages queued by
                // other instances, retries coming due), or shutdown.
                let mut stopping = self.stopping.clone();
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = stopping.changed() => {}
                }
            }
        }
        let (pool, id) = (self.pool.clone(), self.id.clone());
        match blocking(move || {
            let mut conn = pool.get().text()?;
            outbox::release(&mut conn, &id).text()
        })
        .await
        {
            Ok(0) => {}
            Ok(released) => log::info!("mail worker stopping: gave back {released} claimed messages"),
            Err(err) => log::warn!("mail worker stopping: could not give back its claims ({err}); they are retried after the lease"),
        }
    }

    fn stopped(&self) -> bool {
        *self.stopping.borrow()
    }

    async fn claim(&self) -> Vec<OutboxMail> {
        let (pool, id) = (self.pool.clone(), self.id.clone());
        let lease = chrono::Duration::seconds(LEASE_SECS);
        match blocking(move || {
            let mut conn = pool.get().text()?;
            outbox::claim(&mut conn, &id, portcullis_db::now(), lease, BATCH).text()
        })
        .await
        {
            Ok(claimed) => claimed,
            Err(err) => {
                // The database is down or busy: nothing is lost, the next poll tries again.
                log::warn!("mail worker: cannot claim messages: {err}");
                Vec::new()
            }
        }
    }

    async fn deliver(&self, mut mail: OutboxMail) {
        let (pool, worker, id) = (self.pool.clone(), self.id.clone(), mail.id.clone());
        let until = portcullis_db::now() + chrono::Duration::seconds(LEASE_SECS);
        match blocking(move || {
            let mut conn = pool.get().text()?;
            outbox::renew(&mut conn, &id, &worker, until).text()
        })
        .await
        {
            Ok(true) => {}
            Ok(false) => {
                log::warn!("mail {} not sent: its lease passed to another worker", mail.id);
                return;
            }
            Err(err) => {
                // Not sent; the lease runs out and any worker tries again.
                log::warn!("mail {} not sent: cannot renew its lease: {err}", mail.id);
                return;
            }
        }
        let outcome = match self.open_bodies(&mut mail) {
            Err(err) => Err(err),
            Ok(()) => {
                match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(&self.from, &mail)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(SendError {
                        message: format!("no answer within {SEND_TIMEOUT:?}"),
                        permanent: false,
                    }),
                }
            }
        };
        let (pool, worker, id, attempts) =
            (self.pool.clone(), self.id.clone(), mail.id.clone(), mail.attempts);
        let max_attempts = self.config.max_attempts;
        let retry_base = self.config.retry_base;
        let kind = mail.kind.clone();
        let recorded = match outcome {
            Ok(place) => {
                log::info!("mail {id} ({kind}) delivered to {place}");
                blocking(move || {
                    let mut conn = pool.get().text()?;
                    outbox::mark_sent(&mut conn, &id, &worker, portcullis_db::now()).text()
                })
                .await
            }
            Err(SendError { message, permanent }) => {
                let now = portcullis_db::now();
                let retry_at = (!permanent && attempts < max_attempts as i32)
                    .then(|| now + backoff(retry_base, attempts));
                match retry_at {
                    Some(at) => log::warn!(
                        "mail {id} ({kind}) attempt {attempts} failed, retrying at {at}: {message}"
                    ),
                    None => log::error!("mail {id} ({kind}) given up after {attempts} attempts: {message}"),
                }
                blocking(move || {
                    let mut conn = pool.get().text()?;
                    outbox::mark_failed(&mut conn, &id, &worker, &message, now, retry_at).text()
                })
                .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => log::warn!("mail {} outcome not recorded: the lease was lost", mail.id),
            // The lease runs out and the message is tried again: a repeat is possible only here.
            Err(err) => log::error!("mail {} outcome not recorded: {err}", mail.id),
        }
    }
}

impl Worker {
    /// Replaces the sealed bodies with the text to send; a body that does not open (sealed under
    /// another `JWT_SECRET`) can never be sent.
    fn open_bodies(&self, mail: &mut OutboxMail) -> Result<(), SendError> {
        let open = |sealed: &str| {
            self.bodies
                .open(&mail.id, sealed)
                .ok()
                .and_then(|plain| String::from_utf8(plain).ok())
                .ok_or_else(|| SendError {
                    message: "the queued body does not open (JWT_SECRET changed?)".into(),
                    permanent: true,
                })
        };
        let (text, html) = (open(&mail.text_body)?, open(&mail.html_body)?);
        mail.text_body = text;
        mail.html_body = html;
        Ok(())
    }
}

/// The wait before attempt `attempts + 1`: `base × 2^(attempts − 1)`, at most an hour.
fn backoff(base: Duration, attempts: i32) -> chrono::Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(20));
    let wait = base.saturating_mul(factor).min(MAX_BACKOFF);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| format!("blocking task failed: {err}"))?
}

/// Lets `?` turn pool and database errors into the worker's log text.
trait IntoText<T> {
    fn text(self) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> IntoText<T> for Result<T, E> {
    fn text(self) -> Result<T, String> {
        self.map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), chrono::Duration::seconds(30));
        assert_eq!(backoff(base, 2), chrono::Duration::seconds(60));
        assert_eq!(backoff(base, 4), chrono::Duration::seconds(240));
        assert_eq!(backoff(base, 8), chrono::Duration::seconds(3600));
        assert_eq!(backoff(base, 40), chrono::Duration::seconds(3600));
    }
}
