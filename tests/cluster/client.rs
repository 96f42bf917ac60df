//! A small HTTP client for the replicas: never follows redirects (targets are off-machine).

use serde_json::Value;
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
