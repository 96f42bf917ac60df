//! What replicas do when Redis or PostgreSQL fail under them: keep answering, fail writes
//! cleanly, lose no click, recover without a restart.

use crate::client::*;
use crate::support::{Database, Kurz, PrivateCluster, Redis};
use serde_json::json;
use std::time::{Duration, Instant};

/// Click events stored for `url_id`, polled until they stop changing.
async fn clicks_stored(client: &reqwest::Client, base: &str, url_id: i64, expected: u64) -> i64 {
    let start = Instant::now();
    loop {
        let stored = total(
            client,
            base,
            &format!("/events?event_type=click&url_id={url_id}"),
        )
        .await;
        if stored as u64 >= expected || start.elapsed() > Duration::from_secs(20) {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redirects_keep_answering_while_redis_is_down_and_caching_resumes_after() {
    let db = Database::create();
    let mut redis = Redis::start();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let (a, b) = (Kurz::start(&env), Kurz::start(&env));
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    }
    let (_, url) = post(
        &client,
        &a.base(),
        "/urls",
        json!({"original_url": "https://example.com/v1", "short_code": "sturdy"}),
    )
    .await;
    let path = format!("/urls/{}", url["id"]);
    for replica in [&a, &b] {
        assert_eq!(redirect(&client, &replica.base(), "sturdy").await.0, 302);
    }

    let load = Load::start(b.base(), "sturdy", 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();
    for replica in [&a, &b] {
        wait_for_cache(
            &client,
            &replica.base(),
            "degraded",
            Duration::from_secs(10),
        )
        .await;
    }
    // Readiness stays green: kurz serves without its cache.
    assert_eq!(get_json(&client, &a.base(), "/ready").await.0, 200);
    // A write while the invalidation bus is down must still reach the other replica.
    assert_eq!(
        put(
            &client,
            &a.base(),
            &path,
            json!({"original_url": "https://example.com/v2"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        redirect(&client, &b.base(), "sturdy").await.1.as_deref(),
        Some("https://example.com/v2")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    redis.restart();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(15)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (redirected, failed) = load.finish().await;
    println!("redis outage: {redirected} redirects answered, {failed} failed");
    assert_eq!(failed, 0, "no request may fail because Redis died");
    assert!(redirected > 0);

    // Invalidations flow again after the reconnect.
    assert_eq!(
        redirect(&client, &b.base(), "sturdy").await.1.as_deref(),
        Some("https://example.com/v2")
    );
    assert_eq!(
        put(&client, &a.base(), &path, json!({"is_active": false}))
            .await
            .0,
        200
    );
    assert_eq!(redirect(&client, &b.base(), "sturdy").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_lost_while_redis_was_down_is_made_good_once_it_is_back() {
    let db = Database::create();
    // Persistent, so the old value outlives the outage, as on a replicated or saved Redis.
    let mut redis = Redis::start_persistent();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let (a, b) = (Kurz::start(&env), Kurz::start(&env));
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    }
    let (_, url) = post(
        &client,
        &a.base(),
        "/urls",
        json!({"original_url": "https://example.com/v1", "short_code": "kept"}),
    )
    .await;
    let path = format!("/urls/{}", url["id"]);
    for replica in [&a, &b] {
        assert_eq!(redirect(&client, &replica.base(), "kept").await.0, 302);
    }

    // The write cannot bump the generation: L2 keeps the old value, current as far as Redis
    // knows, once it is back.
    redis.kill();
    let changed = put(
        &client,
        &a.base(),
        &path,
        json!({"original_url": "https://example.com/v2"}),
    )
    .await;
    assert_eq!(changed.0, 200);
    redis.restart();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(15)).await;
    }

    // A pays the flush it owes once Redis answers: B soon serves the new target, and keeps
    // serving it (not the old value, for the rest of its L2 lifetime).
    let back = Instant::now();
    while redirect(&client, &b.base(), "kept").await.1.as_deref() != Some("https://example.com/v2")
    {
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "B serves the old target from L2 after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "lost invalidation: B served the new target {:?} after both replicas were back on Redis",
        back.elapsed()
    );
    for _ in 0..20 {
        assert_eq!(
            redirect(&client, &b.base(), "kept").await.1.as_deref(),
            Some("https://example.com/v2")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_fails_writes_cleanly_and_loses_no_click() {
    let cluster = PrivateCluster::start();
    let redis = Redis::start();
    let database = cluster.url();
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", &redis.url()),
        ("KURZ_DB_TIMEOUT_MS", "1000"),
    ];
    let kurz = Kurz::start(&env);
    let base = kurz.base();
    let client = http();
    wait_for_cache(&client, &base, "ok", Duration::from_secs(10)).await;
    let (status, url) = post(
        &client,
        &base,
        "/urls",
        json!({"original_url": "https://example.com/", "short_code": "outage"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(redirect(&client, &base, "outage").await.0, 302);

    let load = Load::start(base.clone(), "outage", 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop_immediately();

    // While the database is down: cached redirects answer, writes fail fast with 503 JSON.
    let started = Instant::now();
    let (status, body) = post(
        &client,
        &base,
        "/urls",
        json!({"original_url": "https://example.com/x"}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].is_string());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a write must not hang while the database is down"
    );
    assert_eq!(
        client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.start_server();
    wait_for_ready_status(&client, &base, 200, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (redirected, failed) = load.finish().await;

    let stored = clicks_stored(&client, &base, url["id"].as_i64().unwrap(), redirected + 1).await;
    println!(
        "postgres outage: {redirected} redirects answered, {failed} failed, {stored} clicks stored"
    );
    assert_eq!(
        failed, 0,
        "cached redirects must keep answering while the database is down"
    );
    assert_eq!(
        stored as u64,
        redirected + 1,
        "every answered redirect is one stored click"
    );
    // Writes work again without restarting kurz.
    let (status, _) = post(
        &client,
        &base,
        "/urls",
        json!({"original_url": "https://example.com/after"}),
    )
    .await;
    assert_eq!(status, 201);
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
    let client = http();
    let (status, body) = get_json(&client, &kurz.base(), "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        get_json(&client, &kurz.base(), "/health").await.0,
        200,
        "alive while not ready"
    );
    cluster.start_server();
    wait_for_ready_status(&client, &kurz.base(), 200, Duration::from_secs(30)).await;
    let (status, _) = post(
        &client,
        &kurz.base(),
        "/urls",
        json!({"original_url": "https://example.com/"}),
    )
    .await;
    assert_eq!(status, 201);
}
