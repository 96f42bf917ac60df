//! Link lifecycle across replicas: two replicas on one PostgreSQL and one Redis redirect
//! exactly `max_clicks` human visits in all, however the visits are split and however many
//! arrive at once, also across a Redis restart, and none while the database cannot count;
//! passwords, expiry and rules decide the same on both, and neither the password nor its
//! hash is in any log line or Redis value.

use crate::common::prelude::*;
use crate::common::visits::{CHROME, FACEBOOK, GOOGLEBOT, IPHONE};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Neither the password nor its hash is anywhere: not in any Redis value, not in either
/// replica's log.
fn assert_nowhere(redis: &Redis, replicas: &[Kurz], secret: &str) {
    let keys = redis_cli(redis.port, &["--scan"]);
    assert!(keys.lines().count() > 0, "the replicas use this Redis");
    for key in keys.lines().filter(|k| !k.is_empty()) {
        let kind = redis_cli(redis.port, &["TYPE", key]);
        let read: &[&str] = match kind.trim() {
            "string" => &["GET"],
            "hash" => &["HGETALL"],
            "set" => &["SMEMBERS"],
            "list" => &["LRANGE"],
            "zset" => &["ZRANGE"],
            other => panic!("{key}: a value of type {other:?} this check cannot read"),
        };
        let mut args = read.to_vec();
        args.push(key);
        if matches!(kind.trim(), "list" | "zset") {
            args.extend(["0", "-1"]);
        }
        let value = redis_cli(redis.port, &args);
        assert!(
            !value.contains(secret) && !value.contains("argon2"),
            "{key}: {value}"
        );
    }
    for replica in replicas {
        let log = replica.log();
        assert!(
            !log.contains(secret) && !log.contains("argon2"),
            "a log line holds it"
        );
    }
}

/// `count` human visits of `code` at once, alternating between the replicas; how many got
/// each status.
async fn visit_at_once(both: &[Kurz], code: &str, count: usize) -> BTreeMap<u16, usize> {
    let visits = (0..count).map(|i| {
        let api = both[i % both.len()].api.clone();
        let path = format!("/{code}");
        tokio::spawn(async move {
            api.get_with_headers(&path, &[("User-Agent", CHROME)])
                .await
                .code()
        })
    });
    let mut answers = BTreeMap::new();
    for visit in visits {
        *answers.entry(visit.await.unwrap()).or_insert(0) += 1;
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cap_is_exact_across_replicas_and_a_redis_restart() {
    let db = Database::create();
    let mut redis = Redis::start();
    let both = replicas(2, &db_and_redis(&db, &redis)).await;
    let (a, b) = (&both[0], &both[1]);

    let url = a
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/capped", "max_clicks": 50}),
        )
        .await
        .expect_json(201);
    let code = str_of(&url, "short_code").to_owned();
    // Crawlers and previews on both replicas: redirected, not counted.
    for (i, agent) in [GOOGLEBOT, FACEBOOK].iter().cycle().take(20).enumerate() {
        both[i % 2]
            .get_with_headers(&format!("/{code}"), &[("User-Agent", agent)])
            .await
            .expect(302);
    }
    let answers = visit_at_once(&both, &code, 200).await;
    assert_eq!(answers, [(302, 50), (410, 150)].into(), "exactly 50 in all");
    assert_eq!(b.clicks_stored(id_of(&url), 70).await, 70);

    // A cap half spent when Redis restarts empty: the rest, and no more.
    let second = b
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/again", "max_clicks": 30}),
        )
        .await
        .expect_json(201);
    let again = str_of(&second, "short_code").to_owned();
    assert_eq!(visit_at_once(&both, &again, 10).await, [(302, 10)].into());
    redis.kill();
    redis.restart();
    wait_for_all(&both, "cache", "ok", Duration::from_secs(15)).await;
    let answers = visit_at_once(&both, &again, 60).await;
    assert_eq!(answers, [(302, 20), (410, 40)].into(), "30 in all");
    // Raised on one replica, the cap is raised on both at once.
    let id = id_of(&second);
    a.put_json(&format!("/urls/{id}"), &json!({"max_clicks": 31}))
        .await
        .expect(200);
    assert_eq!(
        visit_at_once(&both[1..], &again, 2).await,
        [(302, 1), (410, 1)].into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passwords_rules_and_expiry_decide_the_same_on_every_replica() {
    let db = Database::create();
    let redis = Redis::start();
    // Every log line kurz writes, so that the check of the logs below has lines to read.
    let mut env = db_and_redis(&db, &redis).to_vec();
    env.push(("KURZ_LOG", "debug"));
    let both = replicas(2, &env).await;
    let (a, b) = (&both[0], &both[1]);
    let secret = "replicated secret";
    let url = a
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/default", "password": secret,
                    "rules": [{"when": {"device": "ios"}, "target": "https://example.com/ios"}]}),
        )
        .await
        .expect_json(201);
    let (id, code) = (id_of(&url), str_of(&url, "short_code").to_owned());
    let path = format!("/{code}");
    // Four attempts in all: the limit of five per client and link is shared by both.
    for replica in [a, b] {
        replica.get(&path).await.expect_error(401);
        let ios = replica
            .get_with_headers(
                &path,
                &[("User-Agent", IPHONE), ("X-Link-Password", secret)],
            )
            .await
            .expect(302);
        assert_eq!(ios.location().as_deref(), Some("https://example.com/ios"));
        let other = replica
            .get_with_headers(
                &path,
                &[("User-Agent", CHROME), ("X-Link-Password", secret)],
            )
            .await
            .expect(302);
        assert_eq!(
            other.location().as_deref(),
            Some("https://example.com/default")
        );
    }
    let limited = a
        .get_with_headers(&path, &[("X-Link-Password", "guess")])
        .await;
    assert_eq!(limited.code(), 401, "the fifth attempt");
    let limited = b
        .get_with_headers(&path, &[("X-Link-Password", secret)])
        .await;
    assert_eq!(
        limited.code(),
        429,
        "the sixth, on the other replica: {}",
        limited.body
    );
    // While the link is protected and both replicas have served it.
    assert_nowhere(&redis, &both, secret);
    // A change on one replica decides the next visit on the other.
    b.put_json(
        &format!("/urls/{id}"),
        &json!({"password": null, "rules": null, "expires_at": "2099-01-01T00:00:00",
                "fallback_url": "https://example.com/after"}),
    )
    .await
    .expect(200);
    let open = a.get(&path).await.expect(302);
    assert_eq!(
        open.location().as_deref(),
        Some("https://example.com/default")
    );
    let resolved = a
        .get(&format!("/urls/{id}/resolve?at=2099-01-02T00:00:00"))
        .await
        .expect_json(200);
    assert_eq!(
        (&resolved["outcome"], &resolved["target"]),
        (&json!("fallback"), &json!("https://example.com/after"))
    );

    assert_nowhere(&redis, &both, secret);

    // An expiry a moment away: both replicas redirect before it and answer 410 after.
    let soon = (time::OffsetDateTime::now_utc() + Duration::from_secs(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let ending = a
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/ending", "expires_at": soon}),
        )
        .await
        .expect_json(201);
    let ending = format!("/{}", str_of(&ending, "short_code"));
    for replica in [a, b] {
        replica.get(&ending).await.expect(302);
    }
    for replica in [a, b] {
        eventually("the link ending", Duration::from_secs(20), || async {
            match replica.get(&ending).await.code() {
                410 => Ok(()),
                other => Err(format!("{other}")),
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capped_link_fails_closed_while_its_database_is_down() {
    let cluster = PrivateCluster::start();
    let redis = Redis::start();
    let database = cluster.url();
    let kurz = Kurz::start(&[
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", &redis.url),
    ]);
    kurz.wait_for_ready_status(200, Duration::from_secs(20))
        .await;
    let url = kurz
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/capped", "max_clicks": 3}),
        )
        .await
        .expect_json(201);
    let code = str_of(&url, "short_code").to_owned();
    let plain = kurz.shorten("https://example.com/plain").await;
    let plain_code = str_of(&plain, "short_code").to_owned();
    let human = [("User-Agent", CHROME)];
    kurz.get_with_headers(&format!("/{code}"), &human)
        .await
        .expect(302);
    kurz.follow(&plain_code).await;

    cluster.stop_immediately();
    // Cached, but the cap cannot be counted: refused, never let through uncounted.
    for _ in 0..5 {
        let refused = kurz.get_with_headers(&format!("/{code}"), &human).await;
        refused.expect_error(503);
        // The plain link, cached, needs no database.
        assert_eq!(kurz.follow(&plain_code).await.0, 302);
    }
    cluster.start_server();
    eventually(
        "the capped link counting again once the database is back",
        Duration::from_secs(15),
        || async {
            match kurz
                .get_with_headers(&format!("/{code}"), &human)
                .await
                .code()
            {
                302 => Ok(()),
                other => Err(format!("{other}")),
            }
        },
    )
    .await;
    let last = kurz.get_with_headers(&format!("/{code}"), &human).await;
    assert_eq!(last.code(), 302, "the third of three");
    kurz.get_with_headers(&format!("/{code}"), &human)
        .await
        .expect_error(410);
}
