//! kurz's log lines are what the log pipeline (`deploy/logging/`) and the runbook expect:
//! one JSON object per line, a `timestamp` in the parser's format, the access-log fields, the
//! request id on error lines, and no secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kurz::{Kurz, PROBE_REQUEST_ID, kurz_command};
use serde_json::Value;
use std::io::{Read, Write};

/// Runs the real binary on a temporary store, sends a few requests, stops it with SIGTERM
/// and returns everything it wrote.
fn logs_of_a_short_run(env: &[(&str, &str)], requests: &[(&str, &str)]) -> String {
    let mut kurz = Kurz::options()
        .env("KURZ_LOG", "info")
        .env("KURZ_LOG_FORMAT", "json")
        .envs(env)
        .start();
    for (method, path) in requests {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", kurz.port)).unwrap();
        write!(stream, "{method} {path} HTTP/1.0\r\nHost: x\r\nX-Request-Id: test-{method}\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    assert!(kurz.terminate().success());
    kurz.log()
}

fn parse_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
        })
        .collect()
}

/// `%Y-%m-%dT%H:%M:%S.%LZ`, the `Time_Format` of deploy/logging/parsers.conf.
fn matches_parser_time_format(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() > 21
        && ts.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && ts[..19]
            .bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
        && ts[20..ts.len() - 1].bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn every_line_is_json_with_the_fields_the_pipeline_uses() {
    let parsers =
        std::fs::read_to_string(common::process::repo().join("deploy/logging/parsers.conf"))
            .unwrap();
    assert!(
        parsers.contains("Time_Key      timestamp") && parsers.contains("%Y-%m-%dT%H:%M:%S.%LZ")
    );

    let out = logs_of_a_short_run(
        &[],
        &[("GET", "/health"), ("GET", "/nope"), ("DELETE", "/health")],
    );
    let lines = parse_lines(&out);
    assert!(lines.len() >= 5, "too few lines: {out}");
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "{field} missing in {line}");
        }
        assert!(
            matches_parser_time_format(line["timestamp"].as_str().unwrap()),
            "{line}"
        );
    }
    // The kit's readiness probes are logged too: every one a GET /health answered 200.
    let (probes, access): (Vec<&Value>, Vec<&Value>) = lines
        .iter()
        .filter(|l| l["target"] == "kurz::access")
        .partition(|l| l["request_id"] == PROBE_REQUEST_ID);
    assert!(
        probes
            .iter()
            .all(|l| l["method"] == "GET" && l["status"] == 200),
        "{probes:?}"
    );
    assert_eq!(access.len(), 3, "one access line per request");
    let not_found = access
        .iter()
        .find(|l| l["status"] == 404)
        .expect("the 404 is logged");
    assert_eq!(
        not_found["route"], "/{code}",
        "routes are templates, never raw paths"
    );
    assert_eq!(not_found["request_id"], "test-GET");
    assert_eq!(not_found["client"], "127.0.0.1");
    assert!(not_found["latency_us"].is_u64());
    assert!(
        access
            .iter()
            .any(|l| l["status"] == 405 && l["method"] == "DELETE")
    );
    assert!(
        lines.iter().any(|l| l["message"] == "stopped"),
        "a clean stop is logged"
    );
}

#[test]
fn secrets_never_reach_the_logs() {
    // A start-up failure is logged with its cause, but the database password is not.
    let out = kurz_command()
        .args(["migrate"])
        .env(
            "DATABASE_URL",
            "postgres://kurz:hunter2-secret@127.0.0.1:1/kurz",
        )
        .env("KURZ_DB_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("hunter2-secret"), "{text}");
}

#[test]
fn a_clean_stop_with_a_live_cache_bus_logs_no_warning() {
    // Stopping ends the invalidation subscription on purpose: that is not a lost one.
    let redis = common::services::Redis::start();
    let mut kurz = Kurz::options()
        .env("KURZ_LOG", "info")
        .env("KURZ_LOG_FORMAT", "json")
        .env("REDIS_URL", &redis.url)
        .start();
    let live = common::wait::poll_every(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(50),
        || kurz.log().contains("invalidation subscription live"),
    );
    assert!(live, "the subscription went live:\n{}", kurz.log());
    assert!(kurz.terminate().success());
    let warnings: Vec<Value> = parse_lines(&kurz.log())
        .into_iter()
        .filter(|line| ["WARN", "ERROR"].contains(&line["level"].as_str().unwrap_or_default()))
        .collect();
    assert!(warnings.is_empty(), "a clean stop warned: {warnings:?}");
}
