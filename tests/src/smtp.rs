//! A small SMTP server for the tests: it speaks enough of RFC 5321 for lettre (EHLO, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps every message it accepts, and can be stopped
//! and started again on the same port (a mail server outage).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// `Subject`.
    pub subject: String,
    /// `Message-ID`.
    pub message_id: String,
    /// The decoded text/plain part.
    pub text: String,
    /// The decoded text/html part.
    pub html: String,
    /// The message as sent.
    pub raw: String,
}

impl ReceivedMail {
    /// The token of the first link to `{base}/{page}?token=…` in the text part; panics without one.
    pub fn token(&self, page: &str) -> String {
        let needle = format!("/{page}?token=");
        let start = self
            .text
            .find(&needle)
            .unwrap_or_else(|| panic!("no {page} link in the mail:\n{}", self.text))
            + needle.len();
        self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// The sink: a port, the messages received so far, and the listener task while it runs.
pub struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    /// Connections accepted so far (a sender that connected has started on a message).
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// How long the sink takes to accept a message after its data (a slow server).
    delay: Duration,
}

impl SmtpSink {
    /// A sink listening on a free port.
    pub async fn start() -> SmtpSink {
        let mut sink = SmtpSink::stopped().await;
        sink.resume().await;
        sink
    }

    /// A sink that owns a free port but does not listen yet: connections are refused, as by a mail
    /// server that is down, until [`SmtpSink::resume`].
    pub async fn stopped() -> SmtpSink {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("free port");
        let port = probe.local_addr().expect("port").port();
        drop(probe);
        SmtpSink {
            port,
            received: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::default(),
            task: None,
            delay: Duration::ZERO,
        }
    }

    /// A listening sink that takes `delay` to accept each message (the message counts as received
    /// only once accepted).
    pub async fn slow(delay: Duration) -> SmtpSink {
        let mut sink = SmtpSink::stopped().await;
        sink.delay = delay;
        sink.resume().await;
        sink
    }

    /// Starts listening (again) on the sink's port.
    pub async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the sink's port is free again");
        let (received, delay) = (self.received.clone(), self.delay);
        let connections = self.connections.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(serve(stream, received.clone(), delay));
            }
        }));
    }

    /// Stops listening; connections are refused from now on.
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// `SMTP_URL` for the server under test (no TLS: loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many connections the sink accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("sink lock").clone()
    }

    /// The messages received so far for `to`.
    pub fn to(&self, to: &str) -> Vec<ReceivedMail> {
        self.all()
            .into_iter()
            .filter(|mail| mail.to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (up to 10 s) until `count` messages for `to` arrived, and returns them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<ReceivedMail> {
        self.wait_until(Duration::from_secs(10), || self.to(to).len() >= count)
            .await
            .unwrap_or_else(|| panic!("{count} mails for {to} did not arrive: {:#?}", self.all()));
        self.to(to)
    }

    /// The one mail for `to` whose subject is `subject`, waiting for it (up to 10 s).
    pub async fn mail(&self, to: &str, subject: &str) -> ReceivedMail {
        let find = || self.to(to).into_iter().rev().find(|mail| mail.subject == subject);
        self.wait_until(Duration::from_secs(10), || find().is_some())
            .await
            .unwrap_or_else(|| panic!("no mail {subject:?} for {to}: {:#?}", self.all()));
        find().expect("found above")
    }

    /// Polls `done` every 20 ms until it holds or `limit` passed.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn() -> bool) -> Option<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if done() {
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done().then_some(())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(stream: TcpStream, received: Arc<Mutex<Vec<ReceivedMail>>>, delay: Duration) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply = |text: &str| format!("{text}\r\n").into_bytes();
    if write.write_all(&reply("220 sink ESMTP")).await.is_err() {
        return;
    }
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer: &'static str = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250 sink"
        } else if command.starts_with("MAIL FROM:") {
            recipients.clear();
            "250 OK"
        } else if command.starts_with("RCPT TO:") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            recipients.push(address);
            "250 OK"
        } else if command == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut raw = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            tokio::time::sleep(delay).await;
            received
                .lock()
                .expect("sink lock")
                .push(parse(std::mem::take(&mut recipients), raw));
            "250 OK queued"
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 OK"
        };
        if write.write_all(&reply(answer)).await.is_err() {
            return;
        }
    }
}

fn parse(to: Vec<String>, raw: String) -> ReceivedMail {
    let parsed = mailparse::parse_mail(raw.as_bytes()).expect("a MIME message");
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    let part = |mime: &str| {
        parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .map(|p| p.get_body().expect("decodable part"))
            .unwrap_or_default()
    };
    ReceivedMail {
        subject: header("Subject"),
        message_id: header("Message-ID"),
        text: part("text/plain"),
        html: part("text/html"),
        to,
        raw,
    }
}
