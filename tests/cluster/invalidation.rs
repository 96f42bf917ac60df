//! Writes take effect on every replica before they answer.

use crate::client::*;
use crate::support::{Database, Kurz, Redis};
use serde_json::json;
use std::time::Duration;

struct Pair {
    a: Kurz,
    b: Kurz,
    _redis: Redis,
    _db: Database,
}

/// Two replicas on one database and one Redis, both subscribed to invalidations.
async fn two_replicas() -> Pair {
    let db = Database::create();
    let redis = Redis::start();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let a = Kurz::start(&env);
    let b = Kurz::start(&env);
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    }
    Pair {
        a,
        b,
        _redis: redis,
        _db: db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deactivating_on_one_replica_stops_the_other_at_once() {
    let pair = two_replicas().await;
    let (a, b) = (pair.a.base(), pair.b.base());
    let client = http();
    let (status, url) = post(
        &client,
        &a,
        "/urls",
        json!({"original_url": "https://example.com/one", "short_code": "flip-1"}),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("/urls/{}", url["id"]);
    // Many rounds, so a race between a fill and an invalidation would show.
    for round in 0..25 {
        for base in [&a, &b, &a, &b] {
            assert_eq!(
                redirect(&client, base, "flip-1").await.0,
                302,
                "round {round}: warm"
            );
        }
        let (writer, reader) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(
            put(&client, writer, &path, json!({"is_active": false}))
                .await
                .0,
            200
        );
        assert_eq!(
            redirect(&client, reader, "flip-1").await.0,
            404,
            "round {round}: other replica still redirects"
        );
        assert_eq!(
            redirect(&client, writer, "flip-1").await.0,
            404,
            "round {round}: writer still redirects"
        );
        assert_eq!(
            put(&client, reader, &path, json!({"is_active": true}))
                .await
                .0,
            200
        );
        assert_eq!(
            redirect(&client, writer, "flip-1").await.0,
            302,
            "round {round}: reactivation not seen"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_target_a_deletion_and_a_new_code_are_seen_everywhere() {
    let pair = two_replicas().await;
    let (a, b) = (pair.a.base(), pair.b.base());
    let client = http();
    let (_, url) = post(
        &client,
        &a,
        "/urls",
        json!({"original_url": "https://example.com/old", "short_code": "moving"}),
    )
    .await;
    for base in [&a, &b] {
        assert_eq!(
            redirect(&client, base, "moving").await.1.as_deref(),
            Some("https://example.com/old")
        );
    }
    let path = format!("/urls/{}", url["id"]);
    assert_eq!(
        put(
            &client,
            &a,
            &path,
            json!({"original_url": "https://example.com/new"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        redirect(&client, &b, "moving").await.1.as_deref(),
        Some("https://example.com/new")
    );

    let deleted = client
        .delete(format!("{b}{path}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(deleted, 204);
    assert_eq!(redirect(&client, &a, "moving").await.0, 404);

    // An unknown code is cached as unknown; creating it must end that everywhere.
    assert_eq!(redirect(&client, &b, "brand-new").await.0, 404);
    assert_eq!(redirect(&client, &b, "brand-new").await.0, 404);
    let (status, _) = post(
        &client,
        &a,
        "/urls",
        json!({"original_url": "https://example.com/fresh", "short_code": "brand-new"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(redirect(&client, &b, "brand-new").await.0, 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_replica_starts_with_the_most_clicked_links_cached() {
    let db = Database::create();
    let redis = Redis::start();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let first = Kurz::start(&env);
    let client = http();
    let (status, _) = post(
        &client,
        &first.base(),
        "/urls",
        json!({"original_url": "https://example.com/hot", "short_code": "hot"}),
    )
    .await;
    assert_eq!(status, 201);
    for _ in 0..3 {
        assert_eq!(redirect(&client, &first.base(), "hot").await.0, 302);
    }
    assert_eq!(
        total(&client, &first.base(), "/events?event_type=click").await,
        3
    );

    let fresh = Kurz::start(&env);
    let start = std::time::Instant::now();
    while metric(&client, &fresh.base(), "kurz_cache_prewarmed_links").await < 1.0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new replica never pre-warmed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_cache(&client, &fresh.base(), "ok", Duration::from_secs(10)).await;
    // The subscription going live flushes L1; L2 still holds the pre-warmed link.
    assert_eq!(redirect(&client, &fresh.base(), "hot").await.0, 302);
    assert_eq!(
        metric(&client, &fresh.base(), "kurz_cache_store_lookups_total").await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_line_import_reaches_running_replicas() {
    let db = Database::create();
    let redis = Redis::start();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let replica = Kurz::start(&env);
    let client = http();
    wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let import = |target: &str| {
        let csv = dir.path().join("urls.csv");
        std::fs::write(
            &csv,
            format!(
                "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
                 7,,seeded,{target},Seed,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n"
            ),
        )
        .unwrap();
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_kurz"))
            .args(["import", "--urls"])
            .arg(&csv)
            .envs(env)
            .env("KURZ_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    import("https://example.com/first");
    assert_eq!(
        redirect(&client, &replica.base(), "seeded")
            .await
            .1
            .as_deref(),
        Some("https://example.com/first")
    );
    import("https://example.com/second");
    assert_eq!(
        redirect(&client, &replica.base(), "seeded")
            .await
            .1
            .as_deref(),
        Some("https://example.com/second")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_on_a_cold_code_makes_one_store_query() {
    let db = Database::create();
    let redis = Redis::start();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let replica = Kurz::start(&env);
    let client = http();
    wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    let (status, _) = post(
        &client,
        &replica.base(),
        "/urls",
        json!({"original_url": "https://example.com/", "short_code": "cold"}),
    )
    .await;
    assert_eq!(status, 201);
    let before = metric(&client, &replica.base(), "kurz_cache_store_lookups_total").await;
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let (client, base) = (client.clone(), replica.base());
            tokio::spawn(async move { redirect(&client, &base, "cold").await.0 })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), 302);
    }
    let after = metric(&client, &replica.base(), "kurz_cache_store_lookups_total").await;
    assert_eq!(
        after - before,
        1.0,
        "64 concurrent misses on one code must make one store query"
    );
}
