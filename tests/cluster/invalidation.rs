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
