//! The stack itself: it comes up, nginx balances and logs as configured, it goes down
//! leaving nothing behind.

use crate::common::prelude::*;
use crate::common::services::nginx::check_config;
use crate::harness::{serial, up_on_db_and_redis};
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_serves_through_nginx_and_goes_down_leaving_nothing() {
    let _one = serial();
    let (_db, _redis, mut stack) = up_on_db_and_redis(2);
    let nginx = stack.api();

    let status = stack.status();
    assert_eq!(status.len(), 2);
    for replica in &status {
        assert_eq!(
            (replica.health, replica.ready, replica.restarts),
            (200, 200, 0)
        );
    }

    // The API through nginx.
    let url = nginx
        .shorten_as("viaproxy", "https://example.com/through-nginx")
        .await;
    assert_eq!(
        nginx.follow("viaproxy").await,
        (302, Some("https://example.com/through-nginx".into()))
    );
    for path in ["/ready", "/health", "/_nginx/health"] {
        nginx.get(path).await.check_status(200);
    }

    // The client's request id reaches the replica, comes back, and is in nginx's log.
    let reply = nginx
        .get_with_headers(
            &format!("/urls/{}", url["id"]),
            &[("x-request-id", "stack-test-4711")],
        )
        .await
        .expect(200);
    assert_eq!(
        reply.header("x-request-id").as_deref(),
        Some("stack-test-4711")
    );
    // Without one, nginx makes one, and the replica echoes it.
    let generated = nginx.get("/health").await.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 32, "nginx's $request_id: {generated}");

    // least_conn spreads sequential requests over both replicas.
    for _ in 0..20 {
        nginx.get("/users").await.check_status(200);
    }
    let log = stack.access_log();
    let tagged: Vec<&Value> = log
        .iter()
        .filter(|l| l["request_id"] == "stack-test-4711")
        .collect();
    assert_eq!(tagged.len(), 1, "one log line for the tagged request");
    assert_eq!(tagged[0]["status"], 200);
    assert_eq!(tagged[0]["uri"], format!("/urls/{}", url["id"]));
    let replicas_used: BTreeSet<&str> = log
        .iter()
        .filter(|l| l["uri"] == "/users")
        .filter_map(|l| l["upstream_addr"].as_str())
        .collect();
    println!("/users answered by {replicas_used:?}");
    assert_eq!(
        replicas_used.len(),
        2,
        "both replicas served: {replicas_used:?}"
    );

    // Errors nginx makes itself are JSON too, with the request id.
    let reply = nginx.get(&format!("/{}", "a".repeat(10_000))).await;
    assert!([414, 400].contains(&reply.code()), "{}", reply.code());
    assert!(reply.headers.contains_key("x-request-id"));
    assert!(reply.json()["error"].is_string(), "{}", reply.body);

    // Down: nginx and every replica and supervisor are gone, and the ports are free.
    let nginx_pid: u32 = std::fs::read_to_string(stack.control.dir.join("nginx/nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut pids = vec![nginx_pid];
    for n in 1..=2 {
        let dir = stack.control.dir.join(format!("replica-{n}"));
        for file in ["kurz.pid", "supervisor.pid"] {
            pids.push(
                std::fs::read_to_string(dir.join(file))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap(),
            );
        }
    }
    assert!(pids.iter().all(|pid| process_alive(*pid)));
    let printed = stack.down();
    assert!(printed.contains("down"), "{printed}");
    let left: Vec<u32> = pids.iter().copied().filter(|p| process_alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
    for port in std::iter::once(stack.port).chain(stack.replica_ports.iter().copied()) {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers"
        );
    }
    // A deliberate stop is not a failure: every replica exited 0, none was restarted.
    for n in 1..=2 {
        let dir = stack.control.dir.join(format!("replica-{n}"));
        assert_eq!(
            std::fs::read_to_string(dir.join("last-exit"))
                .unwrap()
                .trim(),
            "0"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("restarts"))
                .unwrap()
                .trim(),
            "0"
        );
    }
    println!(
        "stack up, served, down: {} processes stopped, none left",
        pids.len()
    );
}

#[test]
fn render_upstream_writes_addresses_not_names() {
    let script = repo().join("deploy/nginx/render-upstream");
    let output = clean_command(&script)
        .args(["localhost:5000", "127.0.0.1:5001"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("least_conn;"), "{text}");
    assert!(text.contains("server 127.0.0.1:5000 "), "{text}");
    assert!(text.contains("server 127.0.0.1:5001 "), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("server "))
            .all(|l| !l.contains("localhost")),
        "{text}"
    );

    // A name that does not resolve: nothing written, non-zero exit, so the old file stays.
    let output = clean_command(&script)
        .arg("no-such-replica.invalid:5000")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

/// The production configuration (deploy/nginx/nginx.conf with kurz.conf and server.conf)
/// is valid for the installed nginx, and watch-upstream rewrites upstream.conf and reloads
/// only when the replicas' addresses change.
#[test]
fn the_shipped_nginx_config_is_valid_and_watch_upstream_reloads_only_on_change() {
    let source = repo().join("deploy/nginx");
    let dir = tempfile::tempdir().unwrap();
    for file in ["nginx.conf", "kurz.conf", "server.conf"] {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    let reloads = dir.path().join("reloads");
    let watch = |targets: &[&str]| {
        clean_command(source.join("watch-upstream"))
            .args(targets)
            .env("WATCH_ONCE", "1")
            .env("NGINX_UPSTREAM_FILE", dir.path().join("upstream.conf"))
            .env(
                "NGINX_RELOAD",
                format!("echo reload >> {}", reloads.display()),
            )
            .output()
            .unwrap()
            .status
            .success()
    };
    let reload_count = || {
        std::fs::read_to_string(&reloads)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(watch(&["localhost:5000"]));
    assert_eq!(reload_count(), 1, "first pass writes and reloads");
    assert!(watch(&["localhost:5000"]));
    assert_eq!(reload_count(), 1, "nothing changed, no reload");
    assert!(watch(&["localhost:5000", "127.0.0.1:5001"]));
    assert_eq!(reload_count(), 2, "a new address: reload");
    let before = std::fs::read_to_string(dir.path().join("upstream.conf")).unwrap();
    assert!(!watch(&["no-such-replica.invalid:5000"]));
    assert_eq!(reload_count(), 2, "resolution failed: no reload");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("upstream.conf")).unwrap(),
        before,
        "resolution failed: the last good file stays"
    );

    check_config(dir.path(), &dir.path().join("nginx.conf"));
}
