//! `KURZ_AUTH=keys`: API keys minted with the real `kurz keys` command, scopes, ownership,
//! revocation, expiry, use counting, and what is logged. (The contract's own tests run in
//! the default `open` mode.)

use crate::common::prelude::*;
use kurz::config::{AuthMode, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn keys_mode(settings: &mut Settings) {
    settings.security.auth = AuthMode::Keys;
    settings.security.key_cache_secs = 1;
}

/// Runs `kurz keys ARGS` on the store in `data_dir`, beside the app; its stdout.
async fn kurz_keys(data_dir: &Path, args: &[&str]) -> String {
    let mut command = kurz_command_on(data_dir);
    command.arg("keys").args(args);
    kurz_ok_beside(command).await
}

/// Mints a key and returns its secret.
async fn mint(data_dir: &Path, scope: &str, extra: &[&str]) -> String {
    let mut args = vec!["create", "--name", "test", "--scope", scope];
    args.extend_from_slice(extra);
    let secret = kurz_keys(data_dir, &args).await.trim().to_owned();
    assert!(secret.starts_with("kurz_"), "unexpected secret {secret:?}");
    secret
}

async fn listed_keys(data_dir: &Path) -> Vec<Value> {
    kurz_keys(data_dir, &["list", "--json"])
        .await
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = app.request(method, path);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

/// Creates a user with an admin key (users need admin in keys mode).
async fn user_with(app: &TestApp, admin: &str, name: &str) -> i64 {
    let body = json!({"username": name, "email": format!("{name}@example.com")});
    id_of(
        &call(app, Method::POST, "/users", Some(admin), Some(body))
            .await
            .expect_json(201),
    )
}

#[tokio::test]
async fn without_a_key_only_redirects_reports_and_probes_answer() {
    let app = spawn_app_with(keys_mode).await;
    let admin = mint(app.data_path(), "admin", &[]).await;
    let url = call(
        &app,
        Method::POST,
        "/urls",
        Some(&admin),
        Some(json!({"original_url": "https://example.com/a"})),
    )
    .await
    .expect_json(201);
    let code = str_of(&url, "short_code").to_owned();

    for (method, path) in [
        (Method::GET, "/urls".to_owned()),
        (Method::GET, format!("/urls/{}", id_of(&url))),
        (Method::POST, "/urls".to_owned()),
        (Method::GET, "/users".to_owned()),
        (Method::GET, "/events".to_owned()),
        (Method::DELETE, format!("/urls/{}", id_of(&url))),
    ] {
        let reply = call(&app, method.clone(), &path, None, Some(json!({}))).await;
        reply.expect_error(401);
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{method} {path}: 401 without WWW-Authenticate"
        );
    }
    app.get(&format!("/{code}")).await.check_status(302);
    app.get(&format!("/urls/{code}/redirect"))
        .await
        .check_status(302);
    app.get("/health").await.check_status(200);
    app.get("/ready").await.check_status(200);
    let report = call(
        &app,
        Method::POST,
        &format!("/urls/{code}/report"),
        None,
        Some(json!({"reason": "spam"})),
    )
    .await;
    assert_eq!(
        report.status.as_u16(),
        202,
        "reports are public: {}",
        report.body
    );
}

#[tokio::test]
async fn unknown_and_malformed_keys_are_refused_with_401() {
    let app = spawn_app_with(keys_mode).await;
    let reply = call(
        &app,
        Method::GET,
        "/urls",
        Some("kurz_not-a-real-key-000000000000000000000"),
        None,
    )
    .await;
    assert!(
        reply.expect_error(401)["error"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );
    let basic = app
        .send(
            app.request(Method::GET, "/urls")
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    basic.expect_error(401);
    let empty = app
        .send(app.request(Method::GET, "/urls").header("x-api-key", ""))
        .await;
    empty.expect_error(401);
}

#[tokio::test]
async fn keys_are_accepted_as_bearer_or_x_api_key() {
    let app = spawn_app_with(keys_mode).await;
    let read = mint(app.data_path(), "read", &[]).await;
    call(&app, Method::GET, "/urls", Some(&read), None)
        .await
        .check_status(200);
    let with_header = app
        .send(app.request(Method::GET, "/urls").header("x-api-key", &read))
        .await;
    with_header.check_status(200);
}

#[tokio::test]
async fn each_scope_gets_403_beyond_what_it_allows() {
    let app = spawn_app_with(keys_mode).await;
    let dir = app.data_path().to_owned();
    let admin = mint(&dir, "admin", &[]).await;
    let alice = user_with(&app, &admin, "alice").await;
    let read = mint(&dir, "read", &[]).await;
    let write = mint(&dir, "write", &["--user", &alice.to_string()]).await;

    // read: links only, never changes.
    call(&app, Method::GET, "/urls", Some(&read), None)
        .await
        .check_status(200);
    call(
        &app,
        Method::GET,
        &format!("/users/{alice}/urls"),
        Some(&read),
        None,
    )
    .await
    .check_status(200);
    let denied = call(
        &app,
        Method::POST,
        "/urls",
        Some(&read),
        Some(json!({"original_url": "https://example.com"})),
    )
    .await;
    assert!(
        denied.expect_error(403)["error"]
            .as_str()
            .unwrap()
            .contains("needs write")
    );
    call(&app, Method::GET, "/users", Some(&read), None)
        .await
        .expect_error(403);

    // write: links and events, but not users, bulk import or the event history.
    call(
        &app,
        Method::POST,
        "/urls",
        Some(&write),
        Some(json!({"original_url": "https://example.com"})),
    )
    .await
    .expect_json(201);
    call(
        &app,
        Method::POST,
        "/events",
        Some(&write),
        Some(json!({"event_type": "note"})),
    )
    .await
    .expect_json(201);
    for (method, path) in [
        (Method::GET, "/users"),
        (Method::POST, "/users"),
        (Method::GET, "/events"),
        (Method::PUT, "/users/1"),
        (Method::DELETE, "/users/1"),
    ] {
        call(&app, method, path, Some(&write), Some(json!({})))
            .await
            .expect_error(403);
    }
    let bulk = app
        .send(
            app.request(Method::POST, "/users/bulk")
                .bearer_auth(&write)
                .body("x"),
        )
        .await;
    bulk.expect_error(403);

    // admin: everything.
    call(&app, Method::GET, "/users", Some(&admin), None)
        .await
        .check_status(200);
    call(&app, Method::GET, "/events", Some(&admin), None)
        .await
        .check_status(200);
}

#[tokio::test]
async fn write_keys_act_only_for_their_own_user() {
    let app = spawn_app_with(keys_mode).await;
    let dir = app.data_path().to_owned();
    let admin = mint(&dir, "admin", &[]).await;
    let alice = user_with(&app, &admin, "alice").await;
    let bob = user_with(&app, &admin, "bob").await;
    let alices_key = mint(&dir, "write", &["--user", &alice.to_string()]).await;

    // A create without user_id belongs to the key's user; naming someone else is refused.
    let own = call(
        &app,
        Method::POST,
        "/urls",
        Some(&alices_key),
        Some(json!({"original_url": "https://example.com/own"})),
    )
    .await
    .expect_json(201);
    assert_eq!(own["user_id"], json!(alice));
    call(
        &app,
        Method::POST,
        "/urls",
        Some(&alices_key),
        Some(json!({"original_url": "https://example.com/x", "user_id": bob})),
    )
    .await
    .expect_error(403);

    let bobs = call(
        &app,
        Method::POST,
        "/urls",
        Some(&admin),
        Some(json!({"original_url": "https://example.com/bob", "user_id": bob})),
    )
    .await
    .expect_json(201);
    let bobs_path = format!("/urls/{}", id_of(&bobs));
    call(
        &app,
        Method::PUT,
        &bobs_path,
        Some(&alices_key),
        Some(json!({"title": "mine now"})),
    )
    .await
    .expect_error(403);
    call(&app, Method::DELETE, &bobs_path, Some(&alices_key), None)
        .await
        .expect_error(403);
    call(
        &app,
        Method::POST,
        "/events",
        Some(&alices_key),
        Some(json!({"event_type": "note", "url_id": id_of(&bobs)})),
    )
    .await
    .expect_error(403);
    // Nothing of Bob's changed.
    let unchanged = call(&app, Method::GET, &bobs_path, Some(&admin), None)
        .await
        .expect_json(200);
    assert_eq!(unchanged, bobs);

    let own_path = format!("/urls/{}", id_of(&own));
    let renamed = call(
        &app,
        Method::PUT,
        &own_path,
        Some(&alices_key),
        Some(json!({"title": "renamed"})),
    )
    .await
    .expect_json(200);
    assert_eq!(renamed["title"], json!("renamed"));
    call(&app, Method::DELETE, &own_path, Some(&alices_key), None)
        .await
        .check_status(204);
    // Admin deletes any link.
    call(&app, Method::DELETE, &bobs_path, Some(&admin), None)
        .await
        .check_status(204);
}

#[tokio::test]
async fn a_write_key_needs_a_user_and_a_real_one() {
    let dir = tempfile::TempDir::new().unwrap();
    let no_user = kurz_command_on(dir.path())
        .args(["keys", "create", "--name", "w", "--scope", "write"])
        .output()
        .unwrap();
    assert!(!no_user.status.success());
    assert!(String::from_utf8_lossy(&no_user.stderr).contains("--user"));
    let ghost = kurz_command_on(dir.path())
        .args([
            "keys", "create", "--name", "w", "--scope", "write", "--user", "999",
        ])
        .output()
        .unwrap();
    assert!(!ghost.status.success());
    assert!(String::from_utf8_lossy(&ghost.stderr).contains("no user with id 999"));
}

#[tokio::test]
async fn revoked_keys_stop_working_on_every_path() {
    let app = spawn_app_with(keys_mode).await;
    let dir = app.data_path().to_owned();
    let never_used = mint(&dir, "read", &[]).await;
    let in_use = mint(&dir, "read", &[]).await;
    call(&app, Method::GET, "/urls", Some(&in_use), None)
        .await
        .check_status(200);

    let keys = listed_keys(&dir).await;
    for key in &keys {
        kurz_keys(&dir, &["revoke", &key["id"].to_string()]).await;
    }
    let refused = call(&app, Method::GET, "/urls", Some(&never_used), None).await;
    assert!(
        refused.expect_error(401)["error"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    // A key looked up just before its revocation is trusted for at most KURZ_KEY_CACHE_SECS.
    let started = Instant::now();
    loop {
        let reply = call(&app, Method::GET, "/urls", Some(&in_use), None).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "revoked key still accepted after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed_keys(&dir)
            .await
            .iter()
            .all(|k| k["revoked_at"].is_string())
    );
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let app = spawn_app_with(keys_mode).await;
    let short_lived = mint(app.data_path(), "read", &["--expires", "1s"]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = call(&app, Method::GET, "/urls", Some(&short_lived), None).await;
    assert!(
        refused.expect_error(401)["error"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    for expiry in ["yesterday", "2020-01-01T00:00:00"] {
        let refused = kurz_command_on(app.data_path())
            .args([
                "keys",
                "create",
                "--name",
                "x",
                "--scope",
                "read",
                "--expires",
                expiry,
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "expiry {expiry} accepted");
    }
}

#[tokio::test]
async fn use_is_counted_per_key_and_failures_in_metrics() {
    let app = spawn_app_with(keys_mode).await;
    let dir = app.data_path().to_owned();
    let read = mint(&dir, "read", &[]).await;
    for _ in 0..3 {
        call(&app, Method::GET, "/urls", Some(&read), None)
            .await
            .check_status(200);
    }
    call(&app, Method::GET, "/urls", Some("kurz_wrong"), None)
        .await
        .expect_error(401);
    call(&app, Method::GET, "/urls", None, None)
        .await
        .expect_error(401);
    // The metrics registry is per process, shared by the tests running beside this one.
    let metrics = app.get("/metrics").await.body;
    for reason in ["unknown", "missing"] {
        let line = format!("kurz_auth_failures_total{{reason=\"{reason}\"}} ");
        let count: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {metrics}"));
        assert!(count >= 1.0);
    }

    let dir = app.stop().await; // shutdown writes the counts
    let keys = listed_keys(dir.path()).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["request_count"], json!(3));
    assert!(keys[0]["last_used_at"].is_string());
    assert!(keys[0].get("secret_hash").is_none());
    let table = kurz_keys(dir.path(), &["list"]).await;
    assert!(table.contains("PREFIX") && table.contains(&read[..13]) && !table.contains(&read));
}

#[tokio::test]
async fn secrets_never_reach_the_log_and_open_mode_on_the_network_warns() {
    let data = tempfile::TempDir::new().unwrap();
    let server = Kurz::options()
        .data_dir(data.path())
        .envs(&[("KURZ_AUTH", "keys"), ("KURZ_LOG", "info")])
        .start();
    let secret = "kurz_Z9y8X7w6V5u4T3s2R1q0ABCDEFGHIJKLMNOPQRST";
    let reply = server
        .send(server.request(Method::GET, "/urls").bearer_auth(secret))
        .await;
    reply.expect_error(401);
    let log = server.log();
    assert!(
        log.contains("API key refused") && log.contains(&secret[..13]),
        "{log}"
    );
    assert!(
        !log.contains(&secret[13..]),
        "the secret leaked into the log:\n{log}"
    );
    assert!(!log.contains("KURZ_AUTH=open"), "keys mode must not warn");

    // Open mode bound beyond loopback: a loud warning (the test only talks to loopback).
    let mut open = Kurz::options()
        .data_dir(data.path())
        .host("0.0.0.0")
        .env("KURZ_LOG", "warn")
        .start();
    open.kill9();
    let text = open.log();
    assert!(
        text.contains("KURZ_AUTH=open on a non-loopback address"),
        "{text}"
    );
}

/// A key that belongs to a user reads that user's links only: the link, its lists, its
/// stats and its QR code (a password-protected link's target is in the link itself). A
/// read key of no user, and an admin key, read any link.
#[tokio::test]
async fn a_users_read_key_sees_its_own_links_only() {
    let app = spawn_app_with(keys_mode).await;
    let dir = app.data_path().to_owned();
    let admin = mint(&dir, "admin", &[]).await;
    let alice = user_with(&app, &admin, "alice").await;
    let bob = user_with(&app, &admin, "bob").await;
    let alices_key = mint(&dir, "read", &["--user", &alice.to_string()]).await;
    let anyones_key = mint(&dir, "read", &[]).await;
    let link_of = |user: i64, path: &str| json!({"original_url": format!("https://example.com/{path}"), "user_id": user});
    let mut ids = Vec::new();
    for (user, path) in [(alice, "alice"), (bob, "bob")] {
        let url = call(
            &app,
            Method::POST,
            "/urls",
            Some(&admin),
            Some(link_of(user, path)),
        )
        .await
        .expect_json(201);
        ids.push(id_of(&url));
    }
    for route in ["", "/stats", "/qr"] {
        let (alices, bobs) = (
            format!("/urls/{}{route}", ids[0]),
            format!("/urls/{}{route}", ids[1]),
        );
        call(&app, Method::GET, &alices, Some(&alices_key), None)
            .await
            .expect(200);
        call(&app, Method::GET, &bobs, Some(&alices_key), None)
            .await
            .expect_error(403);
        // A read key of no user, and an admin key, read any link.
        for key in [&anyones_key, &admin] {
            call(&app, Method::GET, &bobs, Some(key), None)
                .await
                .expect(200);
        }
    }
    // The lists: alice's key sees alice's links, and asking for bob's is refused.
    let listed = |reply: Reply| -> Vec<i64> {
        reply
            .expect_json(200)
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let get = |path: String, key: String| {
        let app = &app;
        async move { call(app, Method::GET, &path, Some(&key), None).await }
    };
    assert_eq!(
        listed(get("/urls".into(), alices_key.clone()).await),
        [ids[0]]
    );
    assert_eq!(
        listed(get(format!("/urls?user_id={alice}"), alices_key.clone()).await),
        [ids[0]]
    );
    assert_eq!(
        listed(get(format!("/users/{alice}/urls"), alices_key.clone()).await),
        [ids[0]]
    );
    get(format!("/urls?user_id={bob}"), alices_key.clone())
        .await
        .expect_error(403);
    get(format!("/users/{bob}/urls"), alices_key.clone())
        .await
        .expect_error(403);
    for key in [&anyones_key, &admin] {
        assert_eq!(listed(get("/urls".into(), key.clone()).await), ids);
        assert_eq!(
            listed(get(format!("/users/{bob}/urls"), key.clone()).await),
            [ids[1]]
        );
    }
}
