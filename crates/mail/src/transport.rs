//! Where messages go: an SMTP server (lettre over rustls: plain, STARTTLS or implicit TLS, from
//! `SMTP_URL`) or, in development, `.eml` files in a folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_db::outbox::OutboxMail;

/// How long one SMTP conversation may take; the lease on a message is much longer, so a slow
/// server cannot make two workers hold one message.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The configured transport, before it is opened.
#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// `MAIL_TRANSPORT=smtp` with `SMTP_URL` (lettre's URL form).
    Smtp {
        /// The URL, which may hold a password: never logged.
        url: String,
    },
    /// `MAIL_TRANSPORT=file`: one `.eml` file per message in this folder.
    File {
        /// `DATA_DIR/mail`.
        dir: PathBuf,
    },
}

impl TransportConfig {
    /// Checks an `SMTP_URL` without connecting: scheme, host, port and `tls` parameter.
    pub fn check_smtp_url(url: &str) -> Result<(), String> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(|_| ())
            .map_err(|err| format!("SMTP_URL is not a valid SMTP URL ({err})"))
    }
}

/// An opened transport.
pub(crate) enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        host: String,
    },
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug)]
pub(crate) struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl Transport {
    pub(crate) fn open(config: &TransportConfig) -> Result<Transport, String> {
        match config {
            TransportConfig::Smtp { url } => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| format!("SMTP_URL: {err}"))?;
                let transport = builder.timeout(Some(SMTP_TIMEOUT)).build();
                Ok(Transport::Smtp {
                    transport,
                    host: smtp_host(url),
                })
            }
            TransportConfig::File { dir } => {
                create_private_dir(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
                Ok(Transport::File {
                    transport: AsyncFileTransport::<Tokio1Executor>::new(dir),
                    dir: dir.clone(),
                })
            }
        }
    }

    /// Sends one message; on success, says where it went (for the log: never the body).
    pub(crate) async fn send(&self, from: &Mailbox, mail: &OutboxMail) -> Result<String, SendError> {
        let message = build(from, mail).map_err(|message| SendError {
            message,
            permanent: true,
        })?;
        match self {
            Transport::Smtp { transport, host } => match transport.send(message).await {
                Ok(_) => Ok(format!("SMTP server {host}")),
                Err(err) => Err(SendError {
                    permanent: err.is_permanent(),
                    message: format!("SMTP: {err}"),
                }),
            },
            Transport::File { transport, dir } => match transport.send(message).await {
                Ok(id) => Ok(dir.join(format!("{id}.eml")).display().to_string()),
                Err(err) => Err(SendError {
                    permanent: false,
                    message: format!("file transport: {err}"),
                }),
            },
        }
    }
}

fn build(from: &Mailbox, mail: &OutboxMail) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|err| format!("recipient address refused: {err}"))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.text_body.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.html_body.clone()),
                ),
        )
        .map_err(|err| format!("message not built: {err}"))
}

/// The host and port of an SMTP URL, for log lines (the URL may carry credentials).
fn smtp_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?']).next().unwrap_or_default().to_owned()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_host_never_carries_credentials() {
        assert_eq!(
            smtp_host("smtp://user:secret@mail.example.com:587?tls=required"),
            "mail.example.com:587"
        );
        assert_eq!(smtp_host("smtps://mail.example.com"), "mail.example.com");
        assert_eq!(smtp_host("smtp://127.0.0.1:1025"), "127.0.0.1:1025");
    }

    #[test]
    fn smtp_urls_are_checked_without_connecting() {
        assert!(TransportConfig::check_smtp_url("smtp://127.0.0.1:1025").is_ok());
        assert!(TransportConfig::check_smtp_url("smtps://user:pass@mail.example.com").is_ok());
        assert!(TransportConfig::check_smtp_url("smtp://mail.example.com:587?tls=required").is_ok());
        assert!(TransportConfig::check_smtp_url("http://mail.example.com").is_err());
    }
}
