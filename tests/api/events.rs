//! `/events`: appending events by hand and listing the history with filters.

use crate::common::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn create_event_returns_201_and_the_event() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let url = app.shorten_for(id_of(&user), "https://example.com/e").await;
    let details = json!({ "source": "test", "nested": { "n": 1, "list": [1, "two", null] }, "unicode": "ñ 🚀" });
    let event = app
        .post_json(
            "/events",
            &json!({ "event_type": "shared", "url_id": url["id"], "user_id": user["id"], "details": details }),
        )
        .await
        .expect_json(201);
    assert_event(&event);
    assert_eq!(event["event_type"], "shared");
    assert_eq!(event["url_id"], url["id"]);
    assert_eq!(event["user_id"], user["id"]);
    assert_eq!(event["details"], details);

    let listed = app.events("event_type=shared").await;
    assert_eq!(listed, vec![event]);
}

#[tokio::test]
async fn details_default_to_an_empty_object() {
    let app = spawn_app().await;
    let event = app
        .post_json("/events", &json!({ "event_type": "ping" }))
        .await
        .expect_json(201);
    assert_event(&event);
    assert_eq!(event["details"], json!({}));
    assert_eq!(event["url_id"], Value::Null);
    assert_eq!(event["user_id"], Value::Null);

    let event = app
        .post_json("/events", &json!({ "event_type": "ping", "details": null }))
        .await
        .expect_json(201);
    assert_eq!(event["details"], json!({}));

    let event = app
        .post_json(
            "/events",
            &json!({ "event_type": "ping", "url_id": null, "user_id": null, "details": {} }),
        )
        .await
        .expect_json(201);
    assert_eq!(event["details"], json!({}));

    for event in app.events("").await {
        assert!(event["details"].is_object(), "{event}");
    }
}

#[tokio::test]
async fn unknown_url_or_user_is_404() {
    let app = spawn_app().await;
    let user = app.create_user("real").await;
    let url = app.shorten("https://example.com/real").await;
    app.post_json(
        "/events",
        &json!({ "event_type": "x", "url_id": 9999, "user_id": user["id"] }),
    )
    .await
    .expect_error(404);
    app.post_json(
        "/events",
        &json!({ "event_type": "x", "url_id": url["id"], "user_id": 9999 }),
    )
    .await
    .expect_error(404);
    app.post_json("/events", &json!({ "event_type": "x", "user_id": 9999 }))
        .await
        .expect_error(404);
    assert!(app.events("event_type=x").await.is_empty());
}

#[tokio::test]
async fn invalid_fields_are_422_with_details() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), "event_type"),
        (json!({ "details": {} }), "event_type"),
        (json!({ "event_type": null }), "event_type"),
        (json!({ "event_type": 5 }), "event_type"),
        (json!({ "event_type": "" }), "event_type"),
        (
            json!({ "event_type": "x", "details": "a string" }),
            "details",
        ),
        (
            json!({ "event_type": "x", "details": "{\"looks\":\"like json\"}" }),
            "details",
        ),
        (json!({ "event_type": "x", "details": [1, 2] }), "details"),
        (json!({ "event_type": "x", "details": 3 }), "details"),
        (json!({ "event_type": "x", "details": true }), "details"),
        (json!({ "event_type": "x", "url_id": "1" }), "url_id"),
        (json!({ "event_type": "x", "url_id": 1.5 }), "url_id"),
        (json!({ "event_type": "x", "user_id": "abc" }), "user_id"),
        (json!({ "event_type": "x", "user_id": false }), "user_id"),
    ];
    app.assert_invalid(Method::POST, "/events", &cases).await;
    assert_eq!(app.count("/events").await, 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400() {
    let app = spawn_app().await;
    let valid = r#"{"event_type":"x"}"#;
    let cases: [(&str, Option<&str>); 7] = [
        ("event_type=x", Some("application/json")),
        (r#""click""#, Some("application/json")),
        (r#"[{"event_type":"x"}]"#, Some("application/json")),
        ("null", Some("application/json")),
        ("{\"event_type\":", Some("application/json")),
        (valid, None),
        (valid, Some("text/plain")),
    ];
    app.assert_bodies_refused(&[(Method::POST, "/events")], &cases)
        .await;
    assert_eq!(app.count("/events").await, 0);
}

#[tokio::test]
async fn list_events_filters_by_url_user_and_type() {
    let app = spawn_app().await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let a = app
        .shorten_for(id_of(&alice), "https://example.com/a")
        .await;
    let b = app.shorten_for(id_of(&bob), "https://example.com/b").await;
    app.get(&format!("/{}", str_of(&a, "short_code")))
        .await
        .expect(302);
    app.get(&format!("/{}", str_of(&a, "short_code")))
        .await
        .expect(302);
    app.get(&format!("/{}", str_of(&b, "short_code")))
        .await
        .expect(302);
    let note = app
        .post_json(
            "/events",
            &json!({ "event_type": "note", "user_id": alice["id"] }),
        )
        .await
        .expect_json(201);

    let (all, total) = app.get("/events").await.list();
    assert_eq!(total, 6, "2 created + 3 clicks + 1 note");
    assert_eq!(all.len(), 6);

    let by_url = app.events(&format!("url_id={}", a["id"])).await;
    let types: Vec<&str> = by_url.iter().map(|e| str_of(e, "event_type")).collect();
    assert_eq!(types, ["created", "click", "click"]);

    let by_user = app.events(&format!("user_id={}", alice["id"])).await;
    assert_eq!(by_user.len(), 4);
    assert!(by_user.iter().all(|e| e["user_id"] == alice["id"]));
    assert_eq!(by_user.last(), Some(&note));

    let clicks = app.events("event_type=click").await;
    assert_eq!(clicks.len(), 3);
    assert!(clicks.iter().all(|e| e["event_type"] == "click"));

    let combined = app
        .events(&format!("url_id={}&event_type=click", b["id"]))
        .await;
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0]["user_id"], bob["id"]);

    assert!(app.events("event_type=nothing").await.is_empty());
    assert!(app.events("url_id=424242").await.is_empty());

    // Filters as a JSON body on GET.
    let (by_body, total) = app
        .get_json(
            "/events",
            &json!({ "url_id": a["id"], "event_type": "click" }),
        )
        .await
        .list();
    assert_eq!(total, 2);
    assert_eq!(ids(&by_body), ids(&by_url[1..]));
}

#[tokio::test]
async fn bad_event_filter_values_are_422() {
    let app = spawn_app().await;
    for (query, field) in [
        ("url_id=abc", "url_id"),
        ("user_id=abc", "user_id"),
        ("url_id=1.5", "url_id"),
        ("user_id=%27%20OR%201%3D1", "user_id"),
    ] {
        app.get(&format!("/events?{query}"))
            .await
            .expect_invalid_of(field, query);
    }
}

#[tokio::test]
async fn events_outlive_the_rows_they_name() {
    let app = spawn_app().await;
    let user = app.create_user("ephemeral").await;
    let url = app
        .shorten_for(id_of(&user), "https://example.com/ephemeral")
        .await;
    let custom = app
        .post_json(
            "/events",
            &json!({ "event_type": "custom", "url_id": url["id"], "user_id": user["id"], "details": {"k": "v"} }),
        )
        .await
        .expect_json(201);
    app.delete(&format!("/urls/{}", url["id"]))
        .await
        .expect(204);
    app.delete(&format!("/users/{}", user["id"]))
        .await
        .expect(204);

    let events = app.events(&format!("url_id={}", url["id"])).await;
    let types: Vec<&str> = events.iter().map(|e| str_of(e, "event_type")).collect();
    assert_eq!(types, ["created", "custom", "deleted"]);
    assert!(events.iter().all(|e| e["user_id"] == user["id"]));
    assert_eq!(events[1], custom);
}

#[tokio::test]
async fn one_event_by_id_as_listed() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/one-event").await;
    let code = url["short_code"].as_str().unwrap();
    assert_eq!(app.follow(code).await.0, 302);
    let event = app
        .post_json(
            "/events",
            &json!({ "event_type": "shared", "url_id": url["id"] }),
        )
        .await
        .expect_json(201);

    // Every event listed (the create's, the click, the one above) reads the same by id.
    let listed = app.events("").await;
    assert!(listed.len() >= 3, "{listed:?}");
    for expected in &listed {
        let one = app
            .get(&format!("/events/{}", expected["id"]))
            .await
            .expect_json(200);
        assert_eq!(&one, expected);
    }
    let shared = app
        .get(&format!("/events/{}", event["id"]))
        .await
        .expect_json(200);
    assert_eq!(shared, event);
    let click = listed.iter().find(|e| e["event_type"] == "click").unwrap();
    assert_eq!(click["url_id"], url["id"]);
}

#[tokio::test]
async fn unknown_event_is_404_json() {
    let app = spawn_app().await;
    for path in [
        "/events/999999",
        "/events/0",
        "/events/-1",
        "/events/abc",
        "/events/1.5",
    ] {
        let error = app.get(path).await.expect_error(404);
        assert_eq!(error["error"], "event not found", "{path}");
    }
}

/// The embedded store's click writer held up for longer than a second (another connection
/// holds the database's write lock) while the click queue is full: the redirects wait for
/// room for as long as the store's timeout, and no click is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_embedded_click_writer_held_up_for_seconds_loses_no_click() {
    let dir = tempfile::TempDir::new().unwrap();
    let kurz = Kurz::options()
        .data_dir(dir.path())
        .envs(&[
            ("KURZ_CLICK_QUEUE", "50"),
            ("KURZ_CLICK_BATCH", "10"),
            ("KURZ_DB_TIMEOUT_MS", "5000"),
        ])
        .start();
    let url = kurz.shorten_as("stalled", "https://example.com/").await;
    assert_eq!(kurz.follow("stalled").await.0, 302);
    kurz.clicks_stored(id_of(&url), 1).await;

    let file = format!("sqlite://{}", dir.path().join("kurz.db").display());
    let mut lock: sqlx::SqliteConnection = holding(&file, "BEGIN IMMEDIATE").await;
    let held = std::time::Duration::from_millis(1500);
    clicks_wait_out_a_held_lock(&kurz, ("stalled", id_of(&url)), &mut lock, held).await;
}

/// A read of events flushes the click queue first, but gives up on it after a while: with
/// the click writer held up and the queue full, a list of events still answers (without
/// the clicks not yet written) before the request timeout, and once the writer goes on
/// every click is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_of_events_behind_a_full_queue_and_a_stalled_writer_still_answers() {
    let dir = tempfile::TempDir::new().unwrap();
    let kurz = Kurz::options()
        .data_dir(dir.path())
        .envs(&[
            ("KURZ_CLICK_QUEUE", "50"),
            ("KURZ_CLICK_BATCH", "10"),
            // The writer waits out the lock below, and redirects wait for room as long.
            ("KURZ_DB_TIMEOUT_MS", "30000"),
            // Past the flush's own bound of 5 s: a read waiting on the full queue until
            // the writer goes on would answer 503 here instead.
            ("KURZ_REQUEST_TIMEOUT_MS", "9000"),
        ])
        .start();
    let url = kurz.shorten_as("queued", "https://example.com/").await;
    let file = format!("sqlite://{}", dir.path().join("kurz.db").display());
    let mut lock: sqlx::SqliteConnection = holding(&file, "BEGIN IMMEDIATE").await;
    let redirects = fill_the_click_queue(&kurz, "queued", 20, 5).await;
    let read = kurz.get(&format!("/events?url_id={}", id_of(&url))).await;
    assert_eq!(read.status.as_u16(), 200, "{}", read.body);
    sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
    redirects.await.unwrap();
    assert_eq!(kurz.clicks_stored(id_of(&url), 100).await, 100);
    assert_eq!(kurz.metric("kurz_clicks_dropped_total").await, 0.0);
}
