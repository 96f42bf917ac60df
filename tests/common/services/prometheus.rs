//! A private Prometheus scraping given targets every second, with kurz's alert and recording
//! rules loaded.

use super::super::http::client;
use super::super::process::{
    clean_command, find_binary, free_port, kill_and_reap, repo, spawn_listening,
};
use serde_json::Value;
use std::process::Child;
use std::time::Duration;

pub struct Prometheus {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `targets` (`host:port`) and evaluates `deploy/prometheus/rules/kurz.yml`.
    pub fn start(targets: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: kurz\n    static_configs:\n      - targets: [{targets}]\n",
            rules = repo().join("deploy/prometheus/rules/kurz.yml").display(),
            targets = targets.join(", "),
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let mut command = clean_command(find_binary("prometheus", &[]));
        command
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let child = spawn_listening(&mut command, "prometheus", port, Duration::from_secs(30));
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// `GET /api/v1/{path}` with `query`, as JSON.
    pub async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        client()
            .get(format!("http://127.0.0.1:{}/api/v1/{path}", self.port))
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An instant query.
    pub async fn query(&self, expr: &str) -> Value {
        self.api("query", &[("query", expr)]).await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}
