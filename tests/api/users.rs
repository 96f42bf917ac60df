//! `/users`: create, read, update, delete, list with filters, a user's urls.

use crate::common::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn create_user_returns_201_and_the_user() {
    let app = spawn_app().await;
    let reply = app
        .post_json(
            "/users",
            &json!({ "username": "alice", "email": "alice@example.com" }),
        )
        .await;
    let user = reply.expect_json(201);
    assert_user(&user);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");

    let fetched = app
        .get(&format!("/users/{}", user["id"]))
        .await
        .expect_json(200);
    assert_eq!(fetched, user);

    // Datetimes are UTC.
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let created = time::PrimitiveDateTime::parse(str_of(&user, "created_at"), format)
        .unwrap()
        .assume_utc();
    let skew = (time::OffsetDateTime::now_utc() - created).abs();
    assert!(
        skew < time::Duration::minutes(10),
        "created_at {} is not the current UTC time",
        user["created_at"]
    );
}

#[tokio::test]
async fn json_content_types_with_parameters_are_accepted() {
    let app = spawn_app().await;
    for (i, content_type) in [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
    ]
    .iter()
    .enumerate()
    {
        let body = format!(r#"{{"username":"ct{i}","email":"ct{i}@example.com"}}"#);
        let reply = app.post_raw("/users", body, Some(content_type)).await;
        assert_eq!(reply.status.as_u16(), 201, "{content_type}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_get_with_a_malformed_json_body_is_400() {
    let app = spawn_app().await;
    app.create_user("someone").await;
    for body in ["{not json", "[1, 2]", "\"username\""] {
        let reply = app
            .send(
                app.request(reqwest::Method::GET, "/users")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{body}: {}", reply.body);
        reply.expect_error(400);
    }
}

#[tokio::test]
async fn unknown_user_is_404_json() {
    let app = spawn_app().await;
    for path in ["/users/1", "/users/999999", "/users/0", "/users/abc"] {
        app.get(path).await.expect_error(404);
    }
    app.put_json("/users/12345", &json!({ "username": "nobody" }))
        .await
        .expect_error(404);
    app.delete("/users/12345").await.expect_error(404);
    app.get("/users/12345/urls").await.expect_error(404);
}

#[tokio::test]
async fn extra_keys_in_the_body_are_ignored() {
    let app = spawn_app().await;
    let user = app
        .post_json(
            "/users",
            &json!({ "username": "extra", "email": "extra@example.com", "id": 777, "role": "admin", "created_at": "1999-01-01T00:00:00" }),
        )
        .await
        .expect_json(201);
    assert_user(&user);
    assert_ne!(user["id"], 777, "a client may not choose its id");
    assert_ne!(user["created_at"], "1999-01-01T00:00:00");
}

#[tokio::test]
async fn duplicate_username_or_email_is_409() {
    let app = spawn_app().await;
    app.create_user_with("taken", "taken@example.com").await;

    app.post_json(
        "/users",
        &json!({ "username": "taken", "email": "other@example.com" }),
    )
    .await
    .expect_error(409);
    app.post_json(
        "/users",
        &json!({ "username": "other", "email": "taken@example.com" }),
    )
    .await
    .expect_error(409);
    assert_eq!(app.count("/users").await, 1);
}

#[tokio::test]
async fn update_with_a_taken_username_or_email_is_409() {
    let app = spawn_app().await;
    app.create_user_with("first", "first@example.com").await;
    let second = app.create_user_with("second", "second@example.com").await;
    let path = format!("/users/{}", second["id"]);

    app.put_json(&path, &json!({ "username": "first" }))
        .await
        .expect_error(409);
    app.put_json(&path, &json!({ "email": "first@example.com" }))
        .await
        .expect_error(409);
    // Unchanged.
    assert_eq!(app.get(&path).await.expect_json(200), second);

    // Keeping one's own username or email is no conflict.
    let same = app
        .put_json(
            &path,
            &json!({ "username": "second", "email": "second@example.com" }),
        )
        .await
        .expect_json(200);
    assert_eq!(same, second);
}

#[tokio::test]
async fn update_is_partial() {
    let app = spawn_app().await;
    let user = app.create_user("before").await;
    let path = format!("/users/{}", user["id"]);

    let renamed = app
        .put_json(&path, &json!({ "username": "after" }))
        .await
        .expect_json(200);
    assert_user(&renamed);
    assert_eq!(renamed["username"], "after");
    assert_eq!(renamed["email"], user["email"]);
    assert_eq!(renamed["id"], user["id"]);
    assert_eq!(renamed["created_at"], user["created_at"]);

    let moved = app
        .put_json(&path, &json!({ "email": "after@example.org" }))
        .await
        .expect_json(200);
    assert_eq!(moved["username"], "after");
    assert_eq!(moved["email"], "after@example.org");

    // An empty object changes nothing.
    let unchanged = app.put_json(&path, &json!({})).await.expect_json(200);
    assert_eq!(unchanged, moved);
    assert_eq!(app.get(&path).await.expect_json(200), moved);
}

#[tokio::test]
async fn delete_user_is_204_then_404() {
    let app = spawn_app().await;
    let user = app.create_user("gone").await;
    let path = format!("/users/{}", user["id"]);
    let reply = app.delete(&path).await.expect(204);
    assert!(reply.body.is_empty(), "204 has no body: {:?}", reply.body);
    app.get(&path).await.expect_error(404);
    app.delete(&path).await.expect_error(404);
    assert_eq!(app.count("/users").await, 0);
}

#[tokio::test]
async fn deleting_a_user_keeps_their_urls_unowned_and_their_events() {
    let app = spawn_app().await;
    let owner = app.create_user("owner").await;
    let owner_id = id_of(&owner);
    let other = app.create_user("other").await;
    let a = app.shorten_for(owner_id, "https://example.com/a").await;
    let b = app.shorten_for(owner_id, "https://example.com/b").await;
    let kept = app
        .shorten_for(id_of(&other), "https://example.com/kept")
        .await;
    app.get(&format!("/{}", str_of(&a, "short_code")))
        .await
        .expect(302);
    let before = app.events(&format!("user_id={owner_id}")).await;
    assert_eq!(before.len(), 3, "two created + one click: {before:?}");

    app.delete(&format!("/users/{owner_id}")).await.expect(204);

    for url in [&a, &b] {
        let now = app
            .get(&format!("/urls/{}", url["id"]))
            .await
            .expect_json(200);
        assert_eq!(now["user_id"], Value::Null, "{now}");
        assert_eq!(now["short_code"], url["short_code"]);
        assert_eq!(now["original_url"], url["original_url"]);
    }
    let still_owned = app
        .get(&format!("/urls/{}", kept["id"]))
        .await
        .expect_json(200);
    assert_eq!(still_owned["user_id"], other["id"]);

    // Events are history: the ids in them stay as they were.
    let after = app.events(&format!("user_id={owner_id}")).await;
    assert_eq!(after, before);

    // The urls still redirect.
    app.get(&format!("/{}", str_of(&b, "short_code")))
        .await
        .expect(302);
}

#[tokio::test]
async fn list_users_is_ordered_by_id_with_total_count() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for name in ["zed", "amy", "mo"] {
        created.push(id_of(&app.create_user(name).await));
    }
    let (users, total) = app.get("/users").await.list();
    assert_eq!(total, 3);
    assert_eq!(ids(&users), created);
    for user in &users {
        assert_user(user);
    }
}

#[tokio::test]
async fn list_users_filters_by_username_and_email() {
    let app = spawn_app().await;
    let alice = app.create_user_with("alice", "alice@example.com").await;
    let bob = app.create_user_with("bob", "bob@example.org").await;
    app.create_user_with("carol", "carol@example.com").await;

    let (users, total) = app.get("/users?username=alice").await.list();
    assert_eq!(total, 1);
    assert_eq!(users, vec![alice.clone()]);

    let (users, total) = app.get("/users?email=bob%40example.org").await.list();
    assert_eq!(total, 1);
    assert_eq!(users, vec![bob]);

    let (users, total) = app
        .get("/users?username=alice&email=alice%40example.com")
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(users, vec![alice]);

    let (users, total) = app.get("/users?username=nobody").await.list();
    assert_eq!(total, 0);
    assert!(users.is_empty());
}

#[tokio::test]
async fn list_users_accepts_filters_as_a_json_body() {
    let app = spawn_app().await;
    app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let (users, total) = app
        .get_json("/users", &json!({ "username": "bob" }))
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(users, vec![bob.clone()]);
    let (users, _) = app
        .get_json("/users", &json!({ "email": "bob@example.com" }))
        .await
        .list();
    assert_eq!(users, vec![bob]);
}

#[tokio::test]
async fn a_users_urls_lists_only_theirs() {
    let app = spawn_app().await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let a1 = app
        .shorten_for(id_of(&alice), "https://example.com/a1")
        .await;
    app.shorten_for(id_of(&bob), "https://example.com/b1").await;
    let a2 = app
        .shorten_for(id_of(&alice), "https://example.com/a2")
        .await;
    app.shorten("https://example.com/nobody").await;

    let (urls, total) = app
        .get(&format!("/users/{}/urls", alice["id"]))
        .await
        .list();
    assert_eq!(total, 2);
    assert_eq!(urls, vec![a1, a2]);

    let carol = app.create_user("carol").await;
    let (urls, total) = app
        .get(&format!("/users/{}/urls", carol["id"]))
        .await
        .list();
    assert_eq!(total, 0);
    assert!(urls.is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400() {
    let app = spawn_app().await;
    let user = app.create_user("target").await;
    let put_path = format!("/users/{}", user["id"]);
    let valid = r#"{"username":"x","email":"x@example.com"}"#;
    let cases: [(&str, Option<&str>); 9] = [
        ("username=x&email=x@example.com", Some("application/json")),
        ("not json at all", Some("application/json")),
        (r#""a JSON string""#, Some("application/json")),
        (r#"["username","email"]"#, Some("application/json")),
        ("null", Some("application/json")),
        ("42", Some("application/json")),
        (valid, None),
        (valid, Some("text/plain")),
        (
            "username=x&email=x%40example.com",
            Some("application/x-www-form-urlencoded"),
        ),
    ];
    app.assert_bodies_refused(
        &[(Method::POST, "/users"), (Method::PUT, &put_path)],
        &cases,
    )
    .await;
    assert_eq!(app.count("/users").await, 1);
    assert_eq!(app.get(&put_path).await.expect_json(200), user);
}

#[tokio::test]
async fn invalid_fields_are_422_with_details() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "username": 123, "email": "a@example.com" }),
            "username",
        ),
        (json!({ "username": "a", "email": 123 }), "email"),
        (json!({ "email": "a@example.com" }), "username"),
        (json!({ "username": "a" }), "email"),
        (
            json!({ "username": null, "email": "a@example.com" }),
            "username",
        ),
        (
            json!({ "username": "", "email": "a@example.com" }),
            "username",
        ),
        (json!({ "username": "a", "email": "no-at-sign" }), "email"),
        (json!({ "username": "a", "email": "" }), "email"),
        (
            json!({ "username": ["a"], "email": "a@example.com" }),
            "username",
        ),
        (
            json!({ "username": {"a": 1}, "email": "a@example.com" }),
            "username",
        ),
        (json!({ "username": "a", "email": true }), "email"),
        (json!({}), "username"),
        (json!({}), "email"),
    ];
    app.assert_invalid(Method::POST, "/users", &cases).await;
    assert_eq!(app.count("/users").await, 0);
}

#[tokio::test]
async fn invalid_fields_on_update_are_422_with_details() {
    let app = spawn_app().await;
    let user = app.create_user("valid").await;
    let path = format!("/users/{}", user["id"]);
    let cases = [
        (json!({ "username": 123 }), "username"),
        (json!({ "username": "" }), "username"),
        (json!({ "email": "no-at-sign" }), "email"),
        (json!({ "email": 5 }), "email"),
        (json!({ "username": false }), "username"),
    ];
    app.assert_invalid(Method::PUT, &path, &cases).await;
    assert_eq!(app.get(&path).await.expect_json(200), user);
}

#[tokio::test]
async fn sql_shaped_and_unicode_names_are_stored_verbatim() {
    let app = spawn_app().await;
    let nasty = "'; DROP TABLE users; --";
    let user = app
        .create_user_with(nasty, "robert');DROP/**/TABLE/**/users;--@example.com")
        .await;
    assert_eq!(user["username"], nasty);
    assert_eq!(
        user["email"],
        "robert');DROP/**/TABLE/**/users;--@example.com"
    );

    let unicode = "Zoë 🚀 日本語 ünïcödé";
    let other = app.create_user_with(unicode, "zoe@example.com").await;
    assert_eq!(other["username"], unicode);

    let fetched = app
        .get(&format!("/users/{}", user["id"]))
        .await
        .expect_json(200);
    assert_eq!(fetched["username"], nasty);
    let (found, total) = app
        .get_json("/users", &json!({ "username": nasty }))
        .await
        .list();
    assert_eq!(total, 1);
    assert_eq!(found, vec![user]);
    let (found, _) = app
        .get("/users?username=Zo%C3%AB%20%F0%9F%9A%80%20%E6%97%A5%E6%9C%AC%E8%AA%9E%20%C3%BCn%C3%AFc%C3%B6d%C3%A9")
        .await
        .list();
    assert_eq!(found, vec![other]);

    // The tables are all still there.
    assert_eq!(app.count("/users").await, 2);
    app.get("/urls").await.expect(200);
    app.get("/events").await.expect(200);
}
