//! The command-line seed files (`kurz seed`, `kurz import`), run on the real binary, then
//! served.

use crate::common::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use tempfile::TempDir;

type Row = HashMap<String, String>;

/// `kurz import --users … --urls … --events …` on `data_dir`; asserts it succeeds.
async fn import_seed(data_dir: &std::path::Path) {
    let mut command = kurz_command_on(data_dir);
    command
        .arg("import")
        .arg("--users")
        .arg(seed_file("users.csv"))
        .arg("--urls")
        .arg(seed_file("urls.csv"))
        .arg("--events")
        .arg(seed_file("events.csv"));
    tokio::task::spawn_blocking(move || kurz_ok(&mut command))
        .await
        .expect("joining the import");
}

fn max_id(rows: &[Row]) -> i64 {
    rows.iter()
        .map(|r| r["id"].parse::<i64>().expect("seed id"))
        .max()
        .expect("seed rows")
}

fn optional_id(raw: &str) -> Value {
    if raw.trim().is_empty() {
        Value::Null
    } else {
        json!(raw.trim().parse::<i64>().expect("seed id"))
    }
}

fn seed_bool(raw: &str) -> bool {
    match raw {
        "True" => true,
        "False" => false,
        other => panic!("urls.csv is_active {other:?}"),
    }
}

/// Redirects every seed url, in parallel: active ones must answer 302 to their target,
/// inactive ones 404.
async fn check_redirects(api: &Api, urls: &[Row]) {
    let chunks: Vec<Vec<Row>> = urls.chunks(250).map(<[Row]>::to_vec).collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for row in chunk {
                let code = &row["short_code"];
                let reply = api.get(&format!("/{code}")).await;
                if seed_bool(&row["is_active"]) {
                    assert_eq!(
                        reply.status.as_u16(),
                        302,
                        "active seed code {code}: {}",
                        reply.body
                    );
                    assert_eq!(
                        reply.header("location").as_deref(),
                        Some(row["original_url"].as_str()),
                        "{code}"
                    );
                    assert_eq!(
                        reply.header("cache-control").as_deref(),
                        Some("private, max-age=0")
                    );
                } else {
                    assert_eq!(
                        reply.status.as_u16(),
                        404,
                        "inactive seed code {code}: {}",
                        reply.body
                    );
                    reply.expect_error(404);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("redirect checks");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_import_is_idempotent_and_the_seed_is_served() {
    let data = TempDir::new().unwrap();
    // Into an empty database, then again into the now existing one.
    import_seed(data.path()).await;
    import_seed(data.path()).await;

    let users = seed_rows("users.csv");
    let urls = seed_rows("urls.csv");
    let events = seed_rows("events.csv");
    assert_eq!((users.len(), urls.len(), events.len()), (400, 2000, 3422));

    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/users").await, 400);
    assert_eq!(kurz.count("/urls").await, 2000);
    assert_eq!(kurz.count("/events").await, 3422);

    // Users, as in the file.
    let (listed, _) = kurz.get("/users").await.list();
    assert_eq!(listed.len(), 400);
    for (user, row) in listed.iter().zip(&users) {
        assert_user_is_row(user, row);
    }

    // Urls, as in the file, `True`/`False` as booleans.
    let (listed, _) = kurz.get("/urls").await.list();
    assert_eq!(listed.len(), 2000);
    for (url, row) in listed.iter().zip(&urls) {
        assert_url(url);
        assert_eq!(url["id"].to_string(), row["id"]);
        assert_eq!(url["user_id"], optional_id(&row["user_id"]), "{url}");
        assert_eq!(url["short_code"], row["short_code"].as_str());
        assert_eq!(url["original_url"], row["original_url"].as_str());
        assert_eq!(url["title"], row["title"].as_str());
        assert_eq!(url["is_active"], seed_bool(&row["is_active"]), "{url}");
        assert_eq!(
            url["created_at"],
            wire_datetime(&row["created_at"]).as_str()
        );
        assert_eq!(
            url["updated_at"],
            wire_datetime(&row["updated_at"]).as_str()
        );
    }
    let active = urls.iter().filter(|r| seed_bool(&r["is_active"])).count() as i64;
    assert_eq!(kurz.count("/urls?is_active=true").await, active);
    assert_eq!(kurz.count("/urls?is_active=false").await, 2000 - active);

    // Events, with `details` given as JSON text turned into objects.
    let (listed, _) = kurz.get("/events").await.list();
    assert_eq!(listed.len(), 3422);
    for (event, row) in listed.iter().zip(&events) {
        assert_event(event);
        assert_eq!(event["id"].to_string(), row["id"]);
        assert_eq!(event["url_id"], optional_id(&row["url_id"]));
        assert_eq!(event["user_id"], optional_id(&row["user_id"]));
        assert_eq!(event["event_type"], row["event_type"].as_str());
        assert_eq!(
            event["timestamp"],
            wire_datetime(&row["timestamp"]).as_str()
        );
        let details: Value = serde_json::from_str(&row["details"]).expect("seed details");
        assert_eq!(event["details"], details, "event {}", row["id"]);
    }

    // Every active code redirects to its target; every inactive one is 404.
    check_redirects(&kurz.api, &urls).await;
    assert_eq!(kurz.count("/events?event_type=click").await, active);

    // Every id sequence moved past the imported ids.
    let user = kurz.create_user("after-seed").await;
    assert!(id_of(&user) > max_id(&users), "{user}");
    let url = kurz
        .shorten_for(id_of(&user), "https://example.com/after-seed")
        .await;
    assert!(id_of(&url) > max_id(&urls), "{url}");
    let event = kurz
        .post_json("/events", &json!({ "event_type": "after-seed" }))
        .await
        .expect_json(201);
    assert!(id_of(&event) > max_id(&events), "{event}");
    let event_ids: Vec<i64> = kurz.events("").await.iter().map(id_of).collect();
    assert_eq!(
        event_ids.len(),
        event_ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        "event ids are unique"
    );
    drop(kurz);

    // Importing again into a database that has grown keeps the new rows.
    import_seed(data.path()).await;
    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/users").await, 401);
    assert_eq!(kurz.count("/urls").await, 2001);
    assert_eq!(
        kurz.get(&format!("/users/{}", user["id"]))
            .await
            .expect_json(200),
        user
    );
}

/// `kurz seed` then `kurz import` of what it wrote: the counts asked for are served, and
/// the same seed writes the same files.
#[tokio::test]
async fn generated_seed_files_import_and_are_served() {
    let data = TempDir::new().expect("temp dir");
    let files = TempDir::new().expect("temp dir");
    let out = files.path().to_owned();
    let seed = |dir: std::path::PathBuf| {
        let mut command = kurz_command();
        command.args(["seed", "--users", "30", "--urls", "120", "--events", "200"]);
        command.arg("--output").arg(dir);
        kurz_ok(&mut command)
    };
    let summary: Value = serde_json::from_str(&seed(out.join("a"))).expect("a JSON summary");
    assert_eq!(
        (&summary["users"], &summary["urls"], &summary["events"]),
        (&json!(30), &json!(120), &json!(200))
    );
    seed(out.join("b"));
    for name in ["users.csv", "urls.csv", "events.csv"] {
        let read = |dir: &str| std::fs::read(out.join(dir).join(name)).expect("a seed file");
        assert_eq!(read("a"), read("b"), "{name} differs between two runs");
    }

    let mut command = kurz_command_on(data.path());
    command.arg("import");
    for (flag, name) in [
        ("--users", "users.csv"),
        ("--urls", "urls.csv"),
        ("--events", "events.csv"),
    ] {
        command.arg(flag).arg(out.join("a").join(name));
    }
    tokio::task::spawn_blocking(move || kurz_ok(&mut command))
        .await
        .expect("joining the import");
    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/users").await, 30);
    assert_eq!(kurz.count("/urls").await, 120);
    assert_eq!(kurz.count("/events").await, 200);
}
