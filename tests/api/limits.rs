//! Hardening: per-client rate limits (in process; the Redis-shared tier is tested across
//! replicas in tests/cluster), trusted-proxy handling, load shedding, connection timeouts,
//! response headers, and injection-shaped input kept verbatim.

use crate::common::prelude::*;
use kurz::config::Settings;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One create a second, three at once.
fn tight_creates(settings: &mut Settings) {
    limit_creates(1, 3)(settings);
}

async fn create_from(app: &TestApp, forwarded_for: Option<&str>) -> Reply {
    let mut request = app
        .request(Method::POST, "/urls")
        .json(&json!({"original_url": "https://example.com/limited"}));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    app.send(request).await
}

#[tokio::test]
async fn creates_past_the_burst_get_429_with_retry_after_and_change_nothing() {
    let app = spawn_app_with(tight_creates).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let created = create_from(&app, None).await.expect_json(201);
        codes.push(str_of(&created, "short_code").to_owned());
    }
    let limited = create_from(&app, None).await;
    let body = limited.expect_error(429);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too many requests")
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        app.count("/urls").await,
        3,
        "the refused create stored nothing"
    );
    // Reads and redirects are not limited.
    for _ in 0..20 {
        app.get("/urls").await.check_status(200);
        assert_eq!(app.follow(&codes[0]).await.0, 302);
    }
    // After the advertised wait, the client may create again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    create_from(&app, None).await.check_status(201);
}

#[tokio::test]
async fn each_client_behind_the_trusted_proxy_has_its_own_allowance() {
    // Loopback is a trusted proxy by default: X-Forwarded-For names the client.
    let app = spawn_app_with(tight_creates).await;
    for (forwarded_for, status) in [
        ("203.0.113.7", 201),
        ("203.0.113.7", 201),
        ("203.0.113.7", 201),
        ("203.0.113.7", 429),
        ("203.0.113.8", 201),
        // The nearest untrusted hop is the client, whatever it claims further left.
        ("198.51.100.1, 203.0.113.7", 429),
    ] {
        create_from(&app, Some(forwarded_for))
            .await
            .expect_answer(status);
    }
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|settings| {
        tight_creates(settings);
        settings.trusted_proxies = "10.255.255.1".to_owned(); // not us
    })
    .await;
    for n in 0..3 {
        create_from(&app, Some(&format!("203.0.113.{n}")))
            .await
            .check_status(201);
    }
    // A new made-up address does not buy a new allowance: the peer itself is the client.
    create_from(&app, Some("203.0.113.99"))
        .await
        .expect_error(429);
}

#[tokio::test]
async fn updates_and_deletes_have_their_own_allowance() {
    let app = spawn_app_with(limit_writes(1, 2)).await;
    let url = app.shorten("https://example.com/w").await;
    let path = format!("/urls/{}", id_of(&url));
    for (title, status) in [("a", 200), ("b", 200), ("c", 429)] {
        app.put_json(&path, &json!({ "title": title }))
            .await
            .expect_answer(status);
    }
    app.delete(&path).await.expect_error(429);
    assert_eq!(app.get(&path).await.expect_json(200)["title"], json!("b"));
    // Creates draw on the other allowance.
    app.shorten("https://example.com/still-fine").await;
}

fn socket_of(app: &Api) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Opens a connection and sends a request head announcing a body that never comes: the
/// request holds its in-flight permit until the request timeout.
async fn stuck_request(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(socket_of(app)).await.unwrap();
    stream
        .write_all(
            b"POST /urls HTTP/1.1\r\nHost: kurz\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn past_the_in_flight_bound_requests_are_shed_with_503_not_queued() {
    let app = spawn_app_with(|settings| settings.security.max_in_flight = 2).await;
    let shed_before = app.metric("kurz_requests_shed_total").await;
    let first = stuck_request(&app).await;
    let second = stuck_request(&app).await;
    // Give both requests time to be accepted and start reading their bodies.
    let mut shed = None;
    for _ in 0..50 {
        let reply = app.get("/health").await;
        if reply.status.as_u16() == 503 {
            shed = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = shed.expect("a third request was shed while two were in flight");
    shed.expect_error(503);
    let metrics_blocked = app.get("/metrics").await;
    assert_eq!(
        metrics_blocked.status.as_u16(),
        503,
        "the bound covers every route"
    );
    drop((first, second));
    let mut recovered = false;
    for _ in 0..100 {
        if app.get("/health").await.status.as_u16() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recovered, "permits came back when the stuck clients left");
    assert!(
        app.metric("kurz_requests_shed_total").await >= shed_before + 2.0,
        "the two refused requests were counted as shed"
    );
}

/// A request whose body never finishes answers 503 JSON at the request timeout, whichever
/// router serves it: the API (a create), following a link (a password form) and the web
/// UI's pages (a sign-in). Without it, each holds an in-flight place for as long as its
/// client likes.
#[tokio::test]
async fn a_body_that_never_finishes_is_answered_503_at_the_request_timeout_on_every_router() {
    // A process of its own: its counters are this test's alone, so they are read exactly.
    let app = Kurz::start(&[("KURZ_REQUEST_TIMEOUT_MS", "300")]);
    let before = app.metric("kurz_requests_timed_out_total").await;
    let code = str_of(&app.shorten("https://example.com/slow").await, "short_code").to_owned();
    let form = "application/x-www-form-urlencoded";
    for (path, content_type) in [
        ("/urls".to_owned(), "application/json"),
        (format!("/{code}"), form),
        ("/signin".to_owned(), form),
    ] {
        let mut stream = TcpStream::connect(socket_of(&app)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: kurz\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\np"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("{path}: no answer while the body never came"))
                .unwrap();
            assert!(read > 0, "{path}: closed without an answer");
            answer.extend_from_slice(&buffer[..read]);
        }
        let answer = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(answer.starts_with("http/1.1 503"), "{path}: {answer}");
        assert!(
            answer.contains("content-type: application/json"),
            "{path}: {answer}"
        );
    }
    assert_eq!(
        app.metric("kurz_requests_timed_out_total").await,
        before + 3.0,
        "each timed-out request counted once"
    );
}

/// Reads until the server closes the connection; `true` if it did within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_closed() {
    let app = spawn_app_with(|settings| settings.security.header_timeout_ms = 500).await;
    // Slowloris: a request head that never completes.
    let mut slow = TcpStream::connect(socket_of(&app)).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: kurz\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "slow head kept open"
    );

    // Idle keep-alive: one full exchange, then silence.
    let mut idle = TcpStream::connect(socket_of(&app)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: kurz\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1024];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "idle connection kept open"
    );

    // A prompt client is unaffected.
    app.get("/health").await.check_status(200);
}

#[tokio::test]
async fn answers_carry_safety_headers_and_no_server_banner() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/h").await;
    for path in [
        "/health".to_owned(),
        "/urls".to_owned(),
        "/nope/nope".to_owned(),
        format!("/{}", str_of(&url, "short_code")),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(
            reply.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            reply.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        assert!(reply.header("server").is_none(), "{path} names the server");
    }
}

#[tokio::test]
async fn injection_shaped_input_is_stored_and_returned_verbatim() {
    let app = spawn_app().await;
    let title = "'; DROP TABLE urls; -- \" OR 1=1 /* <script>alert(1)</script>";
    let url = app
        .create_url(&json!({"original_url": "https://example.com/?q='OR'1'='1--", "title": title}))
        .await;
    let stored = app
        .get(&format!("/urls/{}", id_of(&url)))
        .await
        .expect_json(200);
    assert_eq!(stored["title"], json!(title));
    assert_eq!(
        stored["original_url"],
        json!("https://example.com/?q='OR'1'='1--")
    );

    let user = app.create_user_with("o'brien", "o'brien@example.com").await;
    assert_eq!(user["username"], json!("o'brien"));
    // Filters are bound parameters: an always-true condition matches nothing.
    assert_eq!(app.count("/users?username=' OR '1'='1").await, 0);
    assert_eq!(app.count("/users?username=o'brien").await, 1);
    assert_eq!(app.count("/urls?short_code=x' OR 'x'='x").await, 0);
    let events = app
        .post_json(
            "/events",
            &json!({"event_type": "x'); DELETE FROM events; --", "details": {"k": "' OR 1=1"}}),
        )
        .await
        .expect_json(201);
    assert_eq!(events["event_type"], json!("x'); DELETE FROM events; --"));
    assert_eq!(app.count("/urls").await, 1, "every table is intact");
}

/// A bound of zero is no bound kurz can serve with (every request would time out, every
/// cache write be refused by Redis): start-up refuses it and names the setting.
#[tokio::test]
async fn a_zero_timeout_or_lifetime_is_refused_at_start_up() {
    let data_dir = tempfile::TempDir::new().unwrap();
    for setting in [
        "KURZ_REQUEST_TIMEOUT_MS",
        "KURZ_DB_TIMEOUT_MS",
        "KURZ_HEADER_TIMEOUT_MS",
        "KURZ_CACHE_TTL_SECS",
        "KURZ_NEGATIVE_TTL_SECS",
    ] {
        let mut serve = kurz_command_on(data_dir.path());
        serve.env(setting, "0").arg("serve");
        let why = kurz_refusal(serve).await;
        let flag = setting
            .trim_start_matches("KURZ_")
            .to_lowercase()
            .replace('_', "-");
        assert!(why.contains(&flag), "{setting}: {why}");
    }
}

/// An in-memory SQLite database is one per connection: the writer and each reader would see
/// a store of their own. Start-up refuses it, and any `file:` URI (one way to ask for
/// memory), and says what to give instead.
#[tokio::test]
async fn an_in_memory_embedded_store_is_refused_at_start_up() {
    let data_dir = tempfile::TempDir::new().unwrap();
    for url in [
        "sqlite::memory:",
        "sqlite://",
        "sqlite:file::memory:",
        "sqlite://file:kurz.db?mode=memory",
    ] {
        let mut serve = kurz_command_on(data_dir.path());
        serve.env("DATABASE_URL", url).arg("serve");
        let why = kurz_refusal(serve).await;
        assert!(why.contains("in-memory"), "{url}: {why}");
        let mut to = kurz_command_on(data_dir.path());
        to.args(["migrate-store", "--to", url]);
        let why = kurz_refusal(to).await;
        assert!(why.contains("in-memory"), "migrate-store --to {url}: {why}");
    }
}
