//! The monitoring kit in `deploy/` is checked with the real tools: promtool (config, rules,
//! alert unit tests), amtool (Alertmanager config and routing), and a real Prometheus
//! scraping real kurz replicas under load, against which every dashboard and alert
//! expression is evaluated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Database, Kurz, Redis};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (see .ci/run): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{stdout}{stderr}"
    );
    stdout
}

#[test]
fn the_prometheus_config_and_rules_pass_promtool() {
    run(
        "promtool",
        &[
            "check",
            "config",
            deploy("prometheus/prometheus.yml").to_str().unwrap(),
        ],
    );
    run(
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
    let out = run(
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
    run("amtool", &["check-config", config]);
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file", config];
        args.extend_from_slice(labels);
        run("amtool", &args).trim().to_owned()
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

/// A private Prometheus scraping the given targets every second, with kurz's rules.
struct Prometheus {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: kurz\n    static_configs:\n      - targets: [{targets}]\n",
            rules = deploy("prometheus/rules/kurz.yml").display(),
            targets = targets.join(", "),
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus must be installed (see .ci/run)");
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    async fn query(&self, client: &reqwest::Client, expr: &str) -> Value {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let response = client
            .get(url)
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
async fn rule_expressions(
    prometheus: &Prometheus,
    client: &reqwest::Client,
) -> Vec<(String, String, bool)> {
    let url = format!("http://127.0.0.1:{}/api/v1/rules", prometheus.port);
    let rules: Value = client.get(url).send().await.unwrap().json().await.unwrap();
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
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let replicas = [Kurz::start(&env), Kurz::start(&env)];
    let prometheus = Prometheus::start(
        &replicas
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect::<Vec<_>>(),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A short, mixed load on both replicas while Prometheus scrapes: creates, redirects
    // (cache hits and misses), unknown codes, bad input, lists.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut round = 0;
    while Instant::now() < deadline {
        for replica in &replicas {
            let base = replica.base();
            let body = serde_json::json!({"original_url": format!("https://example.com/{round}")});
            let created: Value = client
                .post(format!("{base}/urls"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let code = created["short_code"].as_str().unwrap().to_owned();
            for _ in 0..5 {
                client.get(format!("{base}/{code}")).send().await.unwrap();
            }
            client
                .get(format!("{base}/no-such-code"))
                .send()
                .await
                .unwrap();
            client
                .post(format!("{base}/urls"))
                .json(&serde_json::json!({"original_url": "nope"}))
                .send()
                .await
                .unwrap();
            client
                .get(format!("{base}/events?per_page=5"))
                .send()
                .await
                .unwrap();
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut failures = Vec::new();
    for (panel, expr) in dashboard_expressions() {
        let answer = prometheus.query(&client, &expr).await;
        if answer["status"] != "success"
            || answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
        {
            failures.push(format!("dashboard panel '{panel}': {expr} → {answer}"));
        }
    }
    for (name, expr, must_have_data) in rule_expressions(&prometheus, &client).await {
        let answer = prometheus.query(&client, &expr).await;
        let empty = answer["data"]["result"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if answer["status"] != "success" || (must_have_data && empty) {
            failures.push(format!("rule {name}: {expr} → {answer}"));
        }
        if must_have_data {
            // The recorded series itself exists too (Prometheus evaluated the rule).
            let recorded = prometheus.query(&client, &name).await;
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
