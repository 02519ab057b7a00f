//! Redis for the several-instances tests: the machine's server (`TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`), and private `redis-server` processes a test may stop. Without Redis the
//! tests that need it are skipped with a message, unless `TEST_REQUIRE_REDIS` is set (CI sets it),
//! in which case they fail.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var_os("TEST_REQUIRE_REDIS").is_some()
}

fn skip<T>(what: &str) -> Option<T> {
    assert!(!required(), "TEST_REQUIRE_REDIS is set but {what}");
    eprintln!("SKIPPED: {what} (set TEST_REQUIRE_REDIS to make this a failure)");
    None
}

fn pings(host_port: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(host_port) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

/// The shared Redis's URL, or `None` (after saying so) when there is none.
pub fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let host_port = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if pings(&host_port) {
        Some(url)
    } else {
        skip(&format!("no Redis answers at {url}"))
    }
}

/// A key prefix no other test uses, so tests sharing one Redis do not share quotas.
pub fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::now_v7().simple())
}

/// A `redis-server` of this test's own, on a free port, stopped when dropped.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one, or `None` (after saying so) when `redis-server` is not installed.
    pub fn start() -> Option<PrivateRedis> {
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut redis = PrivateRedis { port, child: None };
        if redis.resume().is_err() {
            return skip("redis-server cannot be started");
        }
        Some(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): its sockets stay open and nothing answers, as when a host
    /// vanishes without closing its connections.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts it again on the same port, empty.
    pub fn resume(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pings(&format!("127.0.0.1:{}", self.port)) {
            if Instant::now() > deadline {
                return Err("redis-server did not answer".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.thaw();
        }
        self.stop();
    }
}
