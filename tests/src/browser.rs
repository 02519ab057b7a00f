//! Headless Chromium for the browser tests, driven over WebDriver (a `chromedriver` of each test's
//! own, through fantoccini). Without Chromium and chromedriver the tests say so and skip, unless
//! `TEST_REQUIRE_BROWSER` is set (as `.ci/run` does), which makes that a failure.
//!
//! `CHROMEDRIVER` and `CHROMIUM` name the binaries when they are not Debian's (`/usr/bin/chromedriver`,
//! `/usr/bin/chromium`). With `PORTCULLIS_SCREENSHOTS=docs/screenshots` the tests save their screenshots
//! there (paths relative to the repository).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

fn required() -> bool {
    std::env::var_os("TEST_REQUIRE_BROWSER").is_some()
}

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

/// One headless Chromium with a profile of its own, and the chromedriver that drives it.
pub struct Chrome {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// A new browser, or `None` (after saying so) when this machine has none.
    pub async fn start() -> Option<Chrome> {
        let (Some(driver), Some(chromium)) = (
            binary("CHROMEDRIVER", "/usr/bin/chromedriver"),
            binary("CHROMIUM", "/usr/bin/chromium"),
        ) else {
            assert!(
                !required(),
                "TEST_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
            );
            eprintln!(
                "SKIPPED: no chromium/chromedriver (apt-get install chromium chromium-driver; set TEST_REQUIRE_BROWSER to make this a failure)"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a profile folder");
        // No background traffic: this machine's network is closed, and nothing but the page under test
        // should be loaded. `--no-sandbox` because the tests may run as root.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Some(Chrome {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// Types `text` into the input `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("typing");
    }

    /// Clicks `css`, and waits for the page it loads.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks the submit button `css` and waits until the next page has replaced this one.
    pub async fn submit(&self, css: &str) {
        self.run("window.portcullisOldPage = true; return null").await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let old = self
                .client
                .execute("return window.portcullisOldPage === true", Vec::new())
                .await
                .map(|v| v == serde_json::Value::Bool(true))
                // While the next page loads, scripts may fail: that is not the old page either.
                .unwrap_or(false);
            if !old && self.client.find(Locator::Css("body")).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} led nowhere from {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sets the checkbox `css` to `on`.
    pub async fn check(&self, css: &str, on: bool) {
        let checkbox = self.find(css).await;
        let checked = checkbox
            .prop("checked")
            .await
            .expect("checked")
            .is_some_and(|v| v == "true");
        if checked != on {
            checkbox.click().await.expect("click");
        }
    }

    /// The element `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(err) => panic!("no {css} on {}: {err}\n{}", self.url().await, self.html().await),
        }
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The page's HTML as the browser has it.
    pub async fn html(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Runs `script` in the page (what a user's devtools could do) and answers what it returns.
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, Vec::new()).await.expect("script")
    }

    /// Resizes the window (375 px: a small phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("resize");
    }

    /// Saves a screenshot as `name`.png under `PORTCULLIS_SCREENSHOTS`, when it is set.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS") else {
            return;
        };
        // Relative to the repository, not to the test crate's folder cargo runs tests in.
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
