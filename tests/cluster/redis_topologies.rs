//! The shared cache and the invalidation bus on Redis Cluster and behind Sentinel: replicas
//! share L2, see each other's invalidations at once, and (Sentinel) follow a failover without
//! failing a redirect.

use crate::client::*;
use crate::support::{Database, Kurz, RedisCluster, RedisSentinel, free_port, redis_cli};
use serde_json::json;
use std::time::{Duration, Instant};

/// Deactivates `code` on one replica and reads it on the other, both ways, `rounds` times:
/// the reader must answer 404 at once, and 302 again once reactivated.
async fn invalidations_cross(a: &str, b: &str, code: &str, path: &str, rounds: usize) {
    let client = http();
    for round in 0..rounds {
        let (writer, reader) = if round % 2 == 0 { (a, b) } else { (b, a) };
        for base in [a, b] {
            assert_eq!(
                redirect(&client, base, code).await.0,
                302,
                "round {round}: warm"
            );
        }
        let deactivated = put(&client, writer, path, json!({"is_active": false})).await;
        assert_eq!(deactivated.0, 200);
        assert_eq!(
            redirect(&client, reader, code).await.0,
            404,
            "round {round}: the other replica still redirects"
        );
        let reactivated = put(&client, reader, path, json!({"is_active": true})).await;
        assert_eq!(reactivated.0, 200);
        assert_eq!(
            redirect(&client, writer, code).await.0,
            302,
            "round {round}: the reactivation was not seen"
        );
    }
}

async fn create(client: &reqwest::Client, base: &str, code: &str) -> String {
    let (status, url) = post(
        client,
        base,
        "/urls",
        json!({"original_url": format!("https://example.com/{code}"), "short_code": code}),
    )
    .await;
    assert_eq!(status, 201, "{url}");
    format!("/urls/{}", url["id"])
}

/// Polls the metric `name` on `base` until it reaches `at_least`.
async fn wait_for_metric(client: &reqwest::Client, base: &str, name: &str, at_least: f64) {
    let start = Instant::now();
    while metric(client, base, name).await < at_least {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{name} of {base} never reached {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_a_redis_cluster_share_l2_and_see_each_other_s_invalidations() {
    let db = Database::create();
    let cluster = RedisCluster::start(3);
    let nodes = cluster.nodes();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("KURZ_REDIS_CLUSTER_NODES", nodes.as_str()),
    ];
    let (a, b) = (Kurz::start(&env), Kurz::start(&env));
    let (a, b) = (a.base(), b.base());
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, replica, "ok", Duration::from_secs(10)).await;
    }

    // Enough codes that their keys land on every node.
    let codes: Vec<String> = (0..24).map(|i| format!("spread-{i}")).collect();
    for code in &codes {
        create(&client, &a, code).await;
        assert_eq!(redirect(&client, &a, code).await.0, 302);
    }
    let holding_keys = cluster
        .ports
        .iter()
        .filter(|port| redis_cli(**port, &["DBSIZE"]).trim() != "0")
        .count();
    assert_eq!(holding_keys, 3, "the links are spread over every node");
    // B finds in L2 what A filled: no store lookup.
    for code in &codes {
        assert_eq!(redirect(&client, &b, code).await.0, 302);
    }
    assert_eq!(
        metric(&client, &b, "kurz_cache_store_lookups_total").await,
        0.0,
        "B read every link from the cluster"
    );

    let path = create(&client, &a, "flip").await;
    invalidations_cross(&a, &b, "flip", &path, 10).await;
    for replica in [&a, &b] {
        assert_eq!(
            metric(
                &client,
                replica,
                "kurz_cache_invalidation_ack_timeouts_total"
            )
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
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("KURZ_REDIS_SENTINELS", sentinels.as_str()),
        ("KURZ_REDIS_SENTINEL_MASTER", RedisSentinel::MASTER),
    ];
    let (a, b) = (Kurz::start(&env), Kurz::start(&env));
    let (a, b) = (a.base(), b.base());
    let client = http();
    for replica in [&a, &b] {
        wait_for_cache(&client, replica, "ok", Duration::from_secs(10)).await;
    }
    create(&client, &a, "steady").await;
    let path = create(&client, &a, "flip").await;
    for base in [&a, &b] {
        assert_eq!(redirect(&client, base, "steady").await.0, 302);
    }
    invalidations_cross(&a, &b, "flip", &path, 4).await;

    let loads = [
        Load::start(a.clone(), "steady", 4),
        Load::start(b.clone(), "steady", 4),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    group.fail_over();
    for replica in [&a, &b] {
        wait_for_metric(&client, replica, "kurz_redis_primary_changes_total", 1.0).await;
        wait_for_cache(&client, replica, "ok", Duration::from_secs(15)).await;
    }
    println!(
        "sentinel failover: both replicas on the new primary {:?} after it began",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut redirected, mut failed) = (0, 0);
    for load in loads {
        let (ok, bad) = load.finish().await;
        redirected += ok;
        failed += bad;
    }
    println!("sentinel failover: {redirected} redirects answered, {failed} failed");
    assert_eq!(failed, 0, "no redirect may fail because the primary moved");
    assert!(redirected > 0);

    // The replicas write to the new primary: each voided L2 there once it followed it
    // (writes the old primary took may not have been replicated), and invalidations flow.
    let start = Instant::now();
    loop {
        let flushes = redis_cli(group.replica_port, &["GET", "kurz:gen:*"]);
        if flushes.trim().parse::<u32>().is_ok_and(|n| n >= 2) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "both replicas flush L2 on the new primary: {flushes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    invalidations_cross(&a, &b, "flip", &path, 4).await;
}
