//! Destination safety against the real server: the blocklist at create, update and redirect
//! time (reloaded without a restart), targets that lead back to kurz, private address
//! literals, abuse reports and the feed importer.

use crate::common::prelude::*;
use kurz::app::Application;
use kurz::config::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a test waits for a blocklist change to take effect.
const RELOAD_WAIT: Duration = Duration::from_secs(15);
/// Polling interval of the blocklist in these tests.
const POLL_MS: u64 = 50;

/// A blocklist file in its own directory, kept as long as the value.
struct BlocklistFile {
    dir: TempDir,
}

impl BlocklistFile {
    fn new(text: &str) -> Self {
        let file = Self {
            dir: TempDir::new().expect("creating a directory for the blocklist"),
        };
        file.write(text);
        file
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("blocklist.txt")
    }

    /// Rewrites the file in place, as an editor would.
    fn write(&self, text: &str) {
        std::fs::write(self.path(), text).expect("writing the blocklist");
    }
}

async fn spawn_with_blocklist(blocklist: &BlocklistFile) -> TestApp {
    let path = blocklist.path();
    spawn_app_with(move |s| {
        s.safety.blocklist = Some(path);
        s.safety.blocklist_poll_ms = POLL_MS;
    })
    .await
}

/// Asks with HEAD (no event recorded) until `path` answers `status`.
async fn wait_for_status(app: &Api, path: &str, status: u16) {
    let started = Instant::now();
    loop {
        let reply = app.send(app.request(Method::HEAD, path)).await;
        if reply.status.as_u16() == status {
            return;
        }
        assert!(
            started.elapsed() < RELOAD_WAIT,
            "{path} still answers {} after {RELOAD_WAIT:?}, expected {status}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_refused(reply: &Reply, problem: &str) {
    let body = reply.expect_invalid("original_url");
    let detail = body["details"]["original_url"].as_str().unwrap_or_default();
    assert!(detail.contains(problem), "{body}");
}

// --- the blocklist at create and update -----------------------------------------------------

#[tokio::test]
async fn blocked_hosts_and_their_subdomains_are_refused_at_create() {
    let blocklist =
        BlocklistFile::new("# test list\nevil.example\n0.0.0.0 ads.example\n203.0.113.7\n");
    let app = spawn_with_blocklist(&blocklist).await;
    for target in [
        "https://evil.example/login",
        "https://a.b.evil.example/",
        "https://EVIL.Example./x",
        "https://user@evil.example:8443/",
        "http://ads.example/banner",
        // A blocked IPv4 address however it is written, IPv4-mapped IPv6 included.
        "http://203.0.113.7/",
        "http://[::ffff:203.0.113.7]/",
        "http://[::ffff:cb00:7107]:8080/",
    ] {
        let reply = app
            .post_json("/urls", &json!({ "original_url": target }))
            .await;
        assert_refused(&reply, "blocked host");
    }
    for target in ["https://notevil.example/", "https://evil.example.org/"] {
        app.shorten(target).await;
    }
    assert_eq!(app.count("/urls").await, 2);
}

#[tokio::test]
async fn blocked_hosts_are_refused_at_update_and_the_link_stays_as_it_was() {
    let blocklist = BlocklistFile::new("evil.example\n");
    let app = spawn_with_blocklist(&blocklist).await;
    let url = app.shorten("https://good.example/").await;
    let path = format!("/urls/{}", id_of(&url));
    let reply = app
        .put_json(
            &path,
            &json!({ "original_url": "https://www.evil.example/" }),
        )
        .await;
    assert_refused(&reply, "blocked host");
    let unchanged = app.get(&path).await.expect_json(200);
    assert_eq!(unchanged["original_url"], "https://good.example/");
    assert!(app.events("event_type=updated").await.is_empty());
}

#[tokio::test]
async fn a_blocklist_that_cannot_be_read_at_start_up_stops_the_start() {
    let data_dir = TempDir::new().expect("a data directory");
    let mut settings = Settings::embedded(data_dir.path().to_path_buf());
    settings.safety.blocklist = Some(data_dir.path().join("no-such-blocklist.txt"));
    let error = Application::build(settings)
        .await
        .err()
        .expect("start-up fails");
    assert!(format!("{error:#}").contains("blocklist"), "{error:#}");
}

// --- the blocklist at redirect time, reloaded while serving ---------------------------------

#[tokio::test]
async fn a_link_whose_host_becomes_blocked_answers_410_until_unblocked() {
    let blocklist = BlocklistFile::new("other.example\n");
    let app = spawn_with_blocklist(&blocklist).await;
    let owner = app.create_user("owner").await;
    let target = "https://news.bad.example/story";
    let url = app.shorten_for(id_of(&owner), target).await;
    let code = str_of(&url, "short_code");
    let path = format!("/{code}");
    app.get(&path).await.expect(302);

    // Blocking the parent domain in the file, without a restart.
    blocklist.write("other.example\nbad.example\n");
    wait_for_status(&app, &path, 410).await;
    for redirect in [path.clone(), format!("/urls/{code}/redirect")] {
        let reply = app.get(&redirect).await;
        reply.expect_error(410);
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("private, max-age=0")
        );
        assert!(reply.header("location").is_none());
    }
    // Its inspect page tells it is blocked, and hides where it leads.
    let inspected = app.get(&format!("{path}+")).await.expect_json(200);
    assert_eq!(
        (&inspected["status"], &inspected["original_url"]),
        (&serde_json::json!("blocked"), &serde_json::Value::Null)
    );

    // Each refused GET is a `blocked` event (HEAD is not); none is a click.
    let blocked = app.events("event_type=blocked").await;
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    let event = &blocked[0];
    assert_eq!(event["url_id"], url["id"]);
    assert_eq!(event["user_id"], owner["id"]);
    assert_eq!(event["details"]["short_code"], code);
    assert_eq!(event["details"]["original_url"], target);
    assert_eq!(event["details"]["blocked_host"], "bad.example");
    assert_eq!(app.clicks(id_of(&url)).await.len(), 1);

    // Unblocking restores the link.
    blocklist.write("other.example\n");
    wait_for_status(&app, &path, 302).await;
    let reply = app.get(&path).await.expect(302);
    assert_eq!(reply.header("location").as_deref(), Some(target));
    assert_eq!(app.clicks(id_of(&url)).await.len(), 2);
}

#[tokio::test]
async fn an_inactive_blocked_link_is_404_and_records_nothing() {
    let blocklist = BlocklistFile::new("other.example\n");
    let app = spawn_with_blocklist(&blocklist).await;
    let url = app.shorten("https://bad.example/").await;
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &json!({ "is_active": false }),
    )
    .await
    .expect(200);
    // A second link shows when the new list is in force.
    let probe = app.shorten("https://probe.example/").await;
    blocklist.write("bad.example\nprobe.example\n");
    wait_for_status(&app, &format!("/{}", str_of(&probe, "short_code")), 410).await;
    app.get(&format!("/{}", str_of(&url, "short_code")))
        .await
        .expect_error(404);
    assert!(app.events("event_type=blocked").await.is_empty());
}

/// Reloads of the blocklist that failed so far.
async fn reload_errors(app: &TestApp) -> f64 {
    metric_sum(
        &app.metrics().await,
        "kurz_blocklist_reloads_total",
        &["result=\"error\""],
    )
}

/// Waits until a reload has failed since `before`: the check after it sees a failed reload.
async fn failed_reloads_rise_past(app: &TestApp, before: f64) {
    eventually(
        "a failed reload of the blocklist",
        Duration::from_secs(10),
        || async {
            let now = reload_errors(app).await;
            if now > before {
                Ok(())
            } else {
                Err(format!("{now} failed reloads"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_blocklist_that_cannot_be_read_at_a_reload_keeps_the_last_list() {
    let blocklist = BlocklistFile::new("bad.example\n");
    let app = spawn_with_blocklist(&blocklist).await;
    let url = app.shorten("https://good.example/").await;
    let path = format!("/{}", str_of(&url, "short_code"));

    let before = reload_errors(&app).await;
    std::fs::remove_file(blocklist.path()).expect("removing the blocklist");
    failed_reloads_rise_past(&app, before).await;
    let reply = app
        .post_json("/urls", &json!({ "original_url": "https://bad.example/" }))
        .await;
    assert_refused(&reply, "blocked host");

    // A directory where the file was: unreadable as a list, too.
    // A poll under way may still see no file; the one after the next failure sees the
    // directory (one reloader polls at a time).
    std::fs::create_dir(blocklist.path()).expect("a directory in the file's place");
    let before = reload_errors(&app).await;
    failed_reloads_rise_past(&app, before).await;
    failed_reloads_rise_past(&app, before + 1.0).await;
    let reply = app
        .post_json(
            "/urls",
            &json!({ "original_url": "https://x.bad.example/" }),
        )
        .await;
    assert_refused(&reply, "blocked host");
    app.get(&path).await.expect(302);

    let metrics = app.get("/metrics").await.expect(200).body;
    assert!(
        metrics.contains("kurz_blocklist_reloads_total{result=\"error\"}"),
        "no reload error counted"
    );

    // A readable file again takes effect.
    std::fs::remove_dir(blocklist.path()).expect("removing the directory");
    blocklist.write("good.example\n");
    wait_for_status(&app, &path, 410).await;
    app.shorten("https://bad.example/").await;
}

/// The real binary, with polling off: only SIGHUP reloads.
#[tokio::test]
async fn sighup_reloads_the_blocklist() {
    let blocklist = BlocklistFile::new("other.example\n");
    let kurz = Kurz::start(&[
        (
            "KURZ_BLOCKLIST",
            blocklist.path().to_str().expect("a UTF-8 path"),
        ),
        ("KURZ_BLOCKLIST_POLL_MS", "0"),
    ]);
    let url = kurz.shorten("https://bad.example/").await;
    let path = format!("/{}", str_of(&url, "short_code"));
    blocklist.write("other.example\nbad.example\n");
    tokio::time::sleep(Duration::from_millis(500)).await;
    kurz.get(&path).await.expect(302);

    kurz.signal("-HUP");
    wait_for_status(&kurz, &path, 410).await;
    kurz.get("/health").await.expect(200);
}

// --- targets that lead back to kurz, private literals ---------------------------------------

#[tokio::test]
async fn a_target_at_the_request_host_is_a_redirect_loop() {
    let app = spawn_app().await;
    let own = app.url("/abcdef");
    let reply = app
        .post_json("/urls", &json!({ "original_url": own }))
        .await;
    assert_refused(&reply, "redirect loop");
    // The same address on another port is another service.
    app.shorten("http://127.0.0.1:9/elsewhere").await;
    let url = app.shorten("https://example.com/").await;
    let reply = app
        .put_json(
            &format!("/urls/{}", id_of(&url)),
            &json!({ "original_url": app.url(&format!("/{}", str_of(&url, "short_code"))) }),
        )
        .await;
    assert_refused(&reply, "redirect loop");
}

#[tokio::test]
async fn targets_at_the_configured_public_hosts_are_redirect_loops() {
    let app = spawn_app_with(|s| {
        s.safety.public_hosts = Some("sho.rt, kurz.example:8443".into());
    })
    .await;
    for target in [
        "https://sho.rt/abc",
        "http://Sho.RT./abc",
        "http://sho.rt:8080/abc",
        "https://kurz.example:8443/x",
    ] {
        let reply = app
            .post_json("/urls", &json!({ "original_url": target }))
            .await;
        assert_refused(&reply, "redirect loop");
    }
    app.shorten("https://kurz.example/x").await;
    app.shorten("https://www.sho.rt/x").await;
}

const PRIVATE_TARGETS: [&str; 8] = [
    "http://127.0.0.1:8080/",
    "http://localhost:3000/admin",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/",
    "http://[fd00::1]/",
    "http://2130706433/",
];

#[tokio::test]
async fn private_literals_are_accepted_by_default() {
    let app = spawn_app().await;
    for target in PRIVATE_TARGETS {
        app.shorten(target).await;
    }
}

#[tokio::test]
async fn private_literals_are_refused_when_the_option_is_on() {
    let app = spawn_app_with(|s| s.safety.refuse_private_targets = true).await;
    for target in PRIVATE_TARGETS {
        let reply = app
            .post_json("/urls", &json!({ "original_url": target }))
            .await;
        assert_refused(&reply, "private");
    }
    app.shorten("http://93.184.215.14/").await;
    app.shorten("https://example.com/").await;
}

// --- abuse reports -------------------------------------------------------------------------

/// `POST /urls/{code}/report` as the client `from` (told through the trusted loopback proxy).
async fn report(app: &Api, code: &str, from: &str, body: Option<Value>) -> Reply {
    let mut request = app
        .request(Method::POST, &format!("/urls/{code}/report"))
        .header("x-forwarded-for", from);
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

#[tokio::test]
async fn reports_are_recorded_once_per_reporter_and_listed_as_events() {
    let app = spawn_app().await;
    let owner = app.create_user("owner").await;
    let url = app.shorten_for(id_of(&owner), "https://example.com/").await;
    let code = str_of(&url, "short_code");

    let answer = report(
        &app,
        code,
        "198.51.100.1",
        Some(json!({ "reason": "phishing" })),
    )
    .await
    .expect_json(202);
    assert_eq!(answer["status"], "received");
    report(&app, code, "198.51.100.2", None).await.expect(202);
    // The same reporter again: acknowledged, not stored twice.
    report(
        &app,
        code,
        "198.51.100.1",
        Some(json!({ "reason": "again" })),
    )
    .await
    .expect(202);

    let reports = app.events("event_type=report").await;
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0]["url_id"], url["id"]);
    assert_eq!(reports[0]["user_id"], owner["id"]);
    assert_eq!(reports[0]["details"]["short_code"], code);
    assert_eq!(reports[0]["details"]["reason"], "phishing");
    assert_eq!(reports[0]["details"]["reporter"], "198.51.100.1");
    assert_eq!(reports[0]["details"]["deactivated"], false);
    assert_eq!(reports[1]["details"]["reason"], Value::Null);
    assert_eq!(reports[1]["details"]["reporter"], "198.51.100.2");

    // The default threshold (0) never deactivates.
    for n in 3..10 {
        report(&app, code, &format!("198.51.100.{n}"), None)
            .await
            .expect(202);
    }
    app.get(&format!("/{code}")).await.expect(302);
}

#[tokio::test]
async fn bad_reports_get_the_usual_errors() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/").await;
    let code = str_of(&url, "short_code");
    let path = format!("/urls/{code}/report");

    report(&app, "nosuchcode", "198.51.100.1", None)
        .await
        .expect_error(404);
    report(&app, "bad!code", "198.51.100.1", None)
        .await
        .expect_error(404);
    let long = "x".repeat(1001);
    report(&app, code, "198.51.100.1", Some(json!({ "reason": long })))
        .await
        .expect_invalid("reason");
    report(&app, code, "198.51.100.1", Some(json!({ "reason": 42 })))
        .await
        .expect_invalid("reason");
    app.post_raw(&path, "not json", Some("application/json"))
        .await
        .expect_error(400);
    app.post_raw(&path, "[1]", Some("application/json"))
        .await
        .expect_error(400);
    app.post_raw(&path, "{\"reason\":\"x\"}", Some("text/plain"))
        .await
        .expect_error(400);
    app.get(&path).await.expect_error(405);
    assert!(app.events("event_type=report").await.is_empty());

    // A body that is only whitespace counts as none; `null` is no reason.
    app.post_raw(&path, "  ", Some("application/json"))
        .await
        .expect(202);
    report(&app, code, "198.51.100.9", Some(json!({ "reason": null })))
        .await
        .expect(202);

    // An inactive link is not there to report.
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &json!({ "is_active": false }),
    )
    .await
    .expect(200);
    report(&app, code, "198.51.100.10", None)
        .await
        .expect_error(404);
    assert_eq!(app.events("event_type=report").await.len(), 2);
}

#[tokio::test]
async fn distinct_reporters_deactivate_a_link_at_the_threshold() {
    let app = spawn_app_with(|s| s.safety.report_threshold = 3).await;
    let url = app.shorten("https://phish.example/login").await;
    let code = str_of(&url, "short_code");
    let redirect = format!("/{code}");

    report(&app, code, "198.51.100.1", None).await.expect(202);
    report(&app, code, "198.51.100.1", None).await.expect(202);
    // Two addresses of one IPv6 /64 are one reporter.
    report(&app, code, "2001:db8:1:2::1", None)
        .await
        .expect(202);
    report(&app, code, "2001:db8:1:2::2", None)
        .await
        .expect(202);
    app.get(&redirect).await.expect(302);

    report(
        &app,
        code,
        "203.0.113.5",
        Some(json!({ "reason": "steals passwords" })),
    )
    .await
    .expect(202);
    app.get(&redirect).await.expect_error(404);
    let stored = app
        .get(&format!("/urls/{}", id_of(&url)))
        .await
        .expect_json(200);
    assert_eq!(stored["is_active"], false);
    let updates = app
        .events(&format!("url_id={}&event_type=updated", id_of(&url)))
        .await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["details"]["field"], "is_active");
    assert_eq!(updates[0]["details"]["new_value"], "false");
    let reports = app.events("event_type=report").await;
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert_eq!(reports[2]["details"]["deactivated"], true);

    // Put back by its owner, the link starts a new count.
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &json!({ "is_active": true }),
    )
    .await
    .expect(200);
    report(&app, code, "198.51.100.1", None).await.expect(202);
    report(&app, code, "203.0.113.5", None).await.expect(202);
    app.get(&redirect).await.expect(302);
    report(&app, code, "192.0.2.77", None).await.expect(202);
    app.get(&redirect).await.expect_error(404);
}

// --- the feed importer ---------------------------------------------------------------------

#[tokio::test]
async fn imported_feeds_become_a_normalised_blocklist_the_server_enforces() {
    let dir = TempDir::new().expect("a directory for feeds");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("writing a feed");
        path
    };
    let hosts = write(
        "hosts.txt",
        "# a hosts-file feed\n127.0.0.1 localhost\n0.0.0.0 Ads.Example tracker.example\n\
         0.0.0.0 cdn.tracker.example # covered by its parent\n",
    );
    let urls = write(
        "urls.txt",
        "# a URL feed\nhttp://203.0.113.7:8080/i\nhttps://bücher.example/login\n\
         https://raw.githubusercontent.com/x/y/payload.sh\nnot a url at all\ncom\n",
    );
    let exclude = write("exclude.txt", "githubusercontent.com\n");
    let output = dir.path().join("blocklist.txt");
    let run = kurz_ok(
        kurz_command_on(dir.path())
            .args(["blocklist", "import"])
            .arg(&hosts)
            .arg(&urls)
            .arg("--output")
            .arg(&output)
            .arg("--exclude")
            .arg(&exclude),
    );
    let summary: Value = serde_json::from_str(&run).expect("a JSON summary");
    assert_eq!(
        summary,
        json!({ "hosts": 4, "invalid_lines": 1, "excluded": 1, "too_broad": 1 })
    );
    let written = std::fs::read_to_string(&output).expect("reading the blocklist");
    let entries: Vec<&str> = written
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    assert_eq!(
        entries,
        [
            "203.0.113.7",
            "ads.example",
            "tracker.example",
            "xn--bcher-kva.example"
        ]
    );

    let app = spawn_app_with(|s| s.safety.blocklist = Some(output)).await;
    for target in [
        "https://shop.bücher.example/",
        "http://203.0.113.7/",
        "https://cdn.tracker.example/",
    ] {
        let reply = app
            .post_json("/urls", &json!({ "original_url": target }))
            .await;
        assert_refused(&reply, "blocked host");
    }
    app.shorten("https://raw.githubusercontent.com/x/y/README.md")
        .await;
}

#[tokio::test]
async fn the_importer_fails_on_a_missing_feed() {
    let dir = TempDir::new().expect("a directory");
    let run = kurz_command_on(dir.path())
        .args(["blocklist", "import", "no-such-feed.txt", "--output"])
        .arg(dir.path().join("out.txt"))
        .output()
        .expect("running kurz blocklist import");
    assert!(!run.status.success());
    assert!(!dir.path().join("out.txt").exists());
}
