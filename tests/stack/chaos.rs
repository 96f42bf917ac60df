//! What production does to the stack, under load through nginx: a replica killed with
//! SIGKILL, Redis killed, PostgreSQL restarted, PostgreSQL missing at start-up. Each test
//! counts the client requests that failed and the click events that were lost.

use crate::common::prelude::*;
use crate::harness::{Stack, serial, up_on_db_and_redis};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_two_replicas_fails_no_redirect_and_the_supervisor_restarts_it() {
    let _one = serial();
    let (_db, _redis, stack) = up_on_db_and_redis(2);
    let nginx = stack.api();
    let url = nginx
        .shorten_as("crashy", "https://example.com/crash")
        .await;
    let old_pid = stack.status()[0].pid;

    // GET load, which must not fail: nginx may retry a GET on the other replica even after
    // sending it. A POST in flight on the replica that dies cannot be retried safely (it may
    // have been executed), so creates are only recorded: what they see, and what was stored.
    let load = Load::start(&nginx, Request::Redirect("crashy".into()), 4, 20_000);
    let creates = Load::start(&nginx, Request::Create, 1, 5_000);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed_at = Instant::now();
    println!("{}", stack.must(&["kill", "1"]).trim());

    let status = stack.wait_for_status(
        "replica 1 restarted by its supervisor and ready",
        Duration::from_secs(20),
        |s| s[0].restarts == 1 && s[0].ready == 200 && s[0].pid != old_pid,
    );
    let restarted_after = killed_at.elapsed();
    assert_eq!(status[0].last_exit, Some(137), "killed by SIGKILL");
    assert_eq!(status[1].restarts, 0);
    // Keep the load on until nginx sends to the restarted replica again (it skips a failed
    // replica for fail_timeout, 3 s).
    stack
        .replica(1)
        .wait_for_metric("kurz_clicks_queued_total", 1.0, Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = load.finish().await;
    let created = creates.finish().await;

    let stored = nginx.clicks_stored(id_of(&url), counts.ok).await;
    let urls = nginx.count("/urls").await as u64;
    let retried = stack.retried_requests();
    println!(
        "kill -9 of 1 of 2 replicas: redirects {} ok / {} failed, nginx retried {} on the \
         other replica, restarted and ready after {:?}, clicks {} expected / {} stored \
         ({} lost with the killed process); creates {} ok / {} failed {:?}, urls stored {}",
        counts.ok,
        counts.failed,
        retried,
        restarted_after,
        counts.ok,
        stored,
        counts.ok.saturating_sub(stored),
        created.ok,
        created.failed,
        created.failures,
        urls - 1,
    );
    assert_eq!(counts.failed, 0, "failed redirects: {:?}", counts.failures);
    // A create in flight on the killed replica gets nginx's 502 JSON, never a hang; it may or
    // may not have been committed before the crash.
    assert!(
        created
            .failures
            .iter()
            .all(|f| f.starts_with("status 502:") && f.contains("error")),
        "{:?}",
        created.failures
    );
    let created_stored = urls - 1;
    assert!(
        (created.ok..=created.ok + created.failed).contains(&created_stored),
        "{created_stored} urls stored for {} creates answered 201",
        created.ok
    );
    // Clicks still queued in the killed process die with it (a documented limit); a click
    // is never counted twice, except when nginx retried a request the dead replica had
    // already recorded and written.
    assert!(
        stored <= counts.ok + retried as u64,
        "{stored} clicks stored for {} redirects",
        counts.ok
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_fails_no_request_and_caching_resumes_when_it_returns() {
    let _one = serial();
    let (_db, mut redis, stack) = up_on_db_and_redis(2);
    let nginx = stack.api();
    let replicas = [stack.replica(1), stack.replica(2)];
    wait_for_all(&replicas, "cache", "ok", Duration::from_secs(10)).await;
    let url = nginx
        .shorten_as("cachy", "https://example.com/cached")
        .await;
    // Store lookups and cache hits of all replicas together.
    let counters = || async {
        let (mut lookups, mut hits) = (0.0, 0.0);
        for replica in &replicas {
            let page = replica.metrics().await;
            lookups += metric_sum(&page, "kurz_cache_store_lookups_total", &[]);
            hits += metric_sum(&page, "kurz_cache_requests_total", &["result=\"hit\""]);
        }
        (lookups, hits)
    };

    let load = Load::start(&nginx, Request::Redirect("cachy".into()), 4, 20_000);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let killed = load.started.elapsed();
    redis.kill();
    wait_for_all(&replicas, "cache", "degraded", Duration::from_secs(10)).await;
    for replica in &replicas {
        // kurz serves without its cache: still ready.
        replica.get("/ready").await.check_status(200);
    }
    let during = counters().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = {
        let end = counters().await;
        (end.0 - during.0, end.1 - during.1)
    };

    let returned = load.started.elapsed();
    redis.restart();
    wait_for_all(&replicas, "cache", "ok", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = load.started.elapsed();
    let after = counters().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = {
        let end = counters().await;
        (end.0 - after.0, end.1 - after.1)
    };
    let counts = load.finish().await;
    let stored = nginx.clicks_stored(id_of(&url), counts.ok).await;

    let median = |from, to| {
        counts.median_latency(from, to).map_or("-".to_owned(), |d| {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "redis killed under load: redirects {} ok / {} failed, clicks {} expected / {} stored; \
         store lookups per second: {} while Redis was down, {} after it returned (cache hits \
         {} and {}); median latency {} before, {} during, {} after",
        counts.ok,
        counts.failed,
        counts.ok,
        stored,
        during.0,
        after.0,
        during.1,
        after.1,
        median(Duration::ZERO, killed),
        median(killed, returned),
        median(settled, Duration::MAX),
    );
    assert_eq!(counts.failed, 0, "failed redirects: {:?}", counts.failures);
    assert_eq!(
        stored, counts.ok,
        "every answered redirect is one stored click"
    );
    // While Redis is down, the replicas cannot trust their in-process caches (they would
    // miss invalidations): redirects read the database.
    assert!(during.0 > 0.0, "no store lookups while Redis was down");
    // Once it is back, redirects come from the caches again.
    assert!(
        after.0 <= 2.0,
        "{} store lookups after Redis returned",
        after.0
    );
    assert!(after.1 > 0.0, "no cache hits after Redis returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_keeps_redirects_fails_writes_with_503_and_loses_no_click() {
    let _one = serial();
    let cluster = PrivateCluster::start();
    let redis = Redis::start();
    let stack = Stack::up(
        2,
        &[
            ("DATABASE_URL", &cluster.url()),
            ("REDIS_URL", &redis.url),
            ("KURZ_DB_TIMEOUT_MS", "1000"),
        ],
    );
    let nginx = stack.api();
    let url = nginx.shorten_as("pgdown", "https://example.com/pg").await;
    // Cached on both replicas before the outage.
    for n in 1..=2 {
        assert_eq!(stack.replica(n).follow("pgdown").await.0, 302);
    }
    let before = stack.status();

    let load = Load::start(&nginx, Request::Redirect("pgdown".into()), 4, 20_000);
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.stop_immediately();
    let down_at = Instant::now();

    // Writes fail fast and cleanly, as JSON from kurz (not nginx's 502, not a hang).
    let mut write_statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..3 {
        let started = Instant::now();
        let reply = nginx
            .post_json(
                "/urls",
                &json!({"original_url": format!("https://example.com/while-down/{i}")}),
            )
            .await;
        slowest = slowest.max(started.elapsed());
        assert!(
            reply.json()["error"].is_string(),
            "{} {}",
            reply.code(),
            reply.body
        );
        write_statuses.push(reply.code());
    }
    assert!(
        write_statuses.iter().all(|s| *s == 503),
        "{write_statuses:?}"
    );
    assert!(
        slowest < Duration::from_secs(10),
        "a write took {slowest:?} while the database was down"
    );
    // An uncached code cannot be looked up, a list cannot be read: 503 JSON too. Readiness
    // says so.
    for path in ["/nope42", "/urls"] {
        nginx.get(path).await.expect_error(503);
    }
    let ready = nginx.get("/ready").await;
    assert_eq!(
        (ready.code(), &ready.json()["database"]),
        (503, &json!("unreachable"))
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.start_server();
    let outage = down_at.elapsed();
    stack.wait_for_status("every replica ready again", Duration::from_secs(30), |s| {
        s.iter().all(|r| r.ready == 200)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = load.finish().await;
    // Two clicks more: the redirects that warmed each replica's cache.
    let expected = counts.ok + 2;
    let stored = nginx.clicks_stored(id_of(&url), expected).await;

    // Recovered without restarting kurz: the same processes serve writes again.
    nginx.shorten("https://example.com/after").await;
    let after = stack.status();
    println!(
        "postgres down for {outage:?} under load: cached redirects {} ok / {} failed, writes \
         during the outage {write_statuses:?} (slowest {slowest:?}), clicks {} expected / {} \
         stored, kurz restarts {}",
        counts.ok,
        counts.failed,
        expected,
        stored,
        after.iter().map(|r| r.restarts).sum::<u32>(),
    );
    assert_eq!(counts.failed, 0, "failed redirects: {:?}", counts.failures);
    assert_eq!(
        stored, expected,
        "every answered redirect is one stored click"
    );
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.pid, new.pid, "kurz was restarted");
        assert_eq!(new.restarts, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_cannot_reach_postgres_at_start_up_wait_not_ready_instead_of_crashing() {
    let _one = serial();
    let cluster = PrivateCluster::start();
    cluster.stop_immediately();
    let stack = Stack::up(
        2,
        &[
            ("DATABASE_URL", &cluster.url()),
            ("KURZ_DB_TIMEOUT_MS", "500"),
            // Alive is enough: ready cannot come before the database.
            ("STACK_WAIT", "health"),
        ],
    );
    let nginx = stack.api();
    let first = stack.status();
    for n in 1..=2 {
        let replica = stack.replica(n);
        let body = replica.get("/ready").await.expect_json(503);
        assert_eq!(body["database"], "unreachable", "{body}");
        replica.get("/health").await.check_status(200);
    }
    // Through nginx: JSON errors from kurz, not a gateway error.
    nginx.get("/ready").await.check_status(503);
    nginx
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/early"}),
        )
        .await
        .expect_error(503);

    // Still the same processes a while later: retrying, not crash-looping.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = stack.status();
    assert_eq!(
        first.iter().map(|r| r.pid).collect::<Vec<_>>(),
        waiting.iter().map(|r| r.pid).collect::<Vec<_>>()
    );
    assert!(waiting.iter().all(|r| r.restarts == 0 && r.ready == 503));

    cluster.start_server();
    let started = Instant::now();
    let ready = stack.wait_for_status(
        "every replica ready once the database is there",
        Duration::from_secs(30),
        |s| s.iter().all(|r| r.ready == 200),
    );
    let became_ready = started.elapsed();
    nginx
        .shorten_as("latecomer", "https://example.com/late")
        .await;
    assert_eq!(nginx.follow("latecomer").await.0, 302);
    println!(
        "postgres missing at start-up: 2 replicas alive and not ready, 0 restarts; ready \
         {became_ready:?} after the database started; restarts {}",
        ready.iter().map(|r| r.restarts).sum::<u32>()
    );
    assert!(ready.iter().all(|r| r.restarts == 0));
    assert_eq!(
        first.iter().map(|r| r.pid).collect::<Vec<_>>(),
        ready.iter().map(|r| r.pid).collect::<Vec<_>>()
    );
}
