//! `GET /urls/{id}/stats` and `GET /stats`: clicks with known user agents, referrers,
//! languages and client addresses (through a trusted proxy's `X-Forwarded-For`), and every
//! number of the answer checked; the classification in the click events; bad periods.

use crate::common::prelude::*;
use serde_json::{Value, json};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const ANDROID_FIREFOX: &str =
    "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const SLACKBOT: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const FACEBOOK: &str = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)";

/// The visits: (user agent, client address, referrer, language, prefetch).
const VISITS: &[(&str, &str, &str, &str, bool)] = &[
    (
        CHROME,
        "198.51.100.1",
        "https://www.google.com/search?q=kurz",
        "en-US,en;q=0.9",
        false,
    ),
    (
        CHROME,
        "198.51.100.1",
        "https://www.google.com/",
        "en-US",
        false,
    ),
    (
        IPHONE,
        "198.51.100.2",
        "https://t.co/abc",
        "de-DE,de;q=0.9",
        false,
    ),
    (ANDROID_FIREFOX, "198.51.100.3", "", "fr", false),
    (GOOGLEBOT, "66.249.66.1", "", "", false),
    (SLACKBOT, "198.51.100.9", "", "", false),
    (FACEBOOK, "198.51.100.10", "", "", false),
    ("curl/8.5.0", "198.51.100.11", "", "", false),
    (CHROME, "198.51.100.4", "", "en", true),
];

async fn visit(
    app: &TestApp,
    code: &str,
    (agent, client, referrer, language, prefetch): (&str, &str, &str, &str, bool),
) {
    let mut headers = vec![("User-Agent", agent), ("X-Forwarded-For", client)];
    if !referrer.is_empty() {
        headers.push(("Referer", referrer));
    }
    if !language.is_empty() {
        headers.push(("Accept-Language", language));
    }
    if prefetch {
        headers.push(("Sec-Purpose", "prefetch"));
    }
    app.get_with_headers(&format!("/{code}"), &headers)
        .await
        .expect(302);
}

fn counts(pairs: &[(&str, i64)]) -> Value {
    pairs
        .iter()
        .map(|(value, count)| json!({ "value": value, "count": count }))
        .collect()
}

#[tokio::test]
async fn stats_count_humans_bots_previews_and_prefetches_exactly_by_every_dimension() {
    let app = spawn_app_with(|settings| settings.trusted_proxies = "127.0.0.1/32".to_owned()).await;
    let url = app.shorten("https://example.com/counted").await;
    let other = app.shorten("https://example.com/other").await;
    let code = str_of(&url, "short_code").to_owned();
    for &seen in VISITS {
        visit(&app, &code, seen).await;
    }
    visit(&app, str_of(&other, "short_code"), VISITS[2]).await;

    let stats = app
        .get(&format!("/urls/{}/stats", id_of(&url)))
        .await
        .expect_json(200);
    assert_eq!(stats["url_id"], url["id"]);
    assert_eq!(stats["interval"], "day");
    let totals: Vec<&Value> = [
        "total",
        "humans",
        "bots",
        "previews",
        "prefetches",
        "unique_visitors",
    ]
    .iter()
    .map(|k| &stats[*k])
    .collect();
    assert_eq!(
        totals,
        [
            &json!(9),
            &json!(4),
            &json!(2),
            &json!(2),
            &json!(1),
            &json!(3)
        ],
        "{stats}"
    );
    assert_eq!(
        stats["browsers"],
        counts(&[("Chrome", 2), ("Firefox", 1), ("Safari", 1)])
    );
    assert_eq!(
        stats["os"],
        counts(&[("Windows", 2), ("Android", 1), ("iOS", 1)])
    );
    assert_eq!(stats["devices"], counts(&[("desktop", 2), ("mobile", 2)]));
    assert_eq!(
        stats["referrers"],
        counts(&[("google.com", 2), ("t.co", 1), ("unknown", 1)])
    );
    assert_eq!(
        stats["languages"],
        counts(&[("en", 2), ("de", 1), ("fr", 1)])
    );
    assert_eq!(stats["countries"], counts(&[("unknown", 4)]));
    let series = stats["series"].as_array().unwrap();
    assert_eq!(
        series.len(),
        30,
        "the 30 days up to the end of today, by day"
    );
    let clicked: Vec<&Value> = series.iter().filter(|p| p["total"] != 0).collect();
    assert_eq!(clicked.len(), 1);
    assert_eq!(
        (&clicked[0]["total"], &clicked[0]["humans"]),
        (&json!(9), &json!(4))
    );
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
            &details["language"]
        ],
        [
            &json!("human"),
            &json!("Safari"),
            &json!("iOS"),
            &json!("mobile"),
            &json!("t.co"),
            &json!("de")
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
    visit(&app, str_of(&url, "short_code"), VISITS[0]).await;
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
