//! Stats across replicas: two replicas on one PostgreSQL (and one Redis) take the visits
//! between them, and either answers the same stats, equal to the redirects both answered.

use crate::common::prelude::*;
use crate::common::visits::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_count_every_visit_once_and_answer_the_same_stats() {
    let db = Database::create();
    let redis = Redis::start();
    let dir = tempfile::TempDir::new().unwrap();
    let countries = geoip_db(dir.path());
    let mut env = db_and_redis(&db, &redis).to_vec();
    env.push(("KURZ_TRUSTED_PROXIES", TRUSTED_PROXY));
    env.push(("KURZ_GEOIP_DB", countries.to_str().unwrap()));
    let both = replicas(2, &env).await;
    let (a, b) = (&both[0], &both[1]);

    // The known visits, alternating: the first two (one visitor) reach different replicas.
    let url = a.shorten("https://example.com/counted").await;
    let code = str_of(&url, "short_code").to_owned();
    for (i, &visit) in VISITS.iter().enumerate() {
        send_visit(&both[i % 2], &code, visit).await;
    }
    let id = id_of(&url);
    assert_eq!(a.clicks_stored(id, VISITS.len() as u64).await, 9);
    for replica in [a, b] {
        let stats = replica
            .get(&format!("/urls/{id}/stats"))
            .await
            .expect_json(200);
        check_visits_stats(&stats, VISIT_COUNTRIES);
    }

    // A burst at once through both: 20 people, 10 visits each.
    let busy = b.shorten("https://example.com/busy").await;
    let busy_code = str_of(&busy, "short_code").to_owned();
    let visits = (0..200).map(|i| {
        let api = both[i % 2].api.clone();
        let code = busy_code.clone();
        tokio::spawn(async move {
            let client = format!("203.0.113.{}", i % 20);
            api.get_with_headers(
                &format!("/{code}"),
                &[("User-Agent", CHROME), ("X-Forwarded-For", &client)],
            )
            .await
            .code()
        })
    });
    let mut redirected = 0;
    for visit in visits {
        if visit.await.unwrap() == 302 {
            redirected += 1;
        }
    }
    assert_eq!(redirected, 200);
    let busy_id = id_of(&busy);
    assert_eq!(b.clicks_stored(busy_id, 200).await, 200);
    for replica in [a, b] {
        let stats = replica
            .get(&format!("/urls/{busy_id}/stats"))
            .await
            .expect_json(200);
        assert_eq!(
            (&stats["total"], &stats["humans"], &stats["unique_visitors"]),
            (&json!(200), &json!(200), &json!(20)),
            "{stats}"
        );
        let all = replica.get("/stats").await.expect_json(200);
        assert_eq!(
            (&all["total"], &all["humans"], &all["unique_visitors"]),
            (&json!(209), &json!(204), &json!(23)),
            "{all}"
        );
    }
}
