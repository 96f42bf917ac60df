//! The web UI in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver, against kurz on a loopback port. A person shortens a link and follows it,
//! copies it, finds it in the list (search, filter, pages), edits it and sees the redirect
//! change, switches it off and sees 404, deletes it; signs in and out in `keys` mode, where
//! a read key is offered no control that writes and a forged form is refused; the link
//! page's numbers equal the stats API's. Then every page at 1280 and 360 pixels wide, in
//! the light and the dark scheme: screenshots, and the accessibility basics checked in the
//! page (labels, one h1, a language, contrast), and the HTML checked by the Nu validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod driver;
mod quality;

use common::pages::Visitor;
use common::prelude::*;
use common::visits::{CHROME, GOOGLEBOT, IPHONE};
use driver::Browser;
use kurz::config::AuthMode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_shortens_follows_copies_finds_edits_switches_off_and_deletes_a_link() {
    let app = spawn_app().await;
    // Where the links lead: another kurz, so following one stays on this machine.
    let elsewhere = spawn_app().await;
    let target = elsewhere.url("/health");
    let browser = Browser::start(1280, false, &app.url("")).await;

    browser.goto(&app.url("/")).await;
    browser.fill("#original_url", &target).await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    let short = browser
        .find("#short-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let code = short.rsplit('/').next().unwrap().to_owned();
    browser.click("button[data-copy]").await;
    eventually(
        "the copy button saying so",
        std::time::Duration::from_secs(5),
        || async {
            match browser.text(".made .copied").await.as_str() {
                "Copied" => Ok(()),
                other => Err(other.to_owned()),
            }
        },
    )
    .await;
    let copied = browser
        .client
        .execute_async(
            "navigator.clipboard.readText().then(arguments[0])",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(copied, json!(short), "the clipboard holds the short link");
    browser.goto(&short).await;
    assert_eq!(
        browser.url().await,
        target,
        "the short link led to its target"
    );
    assert!(browser.source().await.contains("\"status\""));

    // Found in the list among others, on its page, by search and by filter.
    for i in 0..24 {
        app.shorten(&format!("https://example.com/other/{i}")).await;
    }
    browser.goto(&app.url("/links")).await;
    assert!(browser.text("p.count").await.starts_with("25 links"));
    assert_eq!(browser.all("tbody tr").await.len(), 20);
    browser.click_and_load("a[rel=next]").await;
    assert_eq!(browser.all("tbody tr").await.len(), 5);
    browser.fill("#q", &code).await;
    browser.click_and_load("form.search button").await;
    assert_eq!(browser.all("tbody tr").await.len(), 1);

    // Switched off from the list: 404 at once; the filter shows it among the switched off.
    browser.click_and_load("td.actions button").await;
    assert_eq!(app.follow(&code).await.0, 404);
    browser.goto(&app.url("/links")).await;
    browser
        .find("#state")
        .await
        .select_by_value("inactive")
        .await
        .unwrap();
    browser.click_and_load("form.search button").await;
    assert_eq!(browser.text("tbody tr td a").await, code);

    // Edited on its page: switched on with a new target, which the next visit gets.
    browser.click_and_load("tbody tr td a").await;
    let changed = elsewhere.url("/ready");
    browser.fill("#original_url", &changed).await;
    browser.click("#is_active").await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    assert_eq!(browser.text("p.notice").await, "Saved.");
    assert_eq!(app.follow(&code).await, (302, Some(changed)));

    // Deleted after its confirmation.
    browser.goto(&app.url("/links")).await;
    browser.fill("#q", &code).await;
    browser.click_and_load("form.search button").await;
    browser.click_and_load("td.actions a.danger").await;
    assert!(browser.text("h1").await.starts_with("Delete this link"));
    browser.click_and_load("main form button.danger").await;
    assert_eq!(app.follow(&code).await.0, 404);
    assert!(browser.url().await.ends_with("/links"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_keys_mode_a_person_signs_in_and_out_and_a_read_key_sees_no_write_controls() {
    let app = spawn_app_with(|settings| settings.security.auth = AuthMode::Keys).await;
    let mint = |scope: &str| {
        let mut command = kurz_command_on(app.data_path());
        command.args(["keys", "create", "--name", "browser", "--scope", scope]);
        kurz_ok(&mut command).trim().to_owned()
    };
    let (admin, reader) = (mint("admin"), mint("read"));
    let browser = Browser::start(1280, false, &app.url("")).await;
    browser.goto(&app.url("/links")).await;
    assert!(browser.url().await.ends_with("/signin"));
    browser.fill("#key", &admin).await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    assert!(browser.url().await.ends_with("/links"));
    browser.goto(&app.url("/")).await;
    browser
        .fill("#original_url", "https://example.com/signed-in")
        .await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    browser.find("#short-link").await;

    // A form whose token is not this browser's is refused, and changes nothing.
    browser.goto(&app.url("/")).await;
    browser
        .run("document.querySelector('form.card input[name=csrf]').value = '0'.repeat(64)")
        .await;
    browser
        .fill("#original_url", "https://example.com/forged")
        .await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    assert_eq!(browser.text("h1").await, "Form expired");
    browser.click_and_load("nav form button").await;
    assert!(browser.url().await.ends_with("/signin"));
    browser.goto(&app.url("/links")).await;
    assert!(browser.url().await.ends_with("/signin"), "signed out");

    browser.fill("#key", &reader).await;
    browser
        .click_and_load("form.card button[type=submit]")
        .await;
    assert_eq!(browser.text("p.count").await, "1 link");
    assert!(
        browser.all("td.actions").await.is_empty(),
        "no switch or delete"
    );
    browser.click_and_load("tbody tr td a").await;
    assert!(browser.all("form.card").await.is_empty(), "no edit form");
    let nav = browser.text("nav").await;
    assert!(!nav.contains("Shorten"), "{nav}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_link_page_shows_what_the_stats_api_answers() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/counted").await;
    let (id, code) = (id_of(&url), str_of(&url, "short_code").to_owned());
    for agent in [CHROME, CHROME, IPHONE, GOOGLEBOT] {
        app.get_with_headers(&format!("/{code}"), &[("User-Agent", agent)])
            .await
            .expect(302);
    }
    let stats = app.get(&format!("/urls/{id}/stats")).await.expect_json(200);
    let browser = Browser::start(1280, false, &app.url("")).await;
    browser.goto(&app.url(&format!("/links/{id}"))).await;
    let shown = browser
        .run("return [...document.querySelectorAll('.numbers div')].map(d => [d.querySelector('dt').textContent, Number(d.querySelector('dd').textContent)])")
        .await;
    let expected = json!([
        ["All clicks", stats["total"]],
        ["People", stats["humans"]],
        ["Bots", stats["bots"]],
        ["Link previews", stats["previews"]],
        ["Prefetches", stats["prefetches"]],
        ["Unique visitors", stats["unique_visitors"]],
    ]);
    assert_eq!(shown, expected);
    assert_eq!(
        browser.all(".chart rect.humans").await.len(),
        stats["series"].as_array().unwrap().len()
    );
    browser.close().await;
    // The same numbers as a person without a browser reads them.
    let page = Visitor::new(&app.api).get(&format!("/links/{id}")).await;
    assert!(
        page.body
            .contains(&format!("<dt>People</dt><dd>{}</dd>", stats["humans"]))
    );
}
