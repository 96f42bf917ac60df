//! Correctness across replicas under concurrency: the database decides.

use crate::common::prelude::*;
use serde_json::json;
use std::collections::HashSet;

async fn two_replicas(db: &Database) -> (Kurz, Kurz) {
    let mut both = replicas(2, &[("DATABASE_URL", db.url.as_str())]).await;
    let b = both.pop().unwrap();
    (both.pop().unwrap(), b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_on_two_replicas_get_distinct_codes_and_no_errors() {
    let db = Database::create();
    let (a, b) = two_replicas(&db).await;
    let creates = (0..300).map(|i| {
        let api = if i % 2 == 0 {
            a.api.clone()
        } else {
            b.api.clone()
        };
        tokio::spawn(async move {
            api.post_json(
                "/urls",
                &json!({"original_url": "https://example.com/same"}),
            )
            .await
        })
    });
    let mut codes = HashSet::new();
    for create in creates {
        let url = create.await.unwrap().expect(201).json();
        codes.insert(str_of(&url, "short_code").to_owned());
    }
    assert_eq!(codes.len(), 300, "every create got its own code");
    assert_eq!(a.count("/urls").await, 300);
    assert_eq!(b.count("/events?event_type=created").await, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_custom_code_asked_of_two_replicas_at_once_is_given_once() {
    let db = Database::create();
    let (a, b) = two_replicas(&db).await;
    for round in 0..20 {
        let code = format!("race-{round}");
        let ask = |api: Api| {
            let code = code.clone();
            tokio::spawn(async move {
                api.post_json(
                    "/urls",
                    &json!({"original_url": "https://example.com/", "short_code": code}),
                )
                .await
                .code()
            })
        };
        let (first, second) = (ask(a.api.clone()), ask(b.api.clone()));
        let mut statuses = [first.await.unwrap(), second.await.unwrap()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
    }
    assert_eq!(a.count("/urls").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_import_racing_with_creates_keeps_ids_consistent() {
    let db = Database::create();
    let (a, b) = two_replicas(&db).await;
    let creates: Vec<_> = (0..60)
        .map(|i| {
            let api = b.api.clone();
            tokio::spawn(async move {
                let body = json!({"username": format!("racer{i}"), "email": format!("racer{i}@example.com")});
                api.post_json("/users", &body).await
            })
        })
        .collect();
    a.bulk_import(read_seed("users.csv"), None)
        .await
        .check_status(201);
    let mut created_ids = Vec::new();
    for create in creates {
        let user = create.await.unwrap().expect(201).json();
        created_ids.push(id_of(&user));
    }
    // Creates that ran before the import may have taken ids the CSV then claimed (upsert by
    // id); every create after it got an id past the CSV's. Either way: no collision, no 5xx,
    // and the sequence ends past every id.
    let survivors = created_ids.iter().filter(|id| **id > 400).count() as i64;
    assert_eq!(a.count("/users").await, 400 + survivors);
    let next = a.create_user_with("last", "last@example.com").await;
    let max_created = created_ids.iter().copied().max().unwrap_or(0);
    assert!(id_of(&next) > max_created.max(400));
}
