//! The monitoring kit in `deploy/` is checked with the real tools: promtool (config, rules,
//! alert unit tests), amtool (Alertmanager config and routing), and a real Prometheus
//! scraping real kurz replicas under load, against which every dashboard and alert
//! expression is evaluated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

#[test]
fn the_prometheus_config_and_rules_pass_promtool() {
    tool(
        "promtool",
        &[
            "check",
            "config",
            deploy("prometheus/prometheus.yml").to_str().unwrap(),
        ],
    );
    tool(
        "promtool",
        &[
            "check",
            "rules",
            deploy("prometheus/rules/kurz.yml").to_str().unwrap(),
        ],
    );
}

#[test]
fn every_alert_fires_on_its_failure_and_stays_quiet_when_healthy() {
    let out = tool(
        "promtool",
        &[
            "test",
            "rules",
            deploy("prometheus/tests/kurz_test.yml").to_str().unwrap(),
        ],
    );
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert in the rules has a unit test.
    let rules = std::fs::read_to_string(deploy("prometheus/rules/kurz.yml")).unwrap();
    let tests = std::fs::read_to_string(deploy("prometheus/tests/kurz_test.yml")).unwrap();
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "alert {alert} has no promtool test"
        );
    }
}

#[test]
fn the_alertmanager_config_passes_amtool_and_routes_by_severity() {
    let config = deploy("alertmanager/alertmanager.yml");
    let config = config.to_str().unwrap();
    tool("amtool", &["check-config", config]);
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file", config];
        args.extend_from_slice(labels);
        tool("amtool", &args).trim().to_owned()
    };
    assert_eq!(
        route(&["severity=critical", "alertname=ServiceDown"]),
        "on-call"
    );
    assert_eq!(
        route(&["severity=warning", "alertname=CacheDown"]),
        "team-slack-and-mail"
    );
    assert_eq!(route(&["alertname=Unlabelled"]), "team-slack");
}

/// Every PromQL expression of the dashboards, with Grafana's variables filled in.
fn dashboard_expressions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(deploy("grafana/dashboards")).unwrap() {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m")
                    .replace("$instance", ".*");
                found.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
            }
        }
    }
    assert!(found.len() > 15, "the dashboards lost their panels");
    found
}

/// (name, expression, must return data) of every rule, as Prometheus itself loaded them.
async fn rule_expressions(prometheus: &Prometheus) -> Vec<(String, String, bool)> {
    let rules = prometheus.api("rules", &[]).await;
    let mut found = Vec::new();
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let (name, expr) = (
                rule["name"].as_str().unwrap(),
                rule["query"].as_str().unwrap(),
            );
            found.push((
                name.to_owned(),
                expr.to_owned(),
                rule["type"] == "recording",
            ));
        }
    }
    let alerts = found.iter().filter(|(_, _, recording)| !recording).count();
    assert!(
        alerts >= 6 && found.len() > alerts,
        "Prometheus did not load kurz's rules: {rules}"
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_and_alert_expression_evaluates_against_live_replicas() {
    let db = Database::create();
    let redis = Redis::start();
    let replicas = replicas(2, &db_and_redis(&db, &redis)).await;
    let prometheus = Prometheus::start(
        &replicas
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect::<Vec<_>>(),
    );

    // A short, mixed load on both replicas while Prometheus scrapes: creates, redirects
    // (cache hits and misses), unknown codes, bad input, lists.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut round = 0;
    while Instant::now() < deadline {
        for replica in &replicas {
            let created = replica
                .shorten(&format!("https://example.com/{round}"))
                .await;
            let code = str_of(&created, "short_code");
            for _ in 0..5 {
                replica.follow(code).await;
            }
            replica.follow("no-such-code").await;
            replica
                .post_json("/urls", &serde_json::json!({"original_url": "nope"}))
                .await;
            replica.get("/events?per_page=5").await;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut failures = Vec::new();
    for (panel, expr) in dashboard_expressions() {
        let answer = prometheus.query(&expr).await;
        if answer["status"] != "success"
            || answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
        {
            failures.push(format!("dashboard panel '{panel}': {expr} → {answer}"));
        }
    }
    for (name, expr, must_have_data) in rule_expressions(&prometheus).await {
        let answer = prometheus.query(&expr).await;
        let empty = answer["data"]["result"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if answer["status"] != "success" || (must_have_data && empty) {
            failures.push(format!("rule {name}: {expr} → {answer}"));
        }
        if must_have_data {
            // The recorded series itself exists too (Prometheus evaluated the rule).
            let recorded = prometheus.query(&name).await;
            if recorded["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                failures.push(format!("recording rule {name} produced no series"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "expressions that error or return nothing:\n{}",
        failures.join("\n")
    );
}
