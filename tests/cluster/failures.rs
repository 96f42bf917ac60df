//! What replicas do when Redis or PostgreSQL fail under them: keep answering, fail writes
//! cleanly, lose no click, recover without a restart.

use crate::common::prelude::*;
use crate::retarget;
use serde_json::json;
use std::time::{Duration, Instant};

/// Two replicas on a fresh database and `redis`, both redirecting `code` to its first
/// target. When it drops, the replicas go first, then Redis, then the database.
struct Warm {
    replicas: Vec<Kurz>,
    /// The path of `code`'s url.
    path: String,
    redis: Redis,
    _db: Database,
}

async fn two_warm_replicas(redis: Redis, code: &str) -> Warm {
    let db = Database::create();
    let replicas = replicas(2, &db_and_redis(&db, &redis)).await;
    let url = replicas[0].shorten_as(code, "https://example.com/v1").await;
    for replica in &replicas {
        assert_eq!(replica.follow(code).await.0, 302);
    }
    Warm {
        replicas,
        path: format!("/urls/{}", url["id"]),
        redis,
        _db: db,
    }
}

/// Redirect load on `code` from four workers.
fn redirect_load(replica: &Kurz, code: &str) -> Load {
    Load::start(replica, Request::Redirect(code.into()), 4, 20_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redirects_keep_answering_while_redis_is_down_and_caching_resumes_after() {
    let mut warm = two_warm_replicas(Redis::start(), "sturdy").await;
    let (both, path) = (&warm.replicas, &warm.path);
    let (a, b) = (&both[0], &both[1]);

    let load = redirect_load(b, "sturdy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    warm.redis.kill();
    wait_for_all(both, "cache", "degraded", Duration::from_secs(10)).await;
    // Readiness stays green: kurz serves without its cache.
    a.get("/ready").await.check_status(200);
    // A write while the invalidation bus is down must still reach the other replica.
    retarget(a, b, "sturdy", path, "https://example.com/v2").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    warm.redis.restart();
    wait_for_all(both, "cache", "ok", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = load.finish().await;
    println!(
        "redis outage: {} redirects answered, {} failed",
        counts.ok, counts.failed
    );
    assert_eq!(
        counts.failed, 0,
        "no request may fail because Redis died: {:?}",
        counts.failures
    );
    assert!(counts.ok > 0);

    // Invalidations flow again after the reconnect.
    assert_eq!(
        b.follow("sturdy").await.1.as_deref(),
        Some("https://example.com/v2")
    );
    a.put_json(path, &json!({"is_active": false}))
        .await
        .check_status(200);
    assert_eq!(b.follow("sturdy").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_lost_while_redis_was_down_is_made_good_once_it_is_back() {
    // Persistent, so the old value outlives the outage, as on a replicated or saved Redis.
    let mut warm = two_warm_replicas(Redis::start_persistent(), "kept").await;
    let (both, path) = (&warm.replicas, &warm.path);
    let (a, b) = (&both[0], &both[1]);

    // The write cannot bump the generation: L2 keeps the old value, current as far as Redis
    // knows, once it is back.
    warm.redis.kill();
    a.put_json(path, &json!({"original_url": "https://example.com/v2"}))
        .await
        .check_status(200);
    warm.redis.restart();
    wait_for_all(both, "cache", "ok", Duration::from_secs(15)).await;

    // A pays the flush it owes once Redis answers: B soon serves the new target, and keeps
    // serving it (not the old value, for the rest of its L2 lifetime).
    let back = Instant::now();
    eventually(
        "B serving the new target from L2 after Redis came back",
        Duration::from_secs(5),
        || async {
            match b.follow("kept").await.1 {
                Some(target) if target == "https://example.com/v2" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    println!(
        "lost invalidation: B served the new target {:?} after both replicas were back on Redis",
        back.elapsed()
    );
    for _ in 0..20 {
        assert_eq!(
            b.follow("kept").await.1.as_deref(),
            Some("https://example.com/v2")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_fails_writes_cleanly_and_loses_no_click() {
    let cluster = PrivateCluster::start();
    let redis = Redis::start();
    let database = cluster.url();
    let kurz = replicas(
        1,
        &[
            ("DATABASE_URL", database.as_str()),
            ("REDIS_URL", &redis.url),
            ("KURZ_DB_TIMEOUT_MS", "1000"),
        ],
    )
    .await
    .remove(0);
    let url = kurz.shorten_as("outage", "https://example.com/").await;
    assert_eq!(kurz.follow("outage").await.0, 302);

    let load = redirect_load(&kurz, "outage");
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop_immediately();

    // While the database is down: cached redirects answer, writes fail with the store's 503
    // JSON (not the request timeout's, which would mean the write hung until it).
    let refused = kurz
        .post_json("/urls", &json!({"original_url": "https://example.com/x"}))
        .await
        .expect_error(503);
    assert_ne!(refused["error"], "service unavailable", "{refused}");
    kurz.get("/ready").await.check_status(503);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.start_server();
    kurz.wait_for_ready_status(200, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = load.finish().await;

    let stored = kurz.clicks_stored(id_of(&url), counts.ok + 1).await;
    println!(
        "postgres outage: {} redirects answered, {} failed, {stored} clicks stored",
        counts.ok, counts.failed
    );
    assert_eq!(
        counts.failed, 0,
        "cached redirects must keep answering while the database is down: {:?}",
        counts.failures
    );
    assert_eq!(
        stored,
        counts.ok + 1,
        "every answered redirect is one stored click"
    );
    // Writes work again without restarting kurz.
    kurz.shorten("https://example.com/after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_started_before_its_database_waits_not_ready_then_serves() {
    let cluster = PrivateCluster::start();
    cluster.stop_immediately();
    let database = cluster.url();
    let kurz = Kurz::start(&[
        ("DATABASE_URL", database.as_str()),
        ("KURZ_DB_TIMEOUT_MS", "500"),
    ]);
    kurz.get("/ready").await.check_status(503);
    kurz.get("/health").await.check_status(200);
    cluster.start_server();
    kurz.wait_for_ready_status(200, Duration::from_secs(30))
        .await;
    kurz.shorten("https://example.com/").await;
}

/// With PostgreSQL stopped, requests that need it answer 503 with `Retry-After` long before
/// the pool's acquire timeout (the breaker), cached redirects keep answering, and writes
/// succeed again soon after the database returns, without restarting kurz.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_known_to_be_down_fails_fast_and_recovery_is_automatic() {
    let cluster = PrivateCluster::start();
    let redis = Redis::start();
    let database = cluster.url();
    // The default pool timeout (5 s): what a request would wait without the breaker.
    let kurz = Kurz::start(&[
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", &redis.url),
    ]);
    let pool_timeout = Duration::from_secs(5);
    kurz.wait_for_ready_status(200, Duration::from_secs(20))
        .await;
    kurz.shorten_as("warm", "https://example.com/warm").await;
    assert_eq!(kurz.follow("warm").await.0, 302);
    assert_eq!(kurz.metric("kurz_store_breaker_open").await, 0.0);

    cluster.stop_immediately();
    // The first request finds out (its pooled connection is dead; the breaker probes and
    // opens); the others are refused at once.
    let mut first = None;
    let mut slowest = Duration::ZERO;
    for attempt in 0..10 {
        // A code nobody asked for: an uncached lookup, so the store is needed. Once the
        // breaker is open, each request is refused by it (counted), not after a wait for
        // the pool; how long each took is printed, not asserted (speed is benchmarked).
        // Every read of /metrics asks the store too, and is refused as well: a request
        // refused adds one more.
        let refused = kurz.metric("kurz_store_breaker_rejections_total").await;
        let started = Instant::now();
        let lookup = kurz.get(&format!("/never-seen-{attempt}")).await;
        let lookup_took = started.elapsed();
        let error = lookup.expect_error(503);
        assert!(
            error["error"].as_str().unwrap().contains("database"),
            "{error}"
        );
        assert_eq!(lookup.headers["retry-after"], "1");
        let after_lookup = kurz.metric("kurz_store_breaker_rejections_total").await;
        assert!(
            attempt == 0 || after_lookup >= refused + 2.0,
            "lookup {attempt} was not refused by the open breaker"
        );

        let started = Instant::now();
        kurz.post_json(
            "/urls",
            &json!({"original_url": "https://example.com/down"}),
        )
        .await
        .expect_error(503);
        let write_took = started.elapsed();
        assert!(
            attempt == 0 || kurz.metric("kurz_store_breaker_rejections_total").await > after_lookup,
            "write {attempt} was not refused by the open breaker"
        );
        if first.is_none() {
            first = Some(lookup_took);
        } else {
            slowest = slowest.max(lookup_took);
        }
        slowest = slowest.max(write_took);
        // Cached redirects do not need the database.
        assert_eq!(kurz.follow("warm").await.0, 302);
    }
    let first = first.unwrap();
    assert_eq!(kurz.metric("kurz_store_breaker_open").await, 1.0);
    assert!(kurz.metric("kurz_store_breaker_rejections_total").await >= 10.0);

    cluster.start_server();
    let back = Instant::now();
    eventually(
        "a write succeeding after the database returned",
        Duration::from_secs(15),
        || async {
            match kurz
                .post_json(
                    "/urls",
                    &json!({"original_url": "https://example.com/back"}),
                )
                .await
                .code()
            {
                201 => Ok(()),
                other => Err(format!("status {other}")),
            }
        },
    )
    .await;
    let recovered = back.elapsed();
    println!(
        "database down: first 503 after {first:?}, slowest of the next 19 {slowest:?} (pool timeout {pool_timeout:?}); writes again {recovered:?} after the database was back"
    );
    assert_eq!(kurz.metric("kurz_store_breaker_open").await, 0.0);
    assert_eq!(kurz.get("/never-seen-0").await.code(), 404);
}

/// A click writer held up for longer than a second (another transaction holds a lock on
/// `events`) while the click queue is full: the redirects wait for room for as long as the
/// store's timeout, and no click is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_click_writer_held_up_for_seconds_loses_no_click() {
    let db = Database::create();
    let kurz = Kurz::start(&[
        ("DATABASE_URL", db.url.as_str()),
        ("KURZ_CLICK_QUEUE", "50"),
        ("KURZ_CLICK_BATCH", "10"),
        ("KURZ_DB_TIMEOUT_MS", "5000"),
    ]);
    let url = kurz.shorten_as("stalled", "https://example.com/").await;
    assert_eq!(kurz.follow("stalled").await.0, 302);
    kurz.clicks_stored(id_of(&url), 1).await;

    let mut lock: sqlx::PgConnection =
        holding(&db.url, "BEGIN; LOCK TABLE events IN SHARE MODE").await;
    let held = Duration::from_millis(1500);
    clicks_wait_out_a_held_lock(&kurz, ("stalled", id_of(&url)), &mut lock, held).await;
}

/// A pool busy for longer than its timeout is not a database that is down: the request that
/// waited it out fails alone (503), and the breaker, which asks the database before it
/// opens, stays closed for every other request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_busy_past_its_timeout_does_not_open_the_breaker() {
    use sqlx::Connection;
    let db = Database::create();
    let kurz = Kurz::start(&[
        ("DATABASE_URL", db.url.as_str()),
        ("KURZ_DB_POOL_SIZE", "1"),
        ("KURZ_DB_TIMEOUT_MS", "500"),
    ]);
    kurz.wait_for_ready_status(200, Duration::from_secs(20))
        .await;
    kurz.shorten("https://example.com/").await;

    // A list of users waits on this lock, holding the pool's one connection meanwhile.
    let mut lock: sqlx::PgConnection =
        holding(&db.url, "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;
    let held = tokio::spawn({
        let api = kurz.api.clone();
        async move { api.get("/users").await.code() }
    });
    let mut watch = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // Lock waits in this test's own database (the server is shared with other tests).
    let waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&mut watch)
        .await
        .unwrap()
        == 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kurz.get("/urls").await.expect_error(503);
    sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
    assert_eq!(held.await.unwrap(), 200);

    assert_eq!(kurz.metric("kurz_store_breaker_opened_total").await, 0.0);
    kurz.get("/urls").await.expect(200);
}
