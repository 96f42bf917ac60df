//! Graceful shutdown: SIGTERM under redirect load exits 0 and loses no click.

use crate::common::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::task::JoinHandle;

const TASKS: usize = 8;
const REQUESTS_PER_TASK: usize = 300;

/// What the load generators saw.
#[derive(Default)]
struct Load {
    redirected: AtomicUsize,
    failed: AtomicUsize,
    /// Answers other than 302 (status and body).
    unexpected: std::sync::Mutex<Vec<String>>,
}

/// Fires up to `REQUESTS_PER_TASK` redirects from each of `TASKS` tasks, counting every 302.
/// Connection errors (the server going away) end a task after a few in a row.
fn start_load(api: &Api, code: &str, load: &Arc<Load>) -> Vec<JoinHandle<()>> {
    (0..TASKS)
        .map(|_| {
            let api = api.clone();
            let load = load.clone();
            let url = api.url(&format!("/{code}"));
            tokio::spawn(async move {
                let mut errors_in_a_row = 0;
                for _ in 0..REQUESTS_PER_TASK {
                    match api.client.get(&url).send().await {
                        Ok(response) => {
                            errors_in_a_row = 0;
                            let status = response.status().as_u16();
                            if status == 302 {
                                load.redirected.fetch_add(1, Ordering::SeqCst);
                                let _ = response.bytes().await;
                            } else {
                                let body = response.text().await.unwrap_or_default();
                                load.unexpected
                                    .lock()
                                    .unwrap()
                                    .push(format!("{status}: {body}"));
                            }
                        }
                        Err(_) => {
                            load.failed.fetch_add(1, Ordering::SeqCst);
                            errors_in_a_row += 1;
                            if errors_in_a_row >= 3 {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

async fn wait_for_redirects(load: &Load, at_least: usize) {
    let started = Instant::now();
    while load.redirected.load(Ordering::SeqCst) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the load never reached {at_least} redirects"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The stop comes while the load still has requests to send: the test is of a stop under
/// load, not after it.
fn assert_still_running(load: &Load) {
    let answered = load.redirected.load(Ordering::SeqCst) + load.failed.load(Ordering::SeqCst);
    assert!(
        answered < TASKS * REQUESTS_PER_TASK,
        "the load had finished before the stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_exits_zero_and_loses_no_click() {
    let data = TempDir::new().unwrap();
    let mut kurz = Kurz::on(data.path());
    let url = kurz.shorten("https://example.com/under-load").await;
    let code = str_of(&url, "short_code").to_owned();

    let load = Arc::new(Load::default());
    let tasks = start_load(&kurz.api, &code, &load);
    // SIGTERM while the load is still running.
    wait_for_redirects(&load, TASKS * REQUESTS_PER_TASK / 8).await;
    assert_still_running(&load);
    kurz.sigterm();
    let status = tokio::task::block_in_place(|| kurz.wait_exit(Duration::from_secs(90)));
    for task in tasks {
        task.await.expect("load task");
    }
    assert_eq!(
        status.code(),
        Some(0),
        "kurz must exit 0 on SIGTERM ({status}); log:\n{}",
        kurz.log()
    );
    let unexpected = load.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers other than 302 during shutdown: {unexpected:?}"
    );
    let redirected = load.redirected.load(Ordering::SeqCst);
    drop(kurz);

    let kurz = Kurz::on(data.path());
    let clicks = kurz
        .count(&format!("/events?event_type=click&url_id={}", url["id"]))
        .await;
    assert_eq!(
        clicks,
        redirected as i64,
        "every 302 a client received has its click stored (failed requests: {})",
        load.failed.load(Ordering::SeqCst)
    );
    assert_eq!(kurz.count("/urls").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_in_process_flushes_queued_clicks() {
    let app = spawn_app().await;
    let url = app
        .shorten_and_follow("https://example.com/flush", 4, 50)
        .await;
    // No read of /events before stopping: the clicks may still be queued.
    let data = app.stop().await;

    let app = spawn_app_in(data).await;
    assert_eq!(app.clicks(id_of(&url)).await.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_in_process_under_load_loses_no_click() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/stop-under-load").await;
    let code = str_of(&url, "short_code").to_owned();
    let load = Arc::new(Load::default());
    let tasks = start_load(&app.api, &code, &load);
    wait_for_redirects(&load, TASKS * REQUESTS_PER_TASK / 8).await;
    assert_still_running(&load);
    let data = app.stop().await;
    for task in tasks {
        task.await.expect("load task");
    }
    let unexpected = load.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers other than 302 during shutdown: {unexpected:?}"
    );
    let redirected = load.redirected.load(Ordering::SeqCst);

    let app = spawn_app_in(data).await;
    assert_eq!(
        app.count(&format!("/events?event_type=click&url_id={}", url["id"]))
            .await,
        redirected as i64
    );
}

#[tokio::test]
async fn sigterm_on_an_idle_server_exits_zero() {
    let data = TempDir::new().unwrap();
    let mut kurz = Kurz::on(data.path());
    kurz.create_user("idle").await;
    kurz.sigterm();
    let status = kurz.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "log:\n{}", kurz.log());
    drop(kurz);
    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/users").await, 1);
}
