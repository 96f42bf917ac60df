//! `GET /urls/{id}/stats` and `GET /stats`: clicks with known user agents, referrers,
//! languages and client addresses (through a trusted proxy's `X-Forwarded-For`), and every
//! number of the answer checked; the classification in the click events; bad periods.

use crate::common::prelude::*;
use crate::common::records::visit_at;
use crate::common::visits::*;
use serde_json::{Value, json};

#[tokio::test]
async fn stats_count_humans_bots_previews_and_prefetches_exactly_by_every_dimension() {
    let dir = tempfile::TempDir::new().unwrap();
    let countries = geoip_db(dir.path());
    let app = spawn_app_with(|settings| {
        settings.trusted_proxies = TRUSTED_PROXY.to_owned();
        settings.clicks.geoip_db = Some(countries);
    })
    .await;
    let url = app.shorten("https://example.com/counted").await;
    let other = app.shorten("https://example.com/other").await;
    let code = str_of(&url, "short_code").to_owned();
    for &seen in VISITS {
        send_visit(&app, &code, seen).await;
    }
    send_visit(&app, str_of(&other, "short_code"), VISITS[2]).await;

    let stats = app
        .get(&format!("/urls/{}/stats", id_of(&url)))
        .await
        .expect_json(200);
    assert_eq!(stats["url_id"], url["id"]);
    assert_eq!(stats["interval"], "day");
    check_visits_stats(&stats, VISIT_COUNTRIES);
    assert!(stats.get("top_links").is_none());

    // Every link: the other link's human click is there too, and the top links.
    let all = app.get("/stats").await.expect_json(200);
    assert_eq!(
        (&all["total"], &all["humans"], &all["unique_visitors"]),
        (&json!(10), &json!(5), &json!(4))
    );
    assert_eq!(
        all["top_links"],
        json!([{ "url_id": url["id"], "humans": 4 }, { "url_id": other["id"], "humans": 1 }])
    );

    // The click events carry the classification beside their own keys.
    let clicks = app.clicks(id_of(&url)).await;
    let details = &clicks[2]["details"];
    assert_eq!(details["user_agent"], IPHONE);
    assert_eq!(
        [
            &details["visit_class"],
            &details["browser"],
            &details["os"],
            &details["device"],
            &details["referrer_host"],
            &details["language"],
            &details["country"]
        ],
        [
            &json!("human"),
            &json!("Safari"),
            &json!("iOS"),
            &json!("mobile"),
            &json!("t.co"),
            &json!("de"),
            &json!("DE")
        ]
    );
    assert_eq!(clicks[5]["details"]["visit_class"], "preview");
    assert!(
        clicks
            .iter()
            .all(|c| !c["details"].to_string().contains("198.51.100")),
        "no address is stored"
    );
}

#[tokio::test]
async fn a_period_and_interval_choose_the_series() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/series").await;
    app.get(&format!("/{}", str_of(&url, "short_code")))
        .await
        .expect(302);
    let path = format!(
        "/urls/{}/stats?from=2020-01-06T00:00:00&to=2020-01-20T00:00:00&interval=week",
        id_of(&url)
    );
    let stats = app.get(&path).await.expect_json(200);
    let starts: Vec<&Value> = stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["start"])
        .collect();
    assert_eq!(
        starts,
        [&json!("2020-01-06T00:00:00"), &json!("2020-01-13T00:00:00")]
    );
    assert_eq!(stats["total"], 0, "the click is not in 2020");
    let hours = app
        .get(&format!(
            "/urls/{}/stats?interval=hour&from=2020-01-01T00:00:00&to=2020-01-01T05:00:00",
            id_of(&url)
        ))
        .await
        .expect_json(200);
    assert_eq!(hours["series"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn bad_periods_are_422_naming_the_parameter_and_unknown_links_404() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/bad").await;
    let id = id_of(&url);
    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2020-13-01T00:00:00", "to"),
        ("interval=month", "interval"),
        ("from=2021-01-01T00:00:00&to=2020-01-01T00:00:00", "from"),
        (
            "interval=hour&from=2020-01-01T00:00:00&to=2021-01-01T00:00:00",
            "interval",
        ),
    ] {
        let error = app
            .get(&format!("/urls/{id}/stats?{query}"))
            .await
            .expect_error(422);
        assert!(error["details"].get(field).is_some(), "{query}: {error}");
        app.get(&format!("/stats?{query}")).await.expect_error(422);
    }
    app.get("/urls/999999/stats").await.expect_error(404);
    app.get("/urls/abc/stats").await.expect_error(404);
}

#[tokio::test]
async fn with_analytics_off_clicks_are_recorded_unclassified_and_not_counted() {
    let app = spawn_app_with(|settings| settings.clicks.click_analytics = false).await;
    let url = app.shorten("https://example.com/plain").await;
    send_visit(&app, str_of(&url, "short_code"), VISITS[0]).await;
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 1);
    assert!(
        clicks[0]["details"].get("visit_class").is_none(),
        "{}",
        clicks[0]
    );
    let stats = app
        .get(&format!("/urls/{}/stats", id_of(&url)))
        .await
        .expect_json(200);
    assert_eq!(stats["total"], 0);
}

#[tokio::test]
async fn clicks_past_the_retention_are_removed_and_the_stats_keep_them() {
    use kurz::domain::analytics::{Classified, VisitClass};
    use kurz::domain::{Link, Timestamp, Visited};
    use kurz::store::{EventStore, SqliteStore};
    use std::sync::Arc;

    let app = spawn_app().await;
    let url = app.shorten("https://example.com/kept").await;
    let code = str_of(&url, "short_code").to_owned();
    let dir = app.stop().await;

    // Three human clicks from March, written into the store while kurz is down.
    let store = SqliteStore::open(
        &dir.path().join("kurz.db"),
        1,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let link = Arc::new(Link {
        id: id_of(&url),
        user_id: None,
        short_code: code.clone(),
        target: "https://example.com/kept".into(),
        is_active: true,
        settings: None,
        password_hash: None,
    });
    let old: Vec<Visited> = (0..3)
        .map(|i| Visited {
            user_agent: Some(CHROME.into()),
            classified: Some(Box::new(Classified {
                visit_class: VisitClass::Human,
                browser: "Chrome".into(),
                os: "Windows".into(),
                device: "desktop",
                referrer_host: None,
                language: None,
                country: None,
                visitor: None,
            })),
            ..visit_at(
                &link,
                Timestamp::parse(&format!("2026-03-01T10:0{i}:00")).unwrap(),
            )
        })
        .collect();
    store.append_visits(&old).await.unwrap();
    drop(store);

    let app = spawn_app_in_with(dir, |settings| {
        settings.clicks.click_retention_days = Some(30);
    })
    .await;
    send_visit(&app, &code, VISITS[0]).await;
    let id = id_of(&url);
    eventually(
        "the March clicks removed",
        std::time::Duration::from_secs(10),
        || async {
            let stored = app.clicks(id).await.len();
            if stored == 1 {
                Ok(())
            } else {
                Err(format!("{stored} clicks stored"))
            }
        },
    )
    .await;
    let march = app
        .get(&format!(
            "/urls/{id}/stats?from=2026-03-01T00:00:00&to=2026-03-02T00:00:00"
        ))
        .await
        .expect_json(200);
    assert_eq!(
        (&march["humans"], &march["browsers"]),
        (&json!(3), &counts(&[("Chrome", 3)])),
        "{march}"
    );
}
