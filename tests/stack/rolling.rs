//! Zero-downtime rolling restart: every replica restarted in turn under steady load through
//! nginx, and not one request fails, not one click is lost.

use crate::common::prelude::*;
use crate::harness::{serial, up_on_db_and_redis};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_fails_no_request_and_loses_no_click() {
    let _one = serial();
    let (_db, _redis, stack) = up_on_db_and_redis(3);
    let nginx = stack.api();
    let mut ids = Vec::new();
    for code in ["rolling", "strict"] {
        let url = nginx
            .shorten_as(code, &format!("https://example.com/{code}"))
            .await;
        ids.push(id_of(&url));
    }
    let before = stack.status();

    // Redirects from keep-alive clients that resend a GET whose connection broke without an
    // answer (as browsers do), and creates on a connection of their own each. For the
    // record, also redirects and creates from keep-alive clients that never retry anything.
    let redirects = Load::with_client(
        Client::RetryingGets,
        &nginx,
        Request::Redirect("rolling".into()),
        3,
        20_000,
    );
    let creates = Load::with_client(
        Client::ConnectionPerRequest,
        &nginx,
        Request::Create,
        1,
        5_000,
    );
    let strict_redirects = Load::with_client(
        Client::Strict,
        &nginx,
        Request::Redirect("strict".into()),
        1,
        20_000,
    );
    let strict_creates = Load::with_client(Client::Strict, &nginx, Request::Create, 1, 5_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let control = stack.control.clone();
    let printed = tokio::task::spawn_blocking(move || control.must(&["rolling-restart"]))
        .await
        .unwrap();
    println!("{}", printed.trim());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let redirected = redirects.finish().await;
    let created = creates.finish().await;
    let strict_redirected = strict_redirects.finish().await;
    let strict_created = strict_creates.finish().await;

    // Every replica is a new process, restarted deliberately (not counted as a crash), and
    // each old one exited 0 (drained, clicks written).
    let after = stack.status();
    for (old, new) in before.iter().zip(&after) {
        assert_ne!(
            old.pid, new.pid,
            "replica on {} was not restarted",
            old.port
        );
        assert_eq!((new.ready, new.restarts, new.last_exit), (200, 0, Some(0)));
    }

    let stored = nginx.clicks_stored(ids[0], redirected.ok).await;
    let strict_stored = nginx.clicks_stored(ids[1], strict_redirected.ok).await;
    let urls = nginx.count("/urls").await as u64;
    let strict_failures: Vec<&String> = strict_redirected
        .failures
        .iter()
        .chain(&strict_created.failures)
        .collect();
    println!(
        "rolling restart of 3 replicas (4 nginx reloads): redirects {} ok / {} failed ({} resent \
         by the client after an nginx reload closed its idle keep-alive connection), creates {} \
         ok / {} failed, clicks {} expected / {} stored, nginx retries {}; keep-alive clients \
         that never retry: redirects {} ok / {} failed, creates {} ok / {} failed, clicks {} \
         expected / {} stored; urls {} expected / {} stored; {strict_failures:?}",
        redirected.ok,
        redirected.failed,
        redirected.client_retries,
        created.ok,
        created.failed,
        redirected.ok,
        stored,
        stack.retried_requests(),
        strict_redirected.ok,
        strict_redirected.failed,
        strict_created.ok,
        strict_created.failed,
        strict_redirected.ok,
        strict_stored,
        created.ok + strict_created.ok + 2,
        urls,
    );
    assert_eq!(
        redirected.failed, 0,
        "failed redirects: {:?}",
        redirected.failures
    );
    assert_eq!(created.failed, 0, "failed creates: {:?}", created.failures);
    assert!(redirected.ok > 0 && created.ok > 0);
    // A resent GET was not executed the first time: exactly one click per answered redirect.
    assert_eq!(
        stored, redirected.ok,
        "every answered redirect is one stored click"
    );
    // What a client that never retries can see: its idle keep-alive connection closed by an
    // exiting nginx worker just as it sent a request. Never an error answer, never a
    // timeout, and the request was not executed: no click and no url beyond those answered.
    assert!(
        strict_failures.iter().all(|f| f.starts_with("connection:")),
        "{strict_failures:?}"
    );
    assert_eq!(
        strict_stored, strict_redirected.ok,
        "clicks of the strict clients"
    );
    assert_eq!(
        urls,
        created.ok + strict_created.ok + 2,
        "every created url is stored once, and no failed create was executed"
    );
}
