//! Talking to the replicas: requests (never following redirects: targets are off-machine),
//! their metrics, and redirect load.

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Status and `Location` of `GET base/path`.
pub async fn redirect(client: &reqwest::Client, base: &str, code: &str) -> (u16, Option<String>) {
    let response = client.get(format!("{base}/{code}")).send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), location)
}

pub async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn put(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client
        .put(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(client: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `X-Total-Count` of a list.
pub async fn total(client: &reqwest::Client, base: &str, path: &str) -> i64 {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Polls `/ready` until its `cache` field reads `want` (or panics after `timeout`).
pub async fn wait_for_cache(client: &reqwest::Client, base: &str, want: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let (_, body) = get_json(client, base, "/ready").await;
        if body["cache"] == want {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "cache of {base} never became {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `/ready` until it answers `status`.
pub async fn wait_for_ready_status(
    client: &reqwest::Client,
    base: &str,
    status: u16,
    timeout: Duration,
) {
    let start = Instant::now();
    loop {
        let answered = client
            .get(format!("{base}/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if answered.as_ref().ok() == Some(&status) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{base}/ready never answered {status} (last: {answered:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of an unlabelled counter or gauge in a `/metrics` text (0 when absent).
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Redirect load from `workers` tasks until `stop`: counts 302s and anything else.
pub struct Load {
    redirected: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: String, code: &str, workers: usize) -> Self {
        let (redirected, failed, stop) = (
            Arc::default(),
            Arc::default(),
            Arc::new(AtomicBool::new(false)),
        );
        let tasks = (0..workers)
            .map(|_| {
                let (redirected, failed, stop): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>) =
                    (Arc::clone(&redirected), Arc::clone(&failed), stop.clone());
                let (client, base, code) = (http(), base.clone(), code.to_owned());
                tokio::spawn(async move {
                    // Bounded: at most 20 000 requests per worker even if never stopped.
                    for _ in 0..20_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match client
                            .get(format!("{base}/{code}"))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                        {
                            Ok(302) => redirected.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
            })
            .collect();
        Self {
            redirected,
            failed,
            stop,
            tasks,
        }
    }

    pub async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.redirected.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
