//! A real browser for the hub's pages: Debian's `chromium`, headless, driven by Debian's
//! `chromedriver` over the W3C WebDriver protocol (plain JSON over HTTP on loopback). Only the
//! handful of commands the tests use are here: open a page, find an element, click, type,
//! press a key, run a script, take a screenshot.
//!
//! Calls are blocking (each runs on a small runtime of its own), like the rest of the harness.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::{json, Value};

use super::child::die_with_parent;
use super::devices::KillOnDrop;
use super::wait::wait_for;

/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver`.
pub struct ChromeDriver {
    _process: KillOnDrop,
    url: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// One browser (its own profile: its own cookies).
pub struct Browser<'a> {
    driver: &'a ChromeDriver,
    session: String,
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port, logging to `dir/chromedriver.log`.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        std::fs::create_dir_all(dir)?;
        let log = std::fs::File::create(dir.join("chromedriver.log"))?;
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log);
        let process = die_with_parent(&mut cmd)
            .spawn()
            .context("run chromedriver (scripts/install-deps.sh installs chromium-driver)")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let driver = Self {
            _process: KillOnDrop(process),
            url: format!("http://127.0.0.1:{port}"),
            runtime,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        };
        wait_for(Duration::from_secs(20), "chromedriver to listen", || {
            Ok(driver.call("GET", "/status", None).ok())
        })?;
        Ok(driver)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        self.runtime.block_on(async {
            let request = match method {
                "GET" => self.http.get(&url),
                "DELETE" => self.http.delete(&url),
                _ => self
                    .http
                    .post(&url)
                    .json(&body.unwrap_or_else(|| json!({}))),
            };
            let response = request.send().await?;
            let status = response.status();
            let value: Value = response.json().await?;
            if !status.is_success() {
                bail!("WebDriver {method} {path}: {status}: {}", value["value"]);
            }
            Ok(value["value"].clone())
        })
    }

    /// A new headless browser with its profile in `profile`, trusting the page certificate
    /// whose public key has the base64 SHA-256 `spki_pin`, allowed to play sound unprompted
    /// (as a hall TV is set up).
    pub fn browser(&self, profile: &Path, spki_pin: &str) -> anyhow::Result<Browser<'_>> {
        std::fs::create_dir_all(profile)?;
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--window-size=1280,900".into(),
            "--lang=vi".into(),
            format!("--ignore-certificate-errors-spki-list={spki_pin}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let value = self.call(
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
            }}})),
        )?;
        let session = value["sessionId"]
            .as_str()
            .context("no sessionId in the answer")?
            .to_owned();
        Ok(Browser {
            driver: self,
            session,
        })
    }
}

impl Browser<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.driver
            .call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// The element matching the CSS selector, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> anyhow::Result<String> {
        wait_for(Duration::from_secs(10), &format!("element {css}"), || {
            Ok(self
                .call(
                    "POST",
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .ok()
                .and_then(|v| v[ELEMENT].as_str().map(str::to_owned)))
        })
    }

    /// One attempt at finding `css`, with WebDriver's own error.
    pub fn find_once(&self, css: &str) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.call("POST", &format!("/element/{id}/click"), None)
            .map(drop)
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// Presses and releases one key on the page (a keyboard shortcut).
    pub fn press(&self, key: &str) -> anyhow::Result<()> {
        self.call(
            "POST",
            "/actions",
            Some(
                json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                    { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key },
                ]}]}),
            ),
        )
        .map(drop)
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Runs an async `script` whose last argument is the callback to call with the result.
    pub fn run_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The text of the element matching `css`.
    pub fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.find(css)?;
        Ok(self
            .call("GET", &format!("/element/{id}/text"), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The page's current address.
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call("GET", "/url", None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A PNG of the window, written to `path`.
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let b64 = self.call("GET", "/screenshot", None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().context("no screenshot")?)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
    }
}
