//! `/urls`: create (generated and custom codes), read, update (audit trail), delete, list.

use crate::common::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn create_url_returns_201_and_the_url() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let reply = app
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com/a/b?c=d#e", "user_id": user["id"], "title": "A title" }),
        )
        .await;
    let url = reply.expect_json(201);
    assert_url(&url);
    assert_eq!(url["user_id"], user["id"]);
    assert_eq!(url["original_url"], "https://example.com/a/b?c=d#e");
    assert_eq!(url["title"], "A title");
    assert_eq!(url["is_active"], true);
    assert!(
        is_generated_code(str_of(&url, "short_code")),
        "generated codes are 6 of [A-Za-z0-9]: {url}"
    );

    let fetched = app
        .get(&format!("/urls/{}", url["id"]))
        .await
        .expect_json(200);
    assert_eq!(fetched, url);
}

#[tokio::test]
async fn owner_and_title_are_optional() {
    let app = spawn_app().await;
    let url = app
        .create_url(&json!({ "original_url": "http://example.com" }))
        .await;
    assert_eq!(url["user_id"], Value::Null);
    assert_eq!(url["title"], Value::Null);
    let url = app
        .create_url(
            &json!({ "original_url": "http://example.com", "user_id": null, "title": null }),
        )
        .await;
    assert_eq!(url["user_id"], Value::Null);
    assert_eq!(url["title"], Value::Null);
}

#[tokio::test]
async fn two_creates_of_the_same_url_give_two_links() {
    let app = spawn_app().await;
    let target = "https://example.com/same";
    let first = app.shorten(target).await;
    let second = app.shorten(target).await;
    assert_ne!(first["id"], second["id"]);
    assert_ne!(first["short_code"], second["short_code"]);
    for url in [&first, &second] {
        assert!(is_generated_code(str_of(url, "short_code")), "{url}");
        assert_eq!(url["original_url"], target);
    }
    let (urls, total) = app.get("/urls").await.list();
    assert_eq!(total, 2);
    assert_eq!(urls, vec![first, second]);
}

#[tokio::test]
async fn generated_codes_are_distinct_across_many_creates() {
    let app = spawn_app().await;
    let mut codes = std::collections::HashSet::new();
    for i in 0..200 {
        let url = app.shorten(&format!("https://example.com/{i}")).await;
        let code = str_of(&url, "short_code").to_owned();
        assert!(is_generated_code(&code), "{code}");
        assert!(codes.insert(code), "a generated code was returned twice");
    }
}

#[tokio::test]
async fn unknown_url_is_404_json() {
    let app = spawn_app().await;
    for path in ["/urls/1", "/urls/424242", "/urls/0", "/urls/abc"] {
        app.get(path).await.expect_error(404);
    }
    app.put_json("/urls/424242", &json!({ "title": "x" }))
        .await
        .expect_error(404);
    app.delete("/urls/424242").await.expect_error(404);
}

#[tokio::test]
async fn unknown_owner_is_404() {
    let app = spawn_app().await;
    app.post_json(
        "/urls",
        &json!({ "original_url": "https://example.com", "user_id": 9999 }),
    )
    .await
    .expect_error(404);
    assert_eq!(app.count("/urls").await, 0);
    assert_eq!(app.count("/events").await, 0);
}

#[tokio::test]
async fn custom_short_codes_are_accepted() {
    let app = spawn_app().await;
    for code in ["abc", "my-link_01", "ABC-def_123", &"z".repeat(32), "_-_"] {
        let url = app
            .create_url(
                &json!({ "original_url": "https://example.com/custom", "short_code": code }),
            )
            .await;
        assert_eq!(url["short_code"], code);
        let reply = app.get(&format!("/{code}")).await.expect(302);
        assert_eq!(
            reply.header("location").as_deref(),
            Some("https://example.com/custom")
        );
    }
}

#[tokio::test]
async fn a_taken_custom_code_is_409() {
    let app = spawn_app().await;
    let first = app
        .create_url(&json!({ "original_url": "https://example.com/1", "short_code": "mine" }))
        .await;
    app.post_json(
        "/urls",
        &json!({ "original_url": "https://example.com/2", "short_code": "mine" }),
    )
    .await
    .expect_error(409);
    // A generated code is also taken once used.
    let generated = app.shorten("https://example.com/g").await;
    app.post_json(
        "/urls",
        &json!({ "original_url": "https://example.com/3", "short_code": generated["short_code"] }),
    )
    .await
    .expect_error(409);
    let (urls, total) = app.get("/urls").await.list();
    assert_eq!(total, 2);
    assert_eq!(urls, vec![first, generated]);
}

#[tokio::test]
async fn reserved_custom_codes_are_422() {
    let app = spawn_app().await;
    for code in [
        "health", "ready", "metrics", "users", "urls", "events", "Users", "HEALTH",
    ] {
        let reply = app
            .post_json(
                "/urls",
                &json!({ "original_url": "https://example.com", "short_code": code }),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{code}: {}", reply.body);
        reply.expect_invalid("short_code");
    }
    assert_eq!(app.count("/urls").await, 0);
    // The routes still are what they were.
    app.get("/health").await.expect(200);
    app.get("/users").await.expect(200);
}

/// Every route's first segment, as the API describes its routes, is refused as a custom
/// code: a link by that name could never be followed (the route wins over `/{code}`).
#[tokio::test]
async fn no_custom_code_can_take_a_routes_name() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.expect(200).json();
    let mut firsts: Vec<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter_map(|path| path.trim_start_matches('/').split(['/', '.']).next())
        .filter(|first| !first.is_empty() && !first.starts_with('{'))
        .map(str::to_owned)
        .collect();
    firsts.sort();
    firsts.dedup();
    assert!(firsts.contains(&"stats".to_owned()), "{firsts:?}");
    for code in &firsts {
        let reply = app
            .post_json(
                "/urls",
                &json!({ "original_url": "https://example.com", "short_code": code }),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{code}: {}", reply.body);
    }
    assert_eq!(app.count("/urls").await, 0);
}

#[tokio::test]
async fn malformed_custom_codes_are_422() {
    let app = spawn_app().await;
    let too_long = "a".repeat(33);
    for code in [
        "ab", "a", "", &too_long, "a b c", "abc/def", "abc.def", "héllo", "abc%20", "abc?x",
        "abc#x", "../etc",
    ] {
        let reply = app
            .post_json(
                "/urls",
                &json!({ "original_url": "https://example.com", "short_code": code }),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{code:?}: {}", reply.body);
        reply.expect_invalid("short_code");
    }
    let reply = app
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com", "short_code": 12345 }),
        )
        .await;
    reply.expect_invalid("short_code");
    assert_eq!(app.count("/urls").await, 0);
}

#[tokio::test]
async fn invalid_fields_are_422_with_details() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let long = format!("https://example.com/{}", "a".repeat(2048));
    let cases = [
        (json!({}), "original_url"),
        (json!({ "original_url": null }), "original_url"),
        (json!({ "original_url": "" }), "original_url"),
        (json!({ "original_url": "not-a-url" }), "original_url"),
        (json!({ "original_url": "ftp://x.com" }), "original_url"),
        (
            json!({ "original_url": "javascript:alert(1)" }),
            "original_url",
        ),
        (
            json!({ "original_url": "mailto:a@example.com" }),
            "original_url",
        ),
        (
            json!({ "original_url": "file:///etc/passwd" }),
            "original_url",
        ),
        (json!({ "original_url": "/relative/path" }), "original_url"),
        (json!({ "original_url": "example.com" }), "original_url"),
        (json!({ "original_url": "http://" }), "original_url"),
        (json!({ "original_url": long }), "original_url"),
        (json!({ "original_url": 42 }), "original_url"),
        (
            json!({ "original_url": ["https://example.com"] }),
            "original_url",
        ),
        (
            json!({ "original_url": "https://example.com", "user_id": "1" }),
            "user_id",
        ),
        (
            json!({ "original_url": "https://example.com", "user_id": true }),
            "user_id",
        ),
        (
            json!({ "original_url": "https://example.com", "user_id": 1.5 }),
            "user_id",
        ),
        (
            json!({ "original_url": "https://example.com", "user_id": [user["id"]] }),
            "user_id",
        ),
        (
            json!({ "original_url": "https://example.com", "title": 123 }),
            "title",
        ),
        (
            json!({ "original_url": "https://example.com", "title": true }),
            "title",
        ),
        (
            json!({ "original_url": "https://example.com", "title": {"a": "b"} }),
            "title",
        ),
    ];
    app.assert_invalid(Method::POST, "/urls", &cases).await;
    assert_eq!(app.count("/urls").await, 0);
}

#[tokio::test]
async fn a_url_of_2048_characters_is_accepted() {
    let app = spawn_app().await;
    let prefix = "https://example.com/";
    let target = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(target.len(), 2048);
    let url = app.shorten(&target).await;
    assert_eq!(url["original_url"], target.as_str());
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/x").await;
    let put_path = format!("/urls/{}", url["id"]);
    let valid = r#"{"original_url":"https://example.com/y"}"#;
    let cases: [(&str, Option<&str>); 8] = [
        ("https://example.com", Some("application/json")),
        ("{not json", Some("application/json")),
        (r#""https://example.com""#, Some("application/json")),
        (
            r#"[{"original_url":"https://example.com"}]"#,
            Some("application/json"),
        ),
        ("null", Some("application/json")),
        ("true", Some("application/json")),
        (valid, None),
        (valid, Some("text/plain")),
    ];
    app.assert_bodies_refused(&[(Method::POST, "/urls"), (Method::PUT, &put_path)], &cases)
        .await;
    assert_eq!(app.count("/urls").await, 1);
    assert_eq!(app.get(&put_path).await.expect_json(200), url);
}

#[tokio::test]
async fn extra_keys_in_the_body_are_ignored() {
    let app = spawn_app().await;
    let url = app
        .create_url(&json!({
            "original_url": "https://example.com/extra",
            "id": 999,
            "created_at": "1999-01-01T00:00:00",
            "clicks": 12,
        }))
        .await;
    assert_ne!(url["id"], 999);
    let updated = app
        .put_json(
            &format!("/urls/{}", url["id"]),
            &json!({ "title": "t", "short_code": "ignored?", "bogus": [1, 2] }),
        )
        .await
        .expect_json(200);
    assert_eq!(updated["title"], "t");
    assert_eq!(updated["short_code"], url["short_code"]);
}

#[tokio::test]
async fn create_appends_a_created_event() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let url = app
        .shorten_for(id_of(&user), "https://example.com/audit")
        .await;
    let events = app
        .events(&format!("url_id={}&event_type=created", url["id"]))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["url_id"], url["id"]);
    assert_eq!(event["user_id"], user["id"]);
    assert_eq!(
        event["details"],
        json!({ "short_code": url["short_code"], "original_url": "https://example.com/audit" })
    );
}

#[tokio::test]
async fn update_changes_fields_and_appends_one_updated_event_per_changed_field() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let url = app
        .create_url(&json!({ "original_url": "https://example.com/old", "user_id": user["id"], "title": "Old" }))
        .await;
    let path = format!("/urls/{}", url["id"]);

    let updated = app
        .put_json(
            &path,
            &json!({ "title": "New", "is_active": false, "original_url": "https://example.org/new" }),
        )
        .await
        .expect_json(200);
    assert_url(&updated);
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["is_active"], false);
    assert_eq!(updated["original_url"], "https://example.org/new");
    assert_eq!(updated["short_code"], url["short_code"]);
    assert_eq!(updated["user_id"], user["id"]);
    assert_eq!(updated["created_at"], url["created_at"]);
    assert_eq!(app.get(&path).await.expect_json(200), updated);

    let events = app
        .events(&format!("url_id={}&event_type=updated", url["id"]))
        .await;
    let mut changes: Vec<(String, Value)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["url_id"], url["id"]);
            assert_eq!(e["user_id"], user["id"]);
            assert_eq!(
                keys(&e["details"]),
                ["field", "new_value"]
                    .iter()
                    .map(|k| (*k).to_owned())
                    .collect(),
                "{e}"
            );
            (
                str_of(&e["details"], "field").to_owned(),
                e["details"]["new_value"].clone(),
            )
        })
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changes,
        vec![
            ("is_active".to_owned(), json!("false")),
            ("original_url".to_owned(), json!("https://example.org/new")),
            ("title".to_owned(), json!("New")),
        ],
        "one updated event per changed field, new_value as a string"
    );

    // Setting a field to the value it has is no change: no event.
    app.put_json(&path, &json!({ "title": "New", "is_active": false }))
        .await
        .expect(200);
    // Reactivating records "true".
    app.put_json(&path, &json!({ "is_active": true }))
        .await
        .expect(200);
    let events = app
        .events(&format!("url_id={}&event_type=updated", url["id"]))
        .await;
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[3]["details"],
        json!({ "field": "is_active", "new_value": "true" })
    );
}

#[tokio::test]
async fn update_bumps_updated_at() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/t").await;
    // Timestamps have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let updated = app
        .put_json(
            &format!("/urls/{}", url["id"]),
            &json!({ "title": "later" }),
        )
        .await
        .expect_json(200);
    assert_eq!(updated["created_at"], url["created_at"]);
    assert!(
        str_of(&updated, "updated_at") > str_of(&url, "updated_at"),
        "updated_at was not bumped: {} -> {}",
        url["updated_at"],
        updated["updated_at"]
    );
    assert!(str_of(&updated, "updated_at") >= str_of(&updated, "created_at"));
}

#[tokio::test]
async fn update_can_clear_the_title() {
    let app = spawn_app().await;
    let url = app
        .create_url(&json!({ "original_url": "https://example.com", "title": "T" }))
        .await;
    let updated = app
        .put_json(&format!("/urls/{}", url["id"]), &json!({ "title": null }))
        .await
        .expect_json(200);
    assert_eq!(updated["title"], Value::Null);
}

#[tokio::test]
async fn invalid_update_fields_are_422_and_change_nothing() {
    let app = spawn_app().await;
    let url = app
        .create_url(&json!({ "original_url": "https://example.com/keep", "title": "Keep" }))
        .await;
    let path = format!("/urls/{}", url["id"]);
    let cases = [
        (json!({ "is_active": "false" }), "is_active"),
        (json!({ "is_active": "maybe" }), "is_active"),
        (json!({ "is_active": 0 }), "is_active"),
        (json!({ "is_active": null }), "is_active"),
        (json!({ "title": 5 }), "title"),
        (json!({ "title": ["x"] }), "title"),
        (json!({ "original_url": "ftp://x.com" }), "original_url"),
        (
            json!({ "original_url": "javascript:alert(1)" }),
            "original_url",
        ),
        (json!({ "original_url": "not-a-url" }), "original_url"),
        (json!({ "original_url": 7 }), "original_url"),
        (json!({ "title": "ok", "is_active": "no" }), "is_active"),
    ];
    app.assert_invalid(Method::PUT, &path, &cases).await;
    assert_eq!(app.get(&path).await.expect_json(200), url);
    assert!(
        app.events(&format!("url_id={}&event_type=updated", url["id"]))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn delete_url_is_204_keeps_its_events_and_appends_deleted() {
    let app = spawn_app().await;
    let user = app.create_user("owner").await;
    let url = app
        .shorten_for(id_of(&user), "https://example.com/doomed")
        .await;
    let code = str_of(&url, "short_code").to_owned();
    let path = format!("/urls/{}", url["id"]);
    app.get(&format!("/{code}")).await.expect(302);
    app.put_json(&path, &json!({ "title": "last words" }))
        .await
        .expect(200);

    let reply = app.delete(&path).await.expect(204);
    assert!(reply.body.is_empty(), "204 has no body: {:?}", reply.body);
    app.get(&path).await.expect_error(404);
    app.delete(&path).await.expect_error(404);
    app.get(&format!("/{code}")).await.expect_error(404);
    app.get(&format!("/urls/{code}/redirect"))
        .await
        .expect_error(404);

    let events = app.events(&format!("url_id={}", url["id"])).await;
    let types: Vec<&str> = events.iter().map(|e| str_of(e, "event_type")).collect();
    assert_eq!(types, ["created", "click", "updated", "deleted"]);
    let deleted = &events[3];
    assert_eq!(deleted["url_id"], url["id"]);
    assert_eq!(deleted["user_id"], user["id"]);
    assert_eq!(
        deleted["details"],
        json!({ "reason": "user_requested", "short_code": code })
    );
}

#[tokio::test]
async fn list_urls_filters_by_user_active_and_code() {
    let app = spawn_app().await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let a1 = app
        .shorten_for(id_of(&alice), "https://example.com/a1")
        .await;
    let b1 = app.shorten_for(id_of(&bob), "https://example.com/b1").await;
    let a2 = app
        .shorten_for(id_of(&alice), "https://example.com/a2")
        .await;
    let loose = app.shorten("https://example.com/loose").await;
    let a2 = app
        .put_json(
            &format!("/urls/{}", a2["id"]),
            &json!({ "is_active": false }),
        )
        .await
        .expect_json(200);

    let (urls, total) = app.get("/urls").await.list();
    assert_eq!(total, 4);
    assert_eq!(
        ids(&urls),
        ids(&[a1.clone(), b1.clone(), a2.clone(), loose.clone()])
    );

    let (urls, total) = app
        .get(&format!("/urls?user_id={}", alice["id"]))
        .await
        .list();
    assert_eq!(total, 2);
    assert_eq!(urls, vec![a1.clone(), a2.clone()]);

    let (urls, total) = app.get("/urls?is_active=false").await.list();
    assert_eq!(total, 1);
    assert_eq!(urls, vec![a2.clone()]);

    let (urls, total) = app.get("/urls?is_active=true").await.list();
    assert_eq!(total, 3);
    assert_eq!(urls, vec![a1.clone(), b1.clone(), loose.clone()]);

    // Python clients send booleans as True/False.
    assert_eq!(app.get("/urls?is_active=True").await.list().0, urls);
    assert_eq!(
        app.get("/urls?is_active=False").await.list().0,
        vec![a2.clone()]
    );

    let (urls, total) = app
        .get(&format!("/urls?user_id={}&is_active=true", alice["id"]))
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(urls, vec![a1.clone()]);

    let (urls, total) = app
        .get(&format!("/urls?short_code={}", str_of(&b1, "short_code")))
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(urls, vec![b1.clone()]);

    let (urls, total) = app.get("/urls?short_code=nope42").await.list();
    assert_eq!(total, 0);
    assert!(urls.is_empty());

    // Filters as a JSON body on GET.
    let (urls, total) = app
        .get_json(
            "/urls",
            &json!({ "user_id": alice["id"], "is_active": false }),
        )
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(urls, vec![a2]);
    let (urls, _) = app
        .get_json("/urls", &json!({ "short_code": loose["short_code"] }))
        .await
        .list();
    assert_eq!(urls, vec![loose]);
}

#[tokio::test]
async fn bad_url_filter_values_are_422() {
    let app = spawn_app().await;
    app.shorten("https://example.com").await;
    for (query, field) in [
        ("user_id=abc", "user_id"),
        ("user_id=1.5", "user_id"),
        ("is_active=maybe", "is_active"),
        ("is_active=2", "is_active"),
    ] {
        app.get(&format!("/urls?{query}"))
            .await
            .expect_invalid_of(field, query);
    }
    let reply = app
        .get_json("/urls", &json!({ "is_active": "maybe" }))
        .await;
    reply.expect_invalid("is_active");
}

#[tokio::test]
async fn sql_shaped_and_unicode_values_round_trip() {
    let app = spawn_app().await;
    let nasty = "'; DROP TABLE urls; --";
    let unicode = "Ünïcödé 标题 🚀 — “quotes” \\ backslash";
    let target = "https://example.com/a'b?q=%27%3B%20DROP%20TABLE%20urls%3B--&x=\"y\"";
    let url = app
        .create_url(&json!({ "original_url": target, "title": nasty }))
        .await;
    assert_eq!(url["title"], nasty);
    assert_eq!(url["original_url"], target);
    let other = app
        .create_url(&json!({ "original_url": "https://example.com/unicode", "title": unicode }))
        .await;
    assert_eq!(other["title"], unicode);
    assert_eq!(other["original_url"], "https://example.com/unicode");

    assert_eq!(
        app.get(&format!("/urls/{}", url["id"]))
            .await
            .expect_json(200)["title"],
        nasty
    );
    let updated = app
        .put_json(
            &format!("/urls/{}", other["id"]),
            &json!({ "title": nasty }),
        )
        .await
        .expect_json(200);
    assert_eq!(updated["title"], nasty);
    let updated = app
        .put_json(
            &format!("/urls/{}", other["id"]),
            &json!({ "title": unicode }),
        )
        .await
        .expect_json(200);
    assert_eq!(updated["title"], unicode);

    let reply = app
        .get(&format!("/{}", str_of(&url, "short_code")))
        .await
        .expect(302);
    assert_eq!(reply.header("location").as_deref(), Some(target));
    assert_eq!(app.count("/urls").await, 2);
    assert_eq!(app.count("/users").await, 0);
}

#[tokio::test]
async fn a_link_may_be_created_switched_off_and_is_active_is_a_strict_boolean() {
    let app = spawn_app().await;
    let on = app.shorten("https://example.com/on").await;
    assert_eq!(on["is_active"], true);
    let off = app
        .create_url(&json!({ "original_url": "https://example.com/off", "is_active": false }))
        .await;
    assert_eq!(off["is_active"], false);
    let code = off["short_code"].as_str().unwrap();
    app.get(&format!("/{code}")).await.expect_error(404);
    for bad in [json!("false"), json!(0), json!(null), json!("yes")] {
        let body = json!({ "original_url": "https://example.com/bad", "is_active": bad });
        app.post_json("/urls", &body)
            .await
            .expect_invalid("is_active");
    }
    assert_eq!(app.count("/urls").await, 2);
}

/// A title with a control character (NUL among them, which PostgreSQL's text cannot hold)
/// is 422 on create and on update, on every store alike, and changes nothing.
#[tokio::test]
async fn a_title_with_a_control_character_is_422() {
    let app = spawn_app().await;
    for title in ["a\u{0}b", "line\nbreak", "bell\u{7}"] {
        app.post_json(
            "/urls",
            &json!({ "original_url": "https://example.com", "title": title }),
        )
        .await
        .expect_invalid("title");
    }
    assert_eq!(app.count("/urls").await, 0);
    let url = app.shorten("https://example.com/titled").await;
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &json!({ "title": "a\u{0}b" }),
    )
    .await
    .expect_invalid("title");
}
