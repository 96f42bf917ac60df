//! Correctness across replicas under concurrency: the database decides.

use crate::client::*;
use crate::support::{Database, Kurz};
use serde_json::json;
use std::collections::HashSet;

fn replicas(db: &Database) -> (Kurz, Kurz) {
    let env = [("DATABASE_URL", db.url.as_str())];
    (Kurz::start(&env), Kurz::start(&env))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_on_two_replicas_get_distinct_codes_and_no_errors() {
    let db = Database::create();
    let (a, b) = replicas(&db);
    let client = http();
    let creates = (0..300).map(|i| {
        let (client, base) = (client.clone(), if i % 2 == 0 { a.base() } else { b.base() });
        tokio::spawn(async move {
            post(
                &client,
                &base,
                "/urls",
                json!({"original_url": "https://example.com/same"}),
            )
            .await
        })
    });
    let mut codes = HashSet::new();
    for create in creates {
        let (status, url) = create.await.unwrap();
        assert_eq!(status, 201, "{url}");
        codes.insert(url["short_code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes.len(), 300, "every create got its own code");
    assert_eq!(total(&client, &a.base(), "/urls").await, 300);
    assert_eq!(
        total(&client, &b.base(), "/events?event_type=created").await,
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_custom_code_asked_of_two_replicas_at_once_is_given_once() {
    let db = Database::create();
    let (a, b) = replicas(&db);
    let client = http();
    for round in 0..20 {
        let code = format!("race-{round}");
        let ask = |base: String| {
            let (client, code) = (client.clone(), code.clone());
            tokio::spawn(async move {
                post(
                    &client,
                    &base,
                    "/urls",
                    json!({"original_url": "https://example.com/", "short_code": code}),
                )
                .await
                .0
            })
        };
        let (first, second) = (ask(a.base()), ask(b.base()));
        let mut statuses = [first.await.unwrap(), second.await.unwrap()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
    }
    assert_eq!(total(&client, &a.base(), "/urls").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_import_racing_with_creates_keeps_ids_consistent() {
    let db = Database::create();
    let (a, b) = replicas(&db);
    let client = http();
    let csv =
        std::fs::read(crate::support::seed_dir().join("users.csv")).expect("the seed users.csv");
    let creates: Vec<_> = (0..60)
        .map(|i| {
            let (client, base) = (client.clone(), b.base());
            tokio::spawn(async move {
                let body = json!({"username": format!("racer{i}"), "email": format!("racer{i}@example.com")});
                post(&client, &base, "/users", body).await
            })
        })
        .collect();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv).file_name("users.csv"),
    );
    let import = client
        .post(format!("{}/users/bulk", a.base()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(import.status().as_u16(), 201);
    let mut created_ids = Vec::new();
    for create in creates {
        let (status, user) = create.await.unwrap();
        assert_eq!(status, 201, "{user}");
        created_ids.push(user["id"].as_i64().unwrap());
    }
    // Creates that ran before the import may have taken ids the CSV then claimed (upsert by
    // id); every create after it got an id past the CSV's. Either way: no collision, no 5xx,
    // and the sequence ends past every id.
    let survivors = created_ids.iter().filter(|id| **id > 400).count() as i64;
    assert_eq!(total(&client, &a.base(), "/users").await, 400 + survivors);
    let (status, next) = post(
        &client,
        &a.base(),
        "/users",
        json!({"username": "last", "email": "last@example.com"}),
    )
    .await;
    assert_eq!(status, 201);
    let max_created = created_ids.iter().copied().max().unwrap_or(0);
    assert!(next["id"].as_i64().unwrap() > max_created.max(400));
}
