//! Operations endpoints and the cross-cutting conventions: JSON errors, 404/405, trailing
//! slashes, the 1 MiB body limit, and bad input that must never cause a 5xx.

use crate::common::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn health_answers_ok_as_json() {
    let app = spawn_app().await;
    let body = app.get("/health").await.expect_json(200);
    assert_eq!(body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn ready_reports_database_and_cache() {
    let app = spawn_app().await;
    let body = app.get("/ready").await.expect_json(200);
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    // The embedded default has no Redis: the shared cache is off, not degraded.
    assert_eq!(body["cache"], "off", "{body}");
}

#[tokio::test]
async fn metrics_is_prometheus_text_with_process_cpu_and_memory() {
    let app = spawn_app().await;
    // Some traffic first, so request metrics exist too.
    app.get("/health").await.expect(200);
    let reply = app.get("/metrics").await.expect(200);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text exposition is text/plain, got {content_type:?}"
    );
    let text = &reply.body;
    assert!(text.contains("# TYPE "), "no TYPE lines:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("process_cpu_seconds_total")),
        "no process CPU metric:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("process_resident_memory_bytes")),
        "no process memory metric:\n{text}"
    );
    // Every sample line is `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "not a sample line: {line:?}"
        );
    }
}

/// Every metric of kurz's own on `/metrics` says what it counts (a `# HELP` line) and is
/// the kind the catalogue (and so docs/RUNBOOK.md) says, after traffic that records most of
/// them: a create, redirects, a click written, a miss, a refused write, a scrape.
#[tokio::test]
async fn every_metric_on_the_page_is_described_as_the_catalogue_says() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/described").await;
    for _ in 0..3 {
        app.follow(str_of(&url, "short_code")).await;
    }
    app.follow("no-such-code").await;
    app.post_json("/urls", &json!({ "original_url": "nope" }))
        .await
        .expect(422);
    app.wait_for_metric("kurz_clicks_written_total", 3.0, Duration::from_secs(10))
        .await;
    let page = app.metrics().await;
    let mut families = 0;
    for line in page.lines() {
        let Some(typed) = line.strip_prefix("# TYPE kurz_") else {
            continue;
        };
        families += 1;
        let (name, kind) = typed.split_once(' ').unwrap_or((typed, ""));
        let name = format!("kurz_{name}");
        let metric = kurz::telemetry::catalogue::METRICS
            .iter()
            .find(|metric| metric.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
        assert_eq!(kind, metric.kind.as_str(), "the kind of {name}");
        assert!(
            page.contains(&format!("# HELP {name} {}\n", metric.help)),
            "{name} has no HELP line of its meaning:\n{page}"
        );
    }
    assert!(
        families >= 15,
        "only {families} of kurz's metrics on the page:\n{page}"
    );
}

#[tokio::test]
async fn the_embedded_stores_checkpoints_are_timed_and_the_wal_measured() {
    let app = spawn_app().await;
    let user = app.create_user("checkpointed").await;
    app.create_url(&json!({ "user_id": user["id"], "original_url": "https://example.com/wal" }))
        .await;
    // The checkpointer runs twice a second: a write, then a pass that copies it.
    app.wait_for_metric(
        "kurz_sqlite_checkpoint_duration_seconds_count",
        2.0,
        Duration::from_secs(10),
    )
    .await;
    let page = app.metrics().await;
    assert!(
        page.lines()
            .any(|l| l.starts_with("kurz_sqlite_checkpoint_duration_seconds_bucket")),
        "no checkpoint duration buckets:\n{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("kurz_sqlite_wal_frames ")),
        "no WAL frames gauge:\n{page}"
    );
    assert!(
        metric_sum(&page, "kurz_sqlite_checkpoints_total", &[]) >= 2.0,
        "checkpoints are counted as they are timed:\n{page}"
    );
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let app = spawn_app().await;
    for path in [
        "/no/such/route",
        "/users/1/nothing",
        "/urls/1/2/3",
        "/events/1",
        "/nosuchcode",
        "/urls/nosuchcode/redirect",
    ] {
        let reply = app.get(path).await;
        reply.expect_error(404);
    }
}

#[tokio::test]
async fn wrong_methods_are_405_json() {
    let app = spawn_app().await;
    let user = app.create_user("methods").await;
    let url = app.shorten("https://example.com/methods").await;
    let user_path = format!("/users/{}", user["id"]);
    let url_path = format!("/urls/{}", url["id"]);
    let cases: Vec<(Method, String)> = vec![
        (Method::POST, "/health".into()),
        (Method::DELETE, "/health".into()),
        (Method::POST, "/ready".into()),
        (Method::POST, "/metrics".into()),
        (Method::DELETE, "/users".into()),
        (Method::PUT, "/users".into()),
        (Method::PATCH, user_path.clone()),
        (Method::POST, user_path),
        (Method::GET, "/users/bulk".into()),
        (Method::DELETE, "/urls".into()),
        (Method::PATCH, url_path.clone()),
        (Method::POST, url_path),
        (Method::PUT, "/events".into()),
        (Method::DELETE, "/events".into()),
    ];
    for (method, path) in cases {
        let reply = app
            .send(
                app.request(method.clone(), &path)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
        reply.expect_error_of(405, &format!("{method} {path}"));
    }
}

#[tokio::test]
async fn collection_paths_tolerate_a_trailing_slash() {
    let app = spawn_app().await;
    let user = app.create_user("slash").await;
    app.shorten_for(user["id"].as_i64().unwrap(), "https://example.com/slash")
        .await;

    for (plain, slashed) in [
        ("/users", "/users/"),
        ("/urls", "/urls/"),
        ("/events", "/events/"),
    ] {
        let (a, total_a) = app.get(plain).await.list();
        let (b, total_b) = app.get(slashed).await.list();
        assert_eq!(a, b, "{slashed} differs from {plain}");
        assert_eq!(total_a, total_b);
        assert!(!a.is_empty());
    }
    let user_urls = format!("/users/{}/urls/", user["id"]);
    let (urls, _) = app.get(&user_urls).await.list();
    assert_eq!(urls.len(), 1);

    // Writes to a collection path with a trailing slash work too.
    let created = app
        .post_json(
            "/users/",
            &json!({ "username": "slash2", "email": "slash2@example.com" }),
        )
        .await
        .expect_json(201);
    assert_eq!(created["username"], "slash2");
    app.post_json(
        "/urls/",
        &json!({ "original_url": "https://example.com/s" }),
    )
    .await
    .expect(201);
    app.post_json("/events/", &json!({ "event_type": "note" }))
        .await
        .expect(201);
}

#[tokio::test]
async fn bodies_over_one_mib_are_413_json() {
    let app = spawn_app().await;
    let user = app.create_user("big").await;
    let url = app.shorten("https://example.com/big").await;
    let padding = "x".repeat(1024 * 1024 + 16);
    let body = json!({ "username": "u", "email": "u@example.com", "original_url": "https://example.com", "event_type": "t", "padding": padding }).to_string();
    for (method, path) in [
        (Method::POST, "/users".to_owned()),
        (Method::PUT, format!("/users/{}", user["id"])),
        (Method::POST, "/urls".to_owned()),
        (Method::PUT, format!("/urls/{}", url["id"])),
        (Method::POST, "/events".to_owned()),
    ] {
        let reply = app
            .raw(
                method.clone(),
                &path,
                body.clone(),
                Some("application/json"),
            )
            .await;
        reply.expect_error_of(413, &format!("{method} {path}"));
    }
    // Nothing was written.
    assert_eq!(app.count("/users").await, 1);
}

#[tokio::test]
async fn a_body_just_under_one_mib_is_accepted() {
    let app = spawn_app().await;
    // Unknown keys are ignored, so a large one just pads the body.
    let mut body = json!({ "username": "padded", "email": "padded@example.com", "padding": "" });
    let overhead = body.to_string().len();
    body["padding"] = Value::String("x".repeat(1024 * 1024 - overhead - 64));
    assert!(body.to_string().len() < 1024 * 1024);
    let user = app.post_json("/users", &body).await.expect_json(201);
    assert_eq!(user["username"], "padded");
}

#[tokio::test]
async fn bad_input_never_causes_a_server_error() {
    let app = spawn_app().await;
    app.create_user("victim").await;
    app.shorten("https://example.com/victim").await;

    let long_code = "a".repeat(5000);
    let paths = [
        "/users/0".to_owned(),
        "/users/-1".to_owned(),
        "/users/abc".to_owned(),
        "/users/1.5".to_owned(),
        "/users/99999999999999999999999999".to_owned(),
        "/users/%00".to_owned(),
        "/users/%27%3B%20DROP%20TABLE%20users%3B%20--".to_owned(),
        "/users/abc/urls".to_owned(),
        "/urls/0".to_owned(),
        "/urls/-9223372036854775808".to_owned(),
        "/urls/%F0%9F%98%80".to_owned(),
        "/urls/%FF%FE/redirect".to_owned(),
        "/%F0%9F%98%80".to_owned(),
        "/%00".to_owned(),
        "/%ZZ".to_owned(),
        format!("/{long_code}"),
        format!("/urls/{long_code}/redirect"),
        "/users?page=%ZZ".to_owned(),
        "/users?per_page=%FF".to_owned(),
        "/users?page=1e10&per_page=NaN".to_owned(),
        "/users?page=&per_page=".to_owned(),
        "/urls?user_id=99999999999999999999999".to_owned(),
        "/urls?is_active=".to_owned(),
        "/events?url_id=-1&user_id=0".to_owned(),
        "/events?event_type=%27%20OR%201%3D1%20--".to_owned(),
        "/users?username=%27%20OR%20%271%27%3D%271".to_owned(),
    ];
    for path in &paths {
        let reply = app.get(path).await;
        assert!(
            reply.status.as_u16() < 500,
            "GET {path} answered {}: {}",
            reply.status,
            reply.body
        );
        if reply.status.is_client_error() {
            assert_error_body(&reply.json(), reply.status.as_u16());
        }
    }

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let bodies: Vec<(Vec<u8>, Option<&str>)> =
        vec![
        (deep.clone().into_bytes(), Some("application/json")),
        (deep_object.into_bytes(), Some("application/json")),
        (vec![0xff, 0xfe, 0x00, 0x7b], Some("application/json")),
        (b"{\"username\": \"\xff\xfe\"}".to_vec(), Some("application/json")),
        (b"".to_vec(), Some("application/json")),
        (b"{".to_vec(), Some("application/json")),
        (b"{\"a\":1}".to_vec(), Some("application/json; charset=nonsense")),
        (b"{\"a\":1}".to_vec(), Some("application/jsonx")),
        (b"{\"a\":1}".to_vec(), None),
        (b"1e999999".to_vec(), Some("application/json")),
        (
            b"{\"username\": 1e999999, \"email\": 1e999999}".to_vec(),
            Some("application/json"),
        ),
        (
            b"{\"original_url\": \"https://example.com\", \"user_id\": 99999999999999999999999}"
                .to_vec(),
            Some("application/json"),
        ),
        (
            b"{\"original_url\": \"https://example.com\", \"user_id\": -1}".to_vec(),
            Some("application/json"),
        ),
        (
            b"{\"event_type\": \"x\", \"url_id\": 1.5}".to_vec(),
            Some("application/json"),
        ),
    ];
    for path in ["/users", "/urls", "/events", "/users/1", "/urls/1"] {
        let method = if path.ends_with('1') {
            Method::PUT
        } else {
            Method::POST
        };
        for (body, content_type) in &bodies {
            let reply = app
                .raw(method.clone(), path, body.clone(), *content_type)
                .await;
            assert!(
                reply.status.as_u16() < 500,
                "{method} {path} with {:?} answered {}: {}",
                String::from_utf8_lossy(&body[..body.len().min(40)]),
                reply.status,
                reply.body
            );
            if !reply.status.is_success() {
                assert_error_body(&reply.json(), reply.status.as_u16());
            }
        }
    }

    // Still serving, data intact.
    app.get("/health").await.expect(200);
    assert_eq!(app.count("/users").await, 1);
    assert_eq!(app.count("/urls").await, 1);
}

/// A body sent without `Content-Length` (chunked transfer encoding) is held to the same limit.
#[tokio::test]
async fn a_chunked_body_over_one_mib_is_413_json() {
    let app = spawn_app().await;
    let padding = "x".repeat(1024 * 1024 + 512 * 1024);
    let body = json!({ "username": "chunky", "email": "chunky@example.com", "padding": padding })
        .to_string()
        .into_bytes();
    let mut request = b"POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in body.chunks(64 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, head, body) = app.raw_http(request).await;
    assert_eq!(status, 413, "a 1.5 MiB chunked JSON body: {head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: Value = serde_json::from_str(&body).expect("a JSON error body");
    assert_error_body(&body, 413);
    assert_eq!(app.count("/users").await, 0);
}

/// A client that sends its whole over-limit body before reading the answer (as curl, and
/// most scripts, do) gets its 413 JSON every time, not a reset: kurz reads and discards the
/// rest of the body (up to a bound) before it closes the connection.
#[tokio::test]
async fn every_over_limit_body_reads_a_413_not_a_reset() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    let mut failures = Vec::new();
    for attempt in 0..40 {
        let host = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let written = async {
            stream.write_all(head.as_bytes()).await?;
            // The body follows in pieces, as from a client slower than loopback: kurz has
            // answered (and, unless it drains, closed) before the body is all there.
            for piece in body.chunks(128 * 1024) {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                stream.write_all(piece).await?;
            }
            stream.flush().await
        }
        .await;
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        // A client that stops at a broken pipe (most do) never reads the answer.
        if written.is_err() || !answer.starts_with("HTTP/1.1 413") || !answer.contains("\"error\"")
        {
            failures.push(format!(
                "{attempt}: write {written:?}, read {read:?}: {answer:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 40 failed: {failures:?}",
        failures.len()
    );
    assert_eq!(app.count("/users").await, 0);
}

/// The process runs with transparent huge pages off (src/main.rs): with them, mimalloc's
/// arenas held 2 MiB pages of which each thread's heap used a few KiB (idle RSS 40 against
/// 22 MiB; BENCHMARKS.md, ninth round). Linux reports the flag in `/proc/PID/status`.
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let kurz = Kurz::start(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", kurz.pid())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .unwrap_or_else(|| panic!("no THP_enabled in /proc status (kernel too old?):\n{status}"));
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}

/// Any token is a method to HTTP/1.1: the request metrics label the standard methods by
/// name and every other one `other`, so made-up methods cannot add series without bound.
#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = spawn_app().await;
    for method in ["XYZZY", "FROBNICATE"] {
        let request = app.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            "/health",
        );
        app.send(request).await;
    }
    let page = app.metrics().await;
    assert!(!page.contains("XYZZY") && !page.contains("FROBNICATE"));
    assert!(
        page.contains("method=\"other\""),
        "no series for other methods"
    );
}
