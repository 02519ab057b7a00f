//! `portcullis-mail` is outgoing mail: the messages (rendered from compile-time checked templates),
//! the queueing side of the transactional outbox ([`Mailer::queue`], called inside the transaction of
//! the change that causes the message), and the delivery worker every instance runs, with its
//! transports (SMTP through lettre, or `.eml` files in development).
//!
//! It knows nothing of HTTP or of accounts: callers decide what to send and to whom.

mod message;
mod transport;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use lettre::message::Mailbox;
use portcullis_db::outbox::{self, NewMail};
use portcullis_db::{DbConn, DbError, Pool, Sealer};

/// What the outbox body key is for (each use of `JWT_SECRET` derives its own key).
const BODY_PURPOSE: &str = "portcullis outbox bodies v1";
use tokio::sync::Notify;

pub use message::{Mail, Notice, Rendered};
pub use transport::TransportConfig;
pub use worker::WorkerHandle;

/// Mail settings, handed over by the server (this crate never reads the environment).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `MAIL_TRANSPORT` and `SMTP_URL`.
    pub transport: TransportConfig,
    /// `MAIL_FROM`, e.g. `Portcullis <no-reply@example.com>`.
    pub from: String,
    /// `MAIL_LINK_BASE`: where the hosted pages that take a mailed token live.
    pub link_base: String,
    /// `MAIL_MAX_ATTEMPTS`: deliveries tried before a message is given up.
    pub max_attempts: u32,
    /// `MAIL_PER_ADDRESS_PER_HOUR`: messages of one kind to one address per hour.
    pub per_address_per_hour: u32,
    /// `MAIL_RETRY_BASE_MS`: the first wait after a failed delivery (doubling after each).
    pub retry_base: Duration,
    /// `MAIL_POLL_INTERVAL_MS`: how often the worker looks for messages queued by other instances
    /// and retries coming due.
    pub poll_interval: Duration,
}

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The database refused (the caller's transaction rolls back).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A template failed to render.
    #[error("mail template: {0}")]
    Render(#[from] askama::Error),
}

/// The queueing side of the outbox, shared by the request handlers; it also wakes this instance's
/// worker when a message was queued.
#[derive(Clone)]
pub struct Mailer {
    config: Arc<MailConfig>,
    from: Mailbox,
    wake: Arc<Notify>,
    bodies: Arc<Sealer>,
}

impl Mailer {
    /// Checks `MAIL_FROM`. Queued bodies are sealed under a key derived from `secret`
    /// (`JWT_SECRET`): a body may hold a token link, and the outbox keeps it until delivery, which a
    /// mail server outage can make hours.
    pub fn new(config: MailConfig, secret: &[u8]) -> Result<Mailer, String> {
        let from = parse_from(&config.from)?;
        Ok(Mailer {
            config: Arc::new(config),
            from,
            wake: Arc::new(Notify::new()),
            bodies: Arc::new(Sealer::derive(secret, BODY_PURPOSE)),
        })
    }

    /// `{MAIL_LINK_BASE}/{page}?token={token}`.
    pub fn link(&self, page: &str, token: &str) -> String {
        format!(
            "{}/{page}?token={token}",
            self.config.link_base.trim_end_matches('/')
        )
    }

    /// Writes `mail` for `recipient` into the outbox, unless this address already got
    /// `MAIL_PER_ADDRESS_PER_HOUR` messages of the same kind in the last hour: then nothing is
    /// written and the answer is `false`. Call it inside the write transaction of the change that
    /// causes the message (the cap check and the insert are serialised per address there), and
    /// [`Mailer::wake`] after the commit.
    pub fn queue(
        &self,
        conn: &mut DbConn,
        recipient: &str,
        recipient_key: &str,
        mail: &Mail,
        now: NaiveDateTime,
    ) -> Result<bool, MailError> {
        let Some(rendered) = self.prepare(conn, recipient_key, mail, now)? else {
            return Ok(false);
        };
        let id = uuid::Uuid::now_v7().to_string();
        outbox::queue(
            conn,
            &NewMail {
                id: &id,
                kind: mail.kind(),
                recipient,
                recipient_key,
                subject: &rendered.subject,
                text_body: &self.bodies.seal(&id, rendered.text.as_bytes()),
                html_body: &self.bodies.seal(&id, rendered.html.as_bytes()),
                created_at: now,
                next_attempt_at: now,
            },
        )?;
        Ok(true)
    }

    /// Everything [`Mailer::queue`] does but the insert: for a request that must take as long
    /// whether or not it sends anything (a password reset for an unknown address).
    pub fn rehearse(
        &self,
        conn: &mut DbConn,
        recipient_key: &str,
        mail: &Mail,
        now: NaiveDateTime,
    ) -> Result<(), MailError> {
        self.prepare(conn, recipient_key, mail, now).map(|_| ())
    }

    /// The cap check (serialised per address) and the rendering; `None` when over the cap.
    fn prepare(
        &self,
        conn: &mut DbConn,
        recipient_key: &str,
        mail: &Mail,
        now: NaiveDateTime,
    ) -> Result<Option<Rendered>, MailError> {
        outbox::lock_recipient(conn, recipient_key)?;
        let hour_ago = now - chrono::Duration::hours(1);
        let recent = outbox::queued_since(conn, recipient_key, mail.kind(), hour_ago)?;
        if recent >= i64::from(self.config.per_address_per_hour) {
            log::info!(
                "mail not queued: {recent} {} messages to one address within the hour",
                mail.kind()
            );
            return Ok(None);
        }
        Ok(Some(mail.render()?))
    }

    /// Tells this instance's worker that a message is waiting (others find it at their next poll).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Opens the transport and starts the delivery worker on the current Tokio runtime.
    pub fn start_worker(&self, pool: Pool) -> Result<WorkerHandle, String> {
        let transport = transport::Transport::open(&self.config.transport)?;
        match &self.config.transport {
            TransportConfig::Smtp { .. } => log::info!("mail goes out by SMTP"),
            TransportConfig::File { dir } => {
                log::info!("mail is written to {} (MAIL_TRANSPORT=file)", dir.display());
            }
        }
        Ok(worker::spawn(
            pool,
            transport,
            self.config.clone(),
            self.from.clone(),
            self.wake.clone(),
            self.bodies.clone(),
        ))
    }
}

/// Parses a `MAIL_FROM` value (`Name <address>` or a bare address).
pub fn parse_from(value: &str) -> Result<Mailbox, String> {
    value
        .parse::<Mailbox>()
        .map_err(|err| format!("MAIL_FROM is not a valid mailbox ({err})"))
}
