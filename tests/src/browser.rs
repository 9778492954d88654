//! A headless Chromium for the browser tests, driven over WebDriver with fantoccini.
//!
//! The test starts ChromeDriver itself ([`ChromeDriver::start`]: on a port the driver picks and
//! announces, killed with every browser it started when the test ends) and opens each browser
//! with a fresh profile in a temporary folder, so no cookie, cache or setting passes from one
//! browser or run to the next. Chromium resolves no host name (the server is at 127.0.0.1) and
//! runs none of its background services (updates, sync, safe-browsing lists), so a test never
//! leaves the machine. A missing browser or driver fails the test and names the Debian
//! packages: a skipped browser test would let CI pass without having run it.
//!
//! A [`Flow`] runs a test's steps against one server. After each step it reads the browser's
//! console through ChromeDriver and fails on any error (a page that breaks its Content Security
//! Policy logs one, so does a script that throws), fails when the server has logged a CSP
//! violation report, and saves a screenshot named after the step under `target/e2e/<flow>/`. A
//! step that fails saves its screenshot, its HTML and the server's output there as well, and its
//! panic names the step.

use std::any::Any;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::actions::{KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::{RunningServer, target_dir};

pub use fantoccini::key::Key;

/// What to install when the browser or its driver is missing.
const PACKAGES: &str = "Debian's `chromium` and `chromium-driver` packages (`apt-get install \
                        chromium chromium-driver`; .ci/run installs them when they are missing)";

/// Upper bound on waiting for the driver, a page or a navigation: only a guard against hanging,
/// never a measure of speed.
const GUARD: Duration = Duration::from_secs(30);

/// What the server logs for each CSP violation report it receives.
const CSP_REPORT_LINE: &str = "csp violation";

/// `name` on `PATH`, or a failed test that says what to install.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: the browser tests need {PACKAGES}"))
}

/// A ChromeDriver process of this test; it and every browser it started are killed on drop.
pub struct ChromeDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl ChromeDriver {
    /// Starts `chromedriver` with its log in `log` and waits until it says on which port it
    /// listens (it picks a free one: `--port=0`, so two tests never race for one).
    pub fn start(log: &Path) -> Self {
        let driver = program("chromedriver");
        let chromium = program("chromium");
        let mut command = Command::new(&driver);
        command
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // A process group of its own, which the browsers it starts join: dropping the driver
        // ends them too, also when a failed test never closed its sessions.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child =
            command.spawn().unwrap_or_else(|e| panic!("{} does not start: {e}", driver.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so that the driver never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        let port = loop {
            let Ok(line) = lines.recv_timeout(GUARD) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver announced no port; it printed:\n{}", seen.join("\n"))
            };
            // "ChromeDriver was started successfully on port 41731."
            let port = line
                .split_once("started successfully on port ")
                .map(|(_, rest)| rest.trim_end_matches('.').to_owned());
            seen.push(line);
            if let Some(port) = port {
                break port;
            }
        };
        Self { child, url: format!("http://127.0.0.1:{port}"), chromium }
    }

    /// Opens a headless Chromium with a fresh profile, showing pages at `viewport`.
    pub async fn open(&self, viewport: Viewport) -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        let window = match viewport {
            Viewport::Desktop => "--window-size=1024,768",
            // Headless windows are at least 500 px wide: a phone's screen is emulated below.
            Viewport::Phone => "--window-size=500,640",
        };
        let mut args: Vec<String> = [
            "--headless=new",
            // CI runs as root, where Chromium's sandbox cannot start; the pages are our own.
            "--no-sandbox",
            "--disable-gpu",
            // Containers often give /dev/shm 64 MiB, which Chromium outgrows.
            "--disable-dev-shm-usage",
            // No name resolves: the server is at 127.0.0.1, and nothing else may be reached.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            // No desktop keyring to ask for the profile's passwords.
            "--password-store=basic",
            // CSP reports sent through the Reporting API (`report-to`) go out at once, not a
            // minute later, while the test still watches the server's log. Chromium sends
            // those from HTTPS pages only: from these plain-HTTP ones only `report-uri` reports
            // arrive, and none when the policy also names a `report-to` endpoint.
            "--short-reporting-delay",
        ]
        .map(str::to_owned)
        .into();
        args.push(window.to_owned());
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "binary": self.chromium, "args": args });
        if let Viewport::Phone = viewport {
            // As on a phone, the page is laid out at the width its viewport tag asks for.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 320, "height": 640, "pixelRatio": 1, "mobile": true }
            });
        }
        let capabilities: Capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            // Keeps every console message for `console_errors` to read.
            "goog:loggingPrefs": { "browser": "ALL" },
        })
        .as_object()
        .cloned()
        .expect("an object");
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!("ChromeDriver could not start {}: {e}", self.chromium.display())
            });
        Browser { client, _profile: profile }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // The whole group: the driver and the browsers it started (see `start`). `--`, or
            // the negative id would be read as an option.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The size of the screen a browser shows pages on.
#[derive(Clone, Copy, Debug)]
pub enum Viewport {
    /// A 1024 × 768 window.
    Desktop,
    /// A phone's screen, 320 px wide.
    Phone,
}

/// ChromeDriver's command for the browser's console log (`POST /session/{id}/se/log`, the
/// Selenium log endpoint; the legacy `GET /log` is refused in W3C mode). Each call returns the
/// entries logged since the last one.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The element that has the keyboard focus, as a test checks it.
#[derive(Debug)]
pub struct Focus {
    /// Its tag, `name`, `id` or text, for messages and to find it.
    pub description: String,
    /// Its `name` attribute, if any.
    pub name: Option<String>,
    /// Whether any of it lies on the screen (not hidden, not scrolled away).
    pub on_screen: bool,
    /// Whether it shows that it has the focus (an outline or a shadow).
    pub indicated: bool,
}

/// One headless Chromium with its own profile (deleted after it).
pub struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// The WebDriver client, for what these helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    }

    /// The address of the page shown.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("the current address")
    }

    /// The path of the page shown, with its query if it has one.
    pub async fn path(&self) -> String {
        let url = self.url().await;
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The elements that match `css`.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("`{css}`: {e}"))
    }

    /// The element that matches `css`; a failed test that names the page when there is none.
    pub async fn find(&self, css: &str) -> Element {
        let mut found = self.find_all(css).await;
        if found.is_empty() {
            panic!("no element matches `{css}` on {}", self.url().await);
        }
        found.swap_remove(0)
    }

    /// Whether an element matches `css`.
    pub async fn has(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The visible text of the element that matches `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of `{css}`: {e}"))
    }

    /// Types `value` into the field that matches `css`, as a user would, after emptying it.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear `{css}`: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Clicks the submit button of the form that matches `form` and waits for the page it
    /// leads to.
    pub async fn submit(&self, form: &str) {
        let button = self.find(&format!("{form} button[type=submit]")).await;
        self.click_and_wait(&button).await;
    }

    /// Clicks `element` and waits until a new document has loaded: the form posts of these
    /// pages all end in a redirect (post/redirect/get) or a page of their own.
    pub async fn click_and_wait(&self, element: &Element) {
        self.leaving(async {
            element.click().await.unwrap_or_else(|e| panic!("click: {e}"));
        })
        .await;
    }

    /// Runs `action`, which navigates, and waits until the next document has loaded.
    pub async fn leaving(&self, action: impl Future<Output = ()>) {
        // A mark on the current document's window, which the next document does not have.
        self.client
            .execute("window.e2eLeaving = true", vec![])
            .await
            .expect("mark the document being left");
        action.await;
        let deadline = Instant::now() + GUARD;
        loop {
            // While the next document loads, scripts may fail to run: not loaded yet.
            let loaded = self
                .client
                .execute(
                    "return document.readyState === 'complete' && window.e2eLeaving !== true",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if loaded {
                return;
            }
            assert!(Instant::now() < deadline, "no new page loaded within {GUARD:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the browser shows `path` (after redirects that scripts or the server make).
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + GUARD;
        loop {
            let now = self.url().await;
            if now.path() == path {
                return;
            }
            assert!(Instant::now() < deadline, "expected {path}, the browser shows {now}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses and releases `key` (a character, or a [`Key`] converted with `char::from`),
    /// sent to whatever has the focus, as a keyboard does.
    pub async fn press(&self, key: char) {
        self.keys(&key.to_string()).await;
    }

    /// Types `text` into whatever has the focus, one key at a time.
    pub async fn keys(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for key in text.chars() {
            actions =
                fantoccini::actions::InputSource::then(actions, KeyAction::Down { value: key });
            actions = fantoccini::actions::InputSource::then(actions, KeyAction::Up { value: key });
        }
        self.client.perform_actions(actions).await.unwrap_or_else(|e| panic!("keys: {e}"));
    }

    /// The element that has the keyboard focus.
    pub async fn focused(&self) -> Focus {
        let script = "
            const e = document.activeElement;
            const r = e.getBoundingClientRect();
            const s = getComputedStyle(e);
            const label = e.getAttribute('name') || e.id || (e.textContent || '').trim().slice(0, 40);
            return {
                description: `<${e.tagName.toLowerCase()}> ${label}`,
                name: e.getAttribute('name'),
                on_screen: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
                    && r.top < innerHeight && r.left < innerWidth && s.visibility !== 'hidden',
                indicated: (s.outlineStyle !== 'none' && s.outlineWidth !== '0px')
                    || s.boxShadow !== 'none',
            };";
        let value = self.client.execute(script, vec![]).await.expect("read the focus");
        Focus {
            description: value["description"].as_str().unwrap_or_default().to_owned(),
            name: value["name"].as_str().map(str::to_owned),
            on_screen: value["on_screen"].as_bool().unwrap_or(false),
            indicated: value["indicated"].as_bool().unwrap_or(false),
        }
    }

    /// The console messages of level SEVERE (errors, CSP violations, failed loads) logged
    /// since the last call, as ChromeDriver reports them.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.expect("read the browser's log");
        entries
            .as_array()
            .expect("a list of log entries")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Saves a screenshot of the page as PNG.
    pub async fn screenshot(&self, file: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(file, png).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }

    /// Saves what a failed step left on the screen: a screenshot and the HTML, best effort.
    async fn save_failure(&self, prefix: &Path) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(prefix.with_extension("png"), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(prefix.with_extension("html"), html);
        }
    }

    /// Ends the WebDriver session, which closes the browser.
    pub async fn close(&self) {
        let _ = self.client.clone().close().await;
    }
}

/// A browser test's steps against one server, with their checks and screenshots.
pub struct Flow {
    server: RunningServer,
    dir: PathBuf,
    steps: u32,
}

impl Flow {
    /// Starts the flow `name` against `server`: its screenshots go to `target/e2e/<name>/`,
    /// emptied first so that no picture of an earlier run is mistaken for this one's.
    pub fn new(name: &str, server: RunningServer) -> Self {
        let dir = target_dir().join("e2e").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Self { server, dir, steps: 0 }
    }

    /// The folder of this flow's screenshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's address, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The server under test.
    pub fn server(&mut self) -> &mut RunningServer {
        &mut self.server
    }

    /// Runs the step `name` in `browser`: `work` does what a user does and asserts what they
    /// see; then the console must hold no error and the server no CSP report, and the page is
    /// saved as `NN-name.png`. A failure anywhere in it saves `NN-name-failed.png`, `.html` and
    /// `.log` (the server's output) and fails the test naming the step.
    pub async fn step<T>(
        &mut self,
        name: &str,
        browser: &Browser,
        work: impl Future<Output = T>,
    ) -> T {
        self.step_allowing(name, browser, &[], work).await
    }

    /// [`Flow::step`] whose page may log console errors that contain one of `expected` (the
    /// browser logs an error status of the page itself, such as a 403, as a console error).
    pub async fn step_allowing<T>(
        &mut self,
        name: &str,
        browser: &Browser,
        expected: &[&str],
        work: impl Future<Output = T>,
    ) -> T {
        self.steps += 1;
        let label = format!("{:02}-{name}", self.steps);
        let picture = self.dir.join(format!("{label}.png"));
        let server = &mut self.server;
        let checked = async {
            let value = work.await;
            let unexpected: Vec<String> = browser
                .console_errors()
                .await
                .into_iter()
                .filter(|message| !expected.iter().any(|e| message.contains(e)))
                .collect();
            assert!(
                unexpected.is_empty(),
                "the console has errors on {}:\n{}",
                browser.url().await,
                unexpected.join("\n")
            );
            csp_reports_absent(server);
            browser.screenshot(&picture).await;
            value
        };
        match AssertUnwindSafe(checked).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                let prefix = self.dir.join(format!("{label}-failed"));
                browser.save_failure(&prefix).await;
                let _ =
                    std::fs::write(prefix.with_extension("log"), self.server.output().join("\n"));
                let server = match self.server.exit_status() {
                    Some(status) => format!("; the server has exited ({status})"),
                    None => String::new(),
                };
                panic!(
                    "step {label} failed: {}\n(screenshot, HTML and the server's log: {}.png, \
                     .html and .log{server})",
                    panic_message(panic.as_ref()),
                    prefix.display()
                )
            }
        }
    }

    /// The last check: no CSP report reached the server after the last step either. Reports
    /// travel on their own after the page, so they get a moment (Chromium sends them at once
    /// with `--short-reporting-delay`).
    pub async fn finish(mut self) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        csp_reports_absent(&mut self.server);
    }
}

/// Fails when the server has logged a CSP violation report.
fn csp_reports_absent(server: &mut RunningServer) {
    let reports: Vec<&String> =
        server.output().iter().filter(|line| line.contains(CSP_REPORT_LINE)).collect();
    assert!(reports.is_empty(), "the server received CSP violation reports:\n{reports:#?}");
}

/// The text of a panic, for the message of a failed step and for tests that catch one.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(a panic without a message)".to_owned())
}
