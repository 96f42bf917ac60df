//! The shared cache and the invalidation bus on Redis Cluster and behind Sentinel: replicas
//! share L2, see each other's invalidations at once, and (Sentinel) follow a failover without
//! failing a redirect.

use crate::common::prelude::*;
use crate::invalidations_cross;
use std::time::{Duration, Instant};

/// A url with the custom code `code`; its path.
async fn create(replica: &Kurz, code: &str) -> String {
    let url = replica
        .shorten_as(code, &format!("https://example.com/{code}"))
        .await;
    format!("/urls/{}", url["id"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_a_redis_cluster_share_l2_and_see_each_other_s_invalidations() {
    let db = Database::create();
    let cluster = RedisCluster::start(3);
    let nodes = cluster.nodes();
    let both = replicas(
        2,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("KURZ_REDIS_CLUSTER_NODES", nodes.as_str()),
        ],
    )
    .await;
    let (a, b) = (&both[0], &both[1]);

    // Enough codes that their keys land on every node.
    let codes: Vec<String> = (0..24).map(|i| format!("spread-{i}")).collect();
    for code in &codes {
        create(a, code).await;
        assert_eq!(a.follow(code).await.0, 302);
    }
    let holding_keys = cluster
        .ports
        .iter()
        .filter(|port| {
            let keys = redis_cli(**port, &["DBSIZE"]);
            keys.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("DBSIZE on {port}: {keys:?}"))
                > 0
        })
        .count();
    assert_eq!(holding_keys, 3, "the links are spread over every node");
    // B finds in L2 what A filled: no store lookup.
    for code in &codes {
        assert_eq!(b.follow(code).await.0, 302);
    }
    assert_eq!(
        b.metric("kurz_cache_store_lookups_total").await,
        0.0,
        "B read every link from the cluster"
    );

    let path = create(a, "flip").await;
    invalidations_cross(a, b, "flip", &path, 10).await;
    for replica in &both {
        assert_eq!(
            replica
                .metric("kurz_cache_invalidation_ack_timeouts_total")
                .await,
            0.0,
            "every invalidation was confirmed by as many replicas as the cluster counted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_behind_sentinel_follow_a_failover_without_failing_a_redirect() {
    let db = Database::create();
    let group = RedisSentinel::start();
    // A sentinel that is down comes first: the next one answers.
    let sentinels = format!("redis://127.0.0.1:{},{}", free_port(), group.sentinels());
    let both = replicas(
        2,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("KURZ_REDIS_SENTINELS", sentinels.as_str()),
            ("KURZ_REDIS_SENTINEL_MASTER", RedisSentinel::MASTER),
        ],
    )
    .await;
    let (a, b) = (&both[0], &both[1]);
    create(a, "steady").await;
    let path = create(a, "flip").await;
    for replica in &both {
        assert_eq!(replica.follow("steady").await.0, 302);
    }
    invalidations_cross(a, b, "flip", &path, 4).await;

    let loads: Vec<Load> = both
        .iter()
        .map(|r| Load::start(r, Request::Redirect("steady".into()), 4, 20_000))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    group.fail_over();
    for replica in &both {
        replica
            .wait_for_metric(
                "kurz_redis_primary_changes_total",
                1.0,
                Duration::from_secs(15),
            )
            .await;
        replica
            .wait_for_ready_field("cache", "ok", Duration::from_secs(15))
            .await;
    }
    println!(
        "sentinel failover: both replicas on the new primary {:?} after it began",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut redirected, mut failed, mut failures) = (0, 0, Vec::new());
    for load in loads {
        let counts = load.finish().await;
        redirected += counts.ok;
        failed += counts.failed;
        failures.extend(counts.failures);
    }
    println!("sentinel failover: {redirected} redirects answered, {failed} failed");
    assert_eq!(
        failed, 0,
        "no redirect may fail because the primary moved: {failures:?}"
    );
    assert!(redirected > 0);

    // The replicas write to the new primary: each voided L2 there once it followed it
    // (writes the old primary took may not have been replicated), and invalidations flow.
    eventually(
        "both replicas flushing L2 on the new primary",
        Duration::from_secs(10),
        || async {
            let flushes = redis_cli(group.replica_port, &["GET", "kurz:gen:*"]);
            match flushes.trim().parse::<u32>() {
                Ok(n) if n >= 2 => Ok(()),
                _ => Err(flushes),
            }
        },
    )
    .await;
    invalidations_cross(a, b, "flip", &path, 4).await;
}
