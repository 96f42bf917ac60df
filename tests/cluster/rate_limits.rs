//! Rate limits shared through Redis: a client's allowance is the same however its requests
//! are spread over replicas, and with Redis gone each replica still limits on its own.

use crate::common::prelude::*;
use serde_json::json;
use std::time::Duration;

async fn create(replica: &Kurz) -> u16 {
    replica
        .post_json("/urls", &json!({"original_url": "https://example.com/r"}))
        .await
        .code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_gets_one_allowance_across_replicas() {
    let db = Database::create();
    let redis = Redis::start();
    let mut env = db_and_redis(&db, &redis).to_vec();
    env.extend([
        ("KURZ_RATE_CREATES_PER_SEC", "1"),
        ("KURZ_RATE_CREATES_BURST", "4"),
    ]);
    let both = replicas(2, &env).await;
    let (a, b) = (&both[0], &both[1]);
    // The burst of 4, split over both replicas.
    for replica in [a, b, a, b] {
        assert_eq!(create(replica).await, 201);
    }
    // Both replicas now refuse this client: they count together.
    assert_eq!(create(a).await, 429);
    assert_eq!(create(b).await, 429);
    assert_eq!(a.count("/urls").await, 4);

    // Without Redis each replica limits on its own (and nothing fails open to unlimited).
    drop(redis);
    for replica in [a, b] {
        replica
            .wait_for_ready_field("cache", "degraded", Duration::from_secs(10))
            .await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(create(replica).await);
        }
        assert!(
            statuses.iter().all(|s| [201, 429].contains(s)),
            "only creates and refusals: {statuses:?}"
        );
        assert!(
            statuses.contains(&429),
            "the local limit still applies on each replica: {statuses:?}"
        );
    }
}
