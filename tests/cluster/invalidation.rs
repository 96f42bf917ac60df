//! Writes take effect on every replica before they answer.

use crate::common::prelude::*;
use crate::{invalidations_cross, retarget};
use std::time::Duration;

/// Two replicas on one database and one Redis, both subscribed to invalidations.
struct Pair {
    a: Kurz,
    b: Kurz,
    _redis: Redis,
    _db: Database,
}

async fn two_replicas() -> Pair {
    let db = Database::create();
    let redis = Redis::start();
    let mut both = replicas(2, &db_and_redis(&db, &redis)).await;
    let b = both.pop().unwrap();
    Pair {
        a: both.pop().unwrap(),
        b,
        _redis: redis,
        _db: db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deactivating_on_one_replica_stops_the_other_at_once() {
    let Pair { a, b, .. } = &two_replicas().await;
    let url = a.shorten_as("flip-1", "https://example.com/one").await;
    let path = format!("/urls/{}", url["id"]);
    invalidations_cross(a, b, "flip-1", &path, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_target_a_deletion_and_a_new_code_are_seen_everywhere() {
    let Pair { a, b, .. } = &two_replicas().await;
    let url = a.shorten_as("moving", "https://example.com/old").await;
    for replica in [a, b] {
        assert_eq!(
            replica.follow("moving").await.1.as_deref(),
            Some("https://example.com/old")
        );
    }
    let path = format!("/urls/{}", url["id"]);
    retarget(a, b, "moving", &path, "https://example.com/new").await;

    b.delete(&path).await.check_status(204);
    assert_eq!(a.follow("moving").await.0, 404);

    // An unknown code is cached as unknown; creating it must end that everywhere.
    assert_eq!(b.follow("brand-new").await.0, 404);
    assert_eq!(b.follow("brand-new").await.0, 404);
    a.shorten_as("brand-new", "https://example.com/fresh").await;
    assert_eq!(b.follow("brand-new").await.0, 302);
}

/// A code's generation in Redis expires (10 minutes after its last change by default); an
/// L2 value written just before that carries the generation that was current. The next
/// change must not give the code that generation again, or the old value would be taken
/// for current for the rest of its lifetime. The expiry is stood in for by deleting the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_after_a_generation_expired_is_seen_everywhere() {
    let Pair {
        a,
        b,
        _redis: redis,
        ..
    } = &two_replicas().await;
    let url = a.shorten_as("expiring", "https://example.com/old").await;
    assert_eq!(
        b.follow("expiring").await.1.as_deref(),
        Some("https://example.com/old")
    );
    let generation = "kurz:gen:expiring";
    assert_ne!(redis_cli(redis.port, &["GET", generation]).trim(), "");
    assert_eq!(redis_cli(redis.port, &["DEL", generation]).trim(), "1");
    let path = format!("/urls/{}", url["id"]);
    retarget(a, b, "expiring", &path, "https://example.com/new").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_replica_starts_with_the_most_clicked_links_cached() {
    let db = Database::create();
    let redis = Redis::start();
    let env = db_and_redis(&db, &redis);
    let first = Kurz::start(&env);
    first.shorten_as("hot", "https://example.com/hot").await;
    for _ in 0..3 {
        assert_eq!(first.follow("hot").await.0, 302);
    }
    assert_eq!(first.count("/events?event_type=click").await, 3);

    let fresh = Kurz::start(&env);
    fresh
        .wait_for_metric("kurz_cache_prewarmed_links", 1.0, Duration::from_secs(10))
        .await;
    fresh
        .wait_for_ready_field("cache", "ok", Duration::from_secs(10))
        .await;
    // Warmed in L1, after the subscription went live.
    assert_eq!(fresh.follow("hot").await.0, 302);
    assert_eq!(fresh.metric("kurz_cache_store_lookups_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_line_import_reaches_running_replicas() {
    let db = Database::create();
    let redis = Redis::start();
    let env = db_and_redis(&db, &redis);
    let replica = replicas(1, &env).await.remove(0);
    let dir = tempfile::tempdir().unwrap();
    for target in ["https://example.com/first", "https://example.com/second"] {
        let csv = dir.path().join("urls.csv");
        std::fs::write(
            &csv,
            format!(
                "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
                 7,,seeded,{target},Seed,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n"
            ),
        )
        .unwrap();
        kurz_ok(
            kurz_command()
                .args(["import", "--urls"])
                .arg(&csv)
                .envs(env),
        );
        assert_eq!(replica.follow("seeded").await.1.as_deref(), Some(target));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_on_a_cold_code_makes_one_store_query() {
    let db = Database::create();
    let redis = Redis::start();
    let replica = replicas(1, &db_and_redis(&db, &redis)).await.remove(0);
    replica.shorten_as("cold", "https://example.com/").await;
    let before = replica.metric("kurz_cache_store_lookups_total").await;
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let api = replica.api.clone();
            tokio::spawn(async move { api.follow("cold").await.0 })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), 302);
    }
    let after = replica.metric("kurz_cache_store_lookups_total").await;
    assert_eq!(
        after - before,
        1.0,
        "64 concurrent misses on one code must make one store query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_replica_also_starts_with_the_newest_links_never_clicked_cached() {
    let db = Database::create();
    let redis = Redis::start();
    let env = db_and_redis(&db, &redis);
    let first = Kurz::start(&env);
    first
        .shorten_as("clicked", "https://example.com/clicked")
        .await;
    assert_eq!(first.follow("clicked").await.0, 302);
    assert_eq!(first.count("/events?event_type=click").await, 1);
    for code in ["oldest", "newer", "newest"] {
        first
            .shorten_as(code, &format!("https://example.com/{code}"))
            .await;
    }

    // Room for three: the clicked link, then the two newest of those never clicked.
    let fresh = Kurz::start(&[env[0], env[1], ("KURZ_PREWARM", "3")]);
    fresh
        .wait_for_metric("kurz_cache_prewarmed_links", 3.0, Duration::from_secs(10))
        .await;
    fresh
        .wait_for_ready_field("cache", "ok", Duration::from_secs(10))
        .await;
    // The pre-warm put them in L1 without a store lookup or a Redis request each, after
    // the subscription went live (which empties L1); no visit needs either.
    let l2 = |metrics: String| metric_sum(&metrics, "kurz_cache_requests_total", &["tier=\"l2\""]);
    let warming = fresh.metric("kurz_cache_store_lookups_total").await;
    let warming_l2 = l2(fresh.metrics().await);
    assert_eq!((warming, warming_l2), (0.0, 0.0));
    for code in ["clicked", "newest", "newer"] {
        assert_eq!(fresh.follow(code).await.0, 302);
    }
    assert_eq!(
        fresh.metric("kurz_cache_store_lookups_total").await,
        warming
    );
    assert_eq!(
        l2(fresh.metrics().await),
        warming_l2,
        "the warmed links are answered from L1"
    );
    assert_eq!(fresh.follow("oldest").await.0, 302);
    assert_eq!(
        fresh.metric("kurz_cache_store_lookups_total").await,
        warming + 1.0
    );
}

/// A link being visited is read again before it leaves a replica's L1, from the database
/// itself and not from Redis (which keeps what it was filled with for minutes): a change
/// made in the database behind kurz's back reaches the visitors within L1's lifetime, and
/// no visit meanwhile misses L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_visited_link_is_refreshed_from_the_database_before_it_leaves_l1() {
    let db = Database::create();
    let redis = Redis::start();
    let mut env = db_and_redis(&db, &redis).to_vec();
    // Links live 4.5 to 6 s in L1 here, and are due for a refresh in their last 0.75 s.
    env.push(("KURZ_L1_TTL_SECS", "6"));
    let kurz = Kurz::start(&env);
    kurz.wait_for_ready_field("cache", "ok", Duration::from_secs(10))
        .await;
    kurz.shorten_as("hot", "https://example.com/before").await;
    assert_eq!(
        kurz.follow("hot").await.1.as_deref(),
        Some("https://example.com/before")
    );
    let missed_before = kurz.l1_misses().await;

    db.execute(
        "UPDATE urls SET original_url = 'https://example.com/after' WHERE short_code = 'hot'",
    );
    kurz.assert_refreshed_within_l1("hot", "https://example.com/after", missed_before)
        .await;
}
