//! A real Chromium, headless, driven over WebDriver: a chromedriver of its own on a free
//! loopback port, one browser session per test, in the light or the dark scheme.

use crate::common::prelude::*;
use crate::common::process::{find_binary, kill_and_reap, spawn_listening};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::Child;
use std::time::Duration;

/// A browser session and the chromedriver behind it; both end when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// A fresh Chromium `width` pixels wide, `dark` or light, that may use the clipboard
    /// on `origin`.
    pub async fn start(width: u32, dark: bool, origin: &str) -> Self {
        Self::sized(width, 900, dark, origin).await
    }

    /// As [`Self::start`], `height` pixels high (a screenshot shows that much).
    ///
    /// A chromedriver that drops the new-session request (seen once in CI: a connection
    /// reset, under four browsers starting at once on two cores) is replaced by a fresh one
    /// on another port, up to three times; its own log explains the last failure.
    pub async fn sized(width: u32, height: u32, dark: bool, origin: &str) -> Self {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let log = tempfile::NamedTempFile::new().expect("a file for chromedriver's log");
            let port = free_port();
            let mut command = clean_command(binary("KURZ_TEST_CHROMEDRIVER", "chromedriver"));
            command
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.path().display()));
            let mut driver =
                spawn_listening(&mut command, "chromedriver", port, Duration::from_secs(20));
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let session = ClientBuilder::new(connector)
                .capabilities(capabilities(width, height, dark, origin))
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match session {
                Ok(client) => return Self { client, driver },
                Err(e) => {
                    kill_and_reap(&mut driver);
                    let said = std::fs::read_to_string(log.path()).unwrap_or_default();
                    let tail: Vec<&str> = said.lines().rev().take(20).collect();
                    eprintln!("chromedriver refused a session ({e}); starting another");
                    failures.push(format!(
                        "{e}\n  chromedriver's log ends:\n    {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n    ")
                    ));
                }
            }
        }
        panic!(
            "no Chromium session in three tries:\n{}",
            failures.join("\n")
        );
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigating");
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("finding elements")
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .expect("an element's text")
    }

    /// Types `value` into the field `css`, replacing what it held.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(value).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicking");
    }

    /// Clicks `css`, which loads another page (a link, a form's button), and waits until
    /// that page has loaded.
    pub async fn click_and_load(&self, css: &str) {
        self.run("window.kurzOldPage = true").await;
        self.click(css).await;
        crate::common::wait::eventually("the next page", Duration::from_secs(10), || async {
            let loaded = self
                .client
                .execute(
                    "return window.kurzOldPage === undefined && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await;
            match loaded {
                Ok(Value::Bool(true)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    /// Runs `script` in the page; what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("running a script")
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the page's address")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("the page's source")
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }

    /// Ends the session (a dropped browser kills its driver, which ends Chromium too).
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        kill_and_reap(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_and_reap(&mut self.driver);
    }
}

/// What Chromium is asked for: headless, `width` by `height`, `dark` or light, allowed the
/// clipboard on `origin`.
fn capabilities(
    width: u32,
    height: u32,
    dark: bool,
    origin: &str,
) -> serde_json::Map<String, Value> {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--hide-scrollbars".to_owned(),
        format!("--window-size={width},{height}"),
    ];
    if dark {
        args.push("--force-dark-mode".to_owned());
    }
    let mut options = json!({
        "binary": binary("KURZ_TEST_CHROME", "chromium"),
        "args": args,
        "prefs": {"profile.content_settings.exceptions.clipboard": {
            format!("{origin},*"): {"setting": 1}
        }},
    });
    // A window is never narrower than 500 pixels: a phone's width is emulated.
    if width < 500 {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    capabilities
}

/// The browser or its driver: where `variable` says (a machine with Google Chrome and its
/// own ChromeDriver, as hosted CI runners have), else Debian's `name` on the path.
fn binary(variable: &str, name: &str) -> std::path::PathBuf {
    std::env::var_os(variable)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| find_binary(name, &["/usr/bin"]))
}
