//! Multi-process tests: several real kurz replicas sharing a real PostgreSQL and Redis,
//! and what happens to them when those fail. Each test starts its own processes (a fresh
//! database on the shared server, a private Redis, a private PostgreSQL cluster where the
//! test stops the server, a Redis Cluster, a Redis primary with a replica and a sentinel)
//! and they stop with the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use common::prelude::*;

mod concurrency;
mod failures;
mod invalidation;
mod lifecycle;
mod rate_limits;
mod redis_topologies;
mod stats;

/// Deactivates `code` (at `path`) on one replica and reactivates it on the other, both ways
/// round, `rounds` times: after each write both replicas must answer accordingly at once
/// (404, then 302 again). Many rounds, so a race between a fill and an invalidation shows.
async fn invalidations_cross(a: &Kurz, b: &Kurz, code: &str, path: &str, rounds: usize) {
    for round in 0..rounds {
        for replica in [a, b, a, b] {
            assert_eq!(replica.follow(code).await.0, 302, "round {round}: warm");
        }
        let (writer, reader) = if round % 2 == 0 { (a, b) } else { (b, a) };
        for (by, active, status) in [(writer, false, 404), (reader, true, 302)] {
            by.put_json(path, &serde_json::json!({ "is_active": active }))
                .await
                .check_status(200);
            for replica in [reader, writer] {
                assert_eq!(
                    replica.follow(code).await.0,
                    status,
                    "round {round}: is_active={active} not seen on {}",
                    replica.address
                );
            }
        }
    }
}

/// Changes the target of `code` (at `path`) through `writer`; `reader` must redirect there
/// at once.
async fn retarget(writer: &Kurz, reader: &Kurz, code: &str, path: &str, target: &str) {
    writer
        .put_json(path, &serde_json::json!({ "original_url": target }))
        .await
        .check_status(200);
    assert_eq!(reader.follow(code).await.1.as_deref(), Some(target));
}
