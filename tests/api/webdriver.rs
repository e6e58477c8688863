//! A small W3C WebDriver client over reqwest, enough to drive Debian's headless
//! Chromium through `chromedriver`: open pages, find elements, type, click, read the
//! DOM, collect the browser's console log and take screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromium and chromedriver, installed by scripts/ensure-chromium.sh when missing (once
/// per run). A browser that cannot be had is a failure, never a skip.
pub fn chromium() -> (PathBuf, PathBuf) {
    static FOUND: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-chromium.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running {}: {e}", script.display()))?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            match (output.status.success(), lines.next(), lines.next()) {
                (true, Some(browser), Some(driver)) => {
                    Ok((PathBuf::from(browser), PathBuf::from(driver)))
                }
                _ => Err(format!(
                    "chromium and chromedriver are missing and {} could not install them",
                    script.display()
                )),
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A running chromedriver on a free loopback port; killed when dropped.
pub struct Driver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Driver {
    pub async fn start() -> Self {
        let (_, driver) = chromium();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            let ready = driver
                .client
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(body) = ready {
                if body.await.is_ok_and(|b| b["value"]["ready"] == true) {
                    return driver;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless browser with a fresh profile; `javascript` off blocks every script.
    pub async fn browser(&self, javascript: bool, downloads: &Path) -> Browser {
        let (chromium, _) = chromium();
        let profile = tempfile::tempdir().expect("profile dir");
        let mut prefs = json!({
            "download.default_directory": downloads.to_string_lossy(),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
        });
        if !javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1000,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": prefs,
            },
        }}});
        let answer = self
            .client
            .post(format!("{}/session", self.base))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json::<Value>()
            .await
            .expect("json");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        let browser = Browser {
            url: format!("{}/session/{id}", self.base),
            client: self.client.clone(),
            _profile: profile,
        };
        // Headless Chromium asks for downloads to be allowed through DevTools.
        browser
            .command(
                "POST",
                "/goog/cdp/execute",
                json!({"cmd": "Browser.setDownloadBehavior", "params": {
                    "behavior": "allow", "downloadPath": downloads.to_string_lossy()}}),
            )
            .await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    url: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let answer: Value = request
            .send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("webdriver json");
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        let answer = self.command("POST", "/url", json!({"url": url})).await;
        assert!(answer.is_null(), "navigation failed: {answer}");
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let answer = self
            .command(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        let found = answer[ELEMENT].as_str().map(str::to_owned);
        if found.is_none() && answer["error"] != "no such element" {
            eprintln!("finding `{css}`: {answer}");
        }
        found
    }

    /// Waits up to `seconds` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, seconds: u64) -> String {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "no `{css}` after {seconds} s in:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, element: &str) {
        let answer = self
            .command("POST", &format!("/element/{element}/click"), json!({}))
            .await;
        assert!(answer.is_null(), "click failed: {answer}");
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.command("POST", &format!("/element/{element}/clear"), json!({}))
            .await;
        let answer = self
            .command(
                "POST",
                &format!("/element/{element}/value"),
                json!({"text": text}),
            )
            .await;
        assert!(answer.is_null(), "typing failed: {answer}");
    }

    pub async fn text(&self, element: &str) -> String {
        self.command("GET", &format!("/element/{element}/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.command(
            "GET",
            &format!("/element/{element}/attribute/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// The DOM as it is now, serialised.
    pub async fn source(&self) -> String {
        self.command("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn current_url(&self) -> String {
        self.command("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The browser's cookies, as `name=value; …`.
    pub async fn cookie_header(&self) -> String {
        let cookies = self.command("GET", "/cookie", Value::Null).await;
        cookies
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap_or(""),
                    c["value"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Console messages since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<Value> {
        self.command("POST", "/se/log", json!({"type": "browser"}))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the window.
    pub async fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let data = self.command("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("screenshot data"))
            .expect("base64");
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("screenshot folder");
        std::fs::write(to, png).expect("writing the screenshot");
    }

    pub async fn quit(self) {
        self.command("DELETE", "", Value::Null).await;
    }
}
