//! Rate limits shared through Redis: a client's allowance is the same however its requests
//! are spread over replicas, and with Redis gone each replica still limits on its own.

use crate::client::*;
use crate::support::{Database, Kurz, Redis};
use serde_json::json;
use std::time::Duration;

const LIMITS: [(&str, &str); 2] = [
    ("KURZ_RATE_CREATES_PER_SEC", "1"),
    ("KURZ_RATE_CREATES_BURST", "4"),
];

async fn create(client: &reqwest::Client, base: &str) -> u16 {
    post(
        client,
        base,
        "/urls",
        json!({"original_url": "https://example.com/r"}),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_gets_one_allowance_across_replicas() {
    let db = Database::create();
    let redis = Redis::start();
    let redis_url = redis.url();
    let mut env = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    env.extend(LIMITS);
    let (a, b) = (Kurz::start(&env), Kurz::start(&env));
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, &replica.base(), "ok", Duration::from_secs(10)).await;
    }
    // The burst of 4, split over both replicas.
    for base in [a.base(), b.base(), a.base(), b.base()] {
        assert_eq!(create(&client, &base).await, 201);
    }
    // Both replicas now refuse this client: they count together.
    assert_eq!(create(&client, &a.base()).await, 429);
    assert_eq!(create(&client, &b.base()).await, 429);
    assert_eq!(total(&client, &a.base(), "/urls").await, 4);

    // Without Redis each replica limits on its own (and nothing fails open to unlimited).
    drop(redis);
    wait_for_cache(&client, &a.base(), "degraded", Duration::from_secs(10)).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(create(&client, &a.base()).await);
    }
    assert!(
        statuses.iter().all(|s| [201, 429].contains(s)),
        "only creates and refusals: {statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the local limit still applies: {statuses:?}"
    );
}
