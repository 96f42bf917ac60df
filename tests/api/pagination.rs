//! `page`/`per_page` on every list: slicing, clamping, bad values, and unpaginated lists.

use crate::common::prelude::*;
use serde_json::json;

/// An app with `n` users (ids 1..=n), loaded through the bulk import.
async fn app_with_users(n: usize) -> TestApp {
    let app = spawn_app().await;
    app.bulk_import(users_csv(n), None).await.expect(201);
    app
}

#[tokio::test]
async fn without_pagination_every_row_is_returned() {
    let app = app_with_users(150).await;
    let (users, total) = app.get("/users").await.list();
    assert_eq!(total, 150);
    assert_eq!(ids(&users), (1..=150).collect::<Vec<i64>>());
}

#[tokio::test]
async fn page_and_per_page_slice_the_list() {
    let app = app_with_users(150).await;
    let (users, total) = app.get("/users?page=2&per_page=10").await.list();
    assert_eq!(total, 150, "X-Total-Count counts every matching row");
    assert_eq!(ids(&users), (11..=20).collect::<Vec<i64>>());

    let (users, _) = app.get("/users?page=1&per_page=10").await.list();
    assert_eq!(ids(&users), (1..=10).collect::<Vec<i64>>());

    let (users, total) = app.get("/users?page=2&per_page=100").await.list();
    assert_eq!(total, 150);
    assert_eq!(ids(&users), (101..=150).collect::<Vec<i64>>());

    // A page past the end has no row to carry the total: it is counted on its own.
    let (users, total) = app.get("/users?page=16&per_page=10").await.list();
    assert!(users.is_empty());
    assert_eq!(total, 150);

    // Pages cover the list exactly once.
    let mut all = Vec::new();
    for page in 1..=8 {
        let (users, _) = app
            .get(&format!("/users?page={page}&per_page=20"))
            .await
            .list();
        all.extend(ids(&users));
    }
    assert_eq!(all, (1..=150).collect::<Vec<i64>>());
}

#[tokio::test]
async fn out_of_range_values_are_clamped() {
    let app = app_with_users(150).await;
    let (users, total) = app.get("/users?page=1&per_page=0").await.list();
    assert_eq!(total, 150);
    assert_eq!(ids(&users), vec![1], "per_page=0 clamps to 1");

    let (users, _) = app.get("/users?page=1&per_page=-5").await.list();
    assert_eq!(ids(&users), vec![1], "negative per_page clamps to 1");

    let (users, _) = app.get("/users?page=1&per_page=1000").await.list();
    assert_eq!(users.len(), 100, "per_page clamps to at most 100");
    assert_eq!(ids(&users), (1..=100).collect::<Vec<i64>>());

    let (users, _) = app.get("/users?per_page=1000").await.list();
    assert!(users.len() <= 100);

    for page in ["0", "-1", "-99999999999999999999"] {
        let (users, _) = app
            .get(&format!("/users?page={page}&per_page=5"))
            .await
            .list();
        assert_eq!(ids(&users), (1..=5).collect::<Vec<i64>>(), "page={page}");
    }
}

#[tokio::test]
async fn huge_page_numbers_are_an_empty_page() {
    let app = app_with_users(5).await;
    for query in [
        "page=1000000&per_page=10",
        "page=9223372036854775807&per_page=100",
        "page=99999999999999999999999&per_page=100",
        "page=99999999999999999999999",
        "page=2&per_page=99999999999999999999999",
    ] {
        let (users, total) = app.get(&format!("/users?{query}")).await.list();
        assert_eq!(total, 5, "{query}");
        assert!(users.is_empty(), "{query}: {users:?}");
    }
}

#[tokio::test]
async fn non_numeric_pagination_is_a_client_error_never_a_5xx() {
    let app = app_with_users(5).await;
    for query in [
        "page=abc",
        "per_page=abc",
        "page=1&per_page=ten",
        "page=%20x",
        "page=--1",
        "page=one&per_page=two",
    ] {
        for path in ["/users", "/urls", "/events"] {
            let reply = app.get(&format!("{path}?{query}")).await;
            assert!(
                reply.status.is_client_error(),
                "{path}?{query} answered {}: {}",
                reply.status,
                reply.body
            );
            assert_error_body(&reply.json(), reply.status.as_u16());
        }
    }
    // Numbers that are not integers: any answer but a 5xx.
    for query in ["page=1.5", "page=1e3", "per_page=2.0", "page=0x10"] {
        let reply = app.get(&format!("/users?{query}")).await;
        assert!(
            reply.status.as_u16() < 500,
            "{query} answered {}: {}",
            reply.status,
            reply.body
        );
    }
    // The contract's current choice for text is 422.
    app.get("/users?page=abc").await.expect_invalid("page");
    app.get("/users?per_page=abc")
        .await
        .expect_invalid("per_page");
}

#[tokio::test]
async fn pagination_works_on_every_list_with_filters() {
    let app = spawn_app().await;
    let owner = app.create_user("owner").await;
    let other = app.create_user("other").await;
    let mut owned = Vec::new();
    for i in 0..25 {
        let user = if i % 5 == 0 { &other } else { &owner };
        let url = app
            .shorten_for(
                user["id"].as_i64().unwrap(),
                &format!("https://example.com/{i}"),
            )
            .await;
        if i % 5 != 0 {
            owned.push(url["id"].as_i64().unwrap());
        }
    }
    assert_eq!(owned.len(), 20);

    let (urls, total) = app
        .get(&format!("/urls?user_id={}&page=2&per_page=7", owner["id"]))
        .await
        .list();
    assert_eq!(total, 20, "X-Total-Count counts rows matching the filters");
    assert_eq!(ids(&urls), owned[7..14].to_vec());

    let (urls, total) = app
        .get(&format!("/users/{}/urls?page=3&per_page=7", owner["id"]))
        .await
        .list();
    assert_eq!(total, 20);
    assert_eq!(ids(&urls), owned[14..20].to_vec());

    let (events, total) = app
        .get(&format!(
            "/events?user_id={}&event_type=created&page=1&per_page=3",
            owner["id"]
        ))
        .await
        .list();
    assert_eq!(total, 20);
    assert_eq!(events.len(), 3);

    let (events, total) = app.get("/events?page=2&per_page=20").await.list();
    assert_eq!(total, 25);
    assert_eq!(events.len(), 5);

    // Pagination in a JSON body on GET.
    let (urls, total) = app
        .get_json(
            "/urls",
            &json!({ "user_id": owner["id"], "page": 2, "per_page": 7 }),
        )
        .await
        .list();
    assert_eq!(total, 20);
    assert_eq!(ids(&urls), owned[7..14].to_vec());
}

#[tokio::test]
async fn an_unpaginated_list_stops_at_the_default_cap_of_10000() {
    let app = app_with_users(10_001).await;
    let (users, total) = app.get("/users").await.list();
    assert_eq!(total, 10_001, "X-Total-Count is every matching row");
    assert_eq!(users.len(), 10_000, "the default cap is 10 000 rows");
    assert_eq!(users.first().map(|u| u["id"].clone()), Some(json!(1)));
    let (last_page, _) = app.get("/users?page=101&per_page=100").await.list();
    assert_eq!(ids(&last_page), vec![10_001]);
}
