//! Every page at 1280 and 360 pixels wide, light and dark: a screenshot of each (written to
//! `KURZ_SCREENSHOTS`, or a temporary directory), the accessibility basics checked in the
//! rendered page, and the HTML of each page checked by the Nu HTML validator
//! (`vnu-jar` from the npm registry, which scripts/test installs under `target/`).

use crate::common::prelude::*;
use crate::driver::Browser;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Checks made in the page: every input, select and textarea that is not hidden has a
/// label (or an `aria-label`), the page has one `h1` and a language, it is not wider than
/// the window, and text, links, buttons and problems have a contrast of at least 4.5:1
/// against their background (WCAG AA).
const CHECKS: &str = r#"
const problems = [];
for (const field of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (field.id && document.querySelector(`label[for="${field.id}"]`)) || field.getAttribute('aria-label');
  if (!labelled) problems.push(`no label: ${field.outerHTML}`);
}
if (document.querySelectorAll('h1').length !== 1) problems.push('not one h1');
if (!document.documentElement.lang) problems.push('no lang');
if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push(`wider than the window: ${document.documentElement.scrollWidth}`);
const rgb = (text) => (text.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
const lum = (c) => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; if (!c.startsWith('rgba(0, 0, 0, 0') && c !== 'transparent') return rgb(c); } return [255, 255, 255]; };
for (const el of document.querySelectorAll('body, h1, p, a, button, label, td, th, dt, dd, small, .problem, summary')) {
  if (!el.textContent.trim() || el.offsetParent === null && el !== document.body) continue;
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.tagName} ${el.textContent.trim().slice(0, 40)}`);
}
return problems;
"#;

/// Where screenshots go: `KURZ_SCREENSHOTS` (docs/screenshots to refresh the committed
/// ones), else a directory that is removed afterwards.
fn screenshot_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var("KURZ_SCREENSHOTS") {
        Ok(dir) => (PathBuf::from(dir), None),
        Err(_) => {
            let temp = tempfile::TempDir::new().unwrap();
            (temp.path().to_path_buf(), Some(temp))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_is_accessible_valid_and_photographed_wide_and_narrow_light_and_dark() {
    // Published under a name, as in production (the screenshots show it).
    let app = spawn_app_with(|s| s.public_url = "http://ku.rz".parse().ok()).await;
    let url = app
        .create_url(&serde_json::json!({"original_url": "https://example.com/a/rather/long/path/to/show", "title": "Launch notes"}))
        .await;
    let id = id_of(&url);
    let code = str_of(&url, "short_code").to_owned();
    for agent in [
        crate::CHROME,
        crate::CHROME,
        crate::IPHONE,
        crate::GOOGLEBOT,
    ] {
        app.get_with_headers(&format!("/{code}"), &[("User-Agent", agent)])
            .await
            .expect(302);
    }
    for i in 0..6 {
        app.shorten(&format!("https://example.com/more/{i}")).await;
    }
    let report = app
        .request(reqwest::Method::POST, &format!("/urls/{code}/report"))
        .json(&serde_json::json!({"reason": "looks like phishing"}));
    app.send(report).await.expect(202);
    // The sign-in page is `keys` mode's.
    let keys = spawn_app_with(|s| s.security.auth = kurz::config::AuthMode::Keys).await;
    let pages = [
        ("shorten", app.url("/")),
        ("links", app.url("/links")),
        ("link", app.url(&format!("/links/{id}"))),
        ("delete", app.url(&format!("/links/{id}/delete"))),
        ("reports", app.url("/reports")),
        ("missing", app.url("/links/999999")),
        ("signin", keys.url("/signin")),
    ];
    let (dir, _temp) = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (width, dark) in [(1280, false), (1280, true), (360, false), (360, true)] {
        let browser = Browser::sized(width, 1400, dark, &app.url("")).await;
        let scheme = if dark { "dark" } else { "light" };
        for (name, path) in &pages {
            browser.goto(path).await;
            let problems = browser.run(CHECKS).await;
            assert_eq!(
                problems,
                Value::Array(Vec::new()),
                "{path} at {width} px, {scheme}"
            );
            let png = browser.screenshot().await;
            assert_eq!(&png[1..4], b"PNG");
            let shot_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
            assert_eq!(shot_width, width, "{name} at {width}");
            std::fs::write(dir.join(format!("{name}-{width}-{scheme}.png")), png).unwrap();
        }
        // The answer to a shorten, with its QR code.
        browser.goto(&app.url("/")).await;
        browser
            .fill("#original_url", "https://example.com/just/shortened")
            .await;
        browser
            .click_and_load("form.card button[type=submit]")
            .await;
        browser.find("#short-link").await;
        let problems = browser.run(CHECKS).await;
        assert_eq!(
            problems,
            Value::Array(Vec::new()),
            "the made link at {width} px, {scheme}"
        );
        std::fs::write(
            dir.join(format!("made-{width}-{scheme}.png")),
            browser.screenshot().await,
        )
        .unwrap();
        browser.close().await;
    }
    // The HTML of each page, as served, through the Nu validator.
    let html_dir = tempfile::TempDir::new().unwrap();
    let mut files = Vec::new();
    let client = client();
    for (name, path) in &pages {
        let page = client.get(path).send().await.unwrap().text().await.unwrap();
        let file = html_dir.path().join(format!("{name}.html"));
        std::fs::write(&file, &page).unwrap();
        files.push(file);
    }
    validate(&files);
}

/// Runs the Nu HTML validator over `files`; fails with its messages.
fn validate(files: &[PathBuf]) {
    let jar = repo().join("target/vnu/node_modules/vnu-jar/build/dist/vnu.jar");
    assert!(
        Path::new(&jar).exists(),
        "the Nu validator is not installed (scripts/test installs it)"
    );
    let output = std::process::Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "text"])
        .args(files)
        .output()
        .expect("running java");
    let messages = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the pages' HTML is not valid:\n{messages}"
    );
}
