//! Redirect rules and A/B variants on the embedded store: each condition decides real
//! visits (user agent, `Accept-Language`, the client's country from a GeoIP file, the query
//! string, the time), the first matching rule wins, variants split by weight and stick to
//! a visitor, the click records what chose the target, and `GET /urls/{id}/resolve`
//! answers the same without recording anything.

use crate::common::prelude::*;
use crate::common::visits::{ANDROID_FIREFOX, CHROME, GOOGLEBOT, IPHONE, TRUSTED_PROXY, geoip_db};
use serde_json::{Value, json};

async fn app_with_countries() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let countries = geoip_db(dir.path());
    let app = spawn_app_with(|settings| {
        settings.trusted_proxies = TRUSTED_PROXY.to_owned();
        settings.clicks.geoip_db = Some(countries);
    })
    .await;
    (app, dir)
}

/// A visit's query string and headers, and the host its target must have.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// Where a visit with these headers is sent.
async fn target(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> String {
    let reply = app.get_with_headers(path, headers).await.expect(302);
    reply.location().unwrap()
}

#[tokio::test]
async fn each_rule_condition_routes_real_visits_and_the_first_match_wins() {
    let (app, _dir) = app_with_countries().await;
    let rule =
        |when: Value, to: &str| json!({"when": when, "target": format!("https://{to}.example/")});
    let url = app
        .post_json(
            "/urls",
            &json!({"original_url": "https://default.example/", "rules": [
                rule(json!({"query": {"utm_source": "mail"}}), "query"),
                rule(json!({"before": "2001-01-01T00:00:00"}), "past"),
                rule(json!({"device": "ios"}), "ios"),
                rule(json!({"device": "android"}), "android"),
                rule(json!({"country": "DE"}), "germany"),
                rule(json!({"language": "fr"}), "french"),
                rule(json!({"browser": "chrome", "os": "Linux"}), "linux-chrome"),
                rule(json!({"device": "desktop", "after": "2001-01-01T00:00:00"}), "desktop"),
            ]}),
        )
        .await
        .expect_json(201);
    assert_eq!(url["rules"].as_array().unwrap().len(), 8);
    let code = str_of(&url, "short_code");
    let path = format!("/{code}");
    let linux_chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    let cases: [Case; 8] = [
        (
            "?utm_source=mail&x=1",
            vec![("User-Agent", IPHONE)],
            "query",
        ),
        ("", vec![("User-Agent", IPHONE)], "ios"),
        ("", vec![("User-Agent", ANDROID_FIREFOX)], "android"),
        // 198.51.100.2 is in Germany in the test's GeoIP file.
        (
            "",
            vec![
                ("User-Agent", GOOGLEBOT),
                ("X-Forwarded-For", "198.51.100.2"),
            ],
            "germany",
        ),
        (
            "",
            vec![
                ("User-Agent", GOOGLEBOT),
                ("Accept-Language", "fr-CA,fr;q=0.9"),
            ],
            "french",
        ),
        ("", vec![("User-Agent", linux_chrome)], "linux-chrome"),
        ("", vec![("User-Agent", CHROME)], "desktop"),
        ("", vec![("User-Agent", GOOGLEBOT)], "default"),
    ];
    for (query, headers, expected) in &cases {
        let went = target(&app, &format!("{path}{query}"), headers).await;
        assert_eq!(
            went,
            format!("https://{expected}.example/"),
            "{query} {headers:?}"
        );
    }
    // The click says which rule chose the target.
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), cases.len());
    assert_eq!(
        (
            &clicks[0]["details"]["rule"],
            &clicks[0]["details"]["redirected_to"]
        ),
        (&json!(0), &json!("https://query.example/"))
    );
    assert_eq!(clicks[1]["details"]["rule"], 2);
    assert!(clicks[7]["details"].get("rule").is_none(), "{}", clicks[7]);
    // A change of the rules takes effect at once.
    let id = id_of(&url);
    app.put_json(&format!("/urls/{id}"), &json!({"rules": []}))
        .await
        .expect(200);
    assert_eq!(
        target(&app, &path, &[("User-Agent", IPHONE)]).await,
        "https://default.example/"
    );
}

#[tokio::test]
async fn variants_split_by_weight_and_each_visitor_keeps_theirs() {
    let app = spawn_app_with(|settings| settings.trusted_proxies = TRUSTED_PROXY.to_owned()).await;
    let url = app
        .post_json(
            "/urls",
            &json!({"original_url": "https://default.example/", "variants": [
                {"url": "https://a.example/", "weight": 70},
                {"url": "https://b.example/", "weight": 30},
            ]}),
        )
        .await
        .expect_json(201);
    let (id, code) = (id_of(&url), str_of(&url, "short_code"));
    // 2,000 visitors through the dry run (the unit tests count 10,000 through the same hash).
    let mut on_a = 0;
    for i in 0..2_000 {
        let client = format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
        let resolved = app
            .get(&format!(
                "/urls/{id}/resolve?user_agent=Mozilla%2F5.0&client={client}"
            ))
            .await
            .expect_json(200);
        if resolved["variant"] == 0 {
            on_a += 1;
        }
    }
    let share = f64::from(on_a) / 20.0;
    assert!((share - 70.0).abs() <= 5.0, "variant a got {share} %");
    assert!(app.clicks(id).await.is_empty(), "a dry run records nothing");
    // The same visitor gets the same variant every time, and the click records which.
    let mut served_a = 0;
    for client in ["203.0.113.5", "203.0.113.6", "203.0.113.7"] {
        let headers = [("User-Agent", CHROME), ("X-Forwarded-For", client)];
        let first = target(&app, &format!("/{code}"), &headers).await;
        for _ in 0..5 {
            assert_eq!(target(&app, &format!("/{code}"), &headers).await, first);
        }
        if first == "https://a.example/" {
            served_a += 6;
        }
    }
    assert_eq!(app.clicks_stored(id, 18).await, 18);
    let clicks = app.clicks(id).await;
    let variants: Vec<_> = clicks.iter().map(|c| &c["details"]["variant"]).collect();
    assert!(variants.iter().all(|v| v.is_number()), "{clicks:?}");
    let recorded_a = variants.iter().filter(|v| **v == &json!(0)).count();
    assert_eq!(
        recorded_a, served_a,
        "each click records the variant it was sent to"
    );
}

#[tokio::test]
async fn resolve_answers_each_outcome_without_recording_it() {
    let app = spawn_app().await;
    let url = app
        .post_json(
            "/urls",
            &json!({"original_url": "https://default.example/", "expires_at": "2099-01-01T00:00:00",
                    "password": "let me in", "redirect_type": 308,
                    "rules": [{"when": {"device": "ios", "language": "de"}, "target": "https://de-ios.example/"}]}),
        )
        .await
        .expect_json(201);
    let id = id_of(&url);
    let resolve = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/urls/{id}/resolve?{query}"))
                .await
                .expect_json(200)
        }
    };
    let iphone = urlencode(IPHONE);
    let ios_de = resolve(format!("user_agent={iphone}&language=de-CH")).await;
    assert_eq!(
        ios_de,
        json!({"outcome": "password_required", "status": 401, "target": "https://de-ios.example/",
               "rule": 0, "variant": null, "visit_class": "human"})
    );
    let later = resolve(format!("user_agent={iphone}&at=2099-01-01T00:00:00")).await;
    assert_eq!(
        (&later["outcome"], &later["status"]),
        (&json!("expired"), &json!(410))
    );
    app.put_json(&format!("/urls/{id}"), &json!({"password": null}))
        .await
        .expect(200);
    let open = resolve("user_agent=curl%2F8".into()).await;
    assert_eq!(
        (
            &open["outcome"],
            &open["status"],
            &open["target"],
            &open["visit_class"]
        ),
        (
            &json!("redirect"),
            &json!(308),
            &json!("https://default.example/"),
            &json!("bot")
        )
    );
    let capped = app
        .post_json(
            "/urls",
            &json!({"original_url": "https://one.example/", "max_clicks": 1}),
        )
        .await
        .expect_json(201);
    let capped_id = id_of(&capped);
    let before = app
        .get(&format!(
            "/urls/{capped_id}/resolve?user_agent={}",
            urlencode(CHROME)
        ))
        .await
        .expect_json(200);
    assert_eq!(before["outcome"], "redirect", "a dry run spends nothing");
    app.get_with_headers(
        &format!("/{}", str_of(&capped, "short_code")),
        &[("User-Agent", CHROME)],
    )
    .await
    .expect(302);
    let after = app
        .get(&format!("/urls/{capped_id}/resolve"))
        .await
        .expect_json(200);
    assert_eq!(after["outcome"], "exhausted");
    app.put_json(&format!("/urls/{capped_id}"), &json!({"is_active": false}))
        .await
        .expect(200);
    let off = app
        .get(&format!("/urls/{capped_id}/resolve"))
        .await
        .expect_json(200);
    assert_eq!(
        (&off["outcome"], &off["status"]),
        (&json!("inactive"), &json!(404))
    );
    assert!(app.clicks(id).await.is_empty());
    for (query, field) in [
        ("at=soon", "at"),
        ("client=nowhere", "client"),
        ("country=Germany", "country"),
    ] {
        app.get(&format!("/urls/{id}/resolve?{query}"))
            .await
            .expect_invalid(field);
    }
    app.get("/urls/999999/resolve").await.expect_error(404);
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The split the issue asks for, through the hash visits really get: 10,000 visitors
/// (addresses and browsers) on a 70/20/10 split land within 5 points of each weight, and
/// each lands on the same variant every time.
#[test]
fn ten_thousand_visitors_split_within_five_points_of_the_weights() {
    use kurz::clicks::classify::Classifier;
    use kurz::domain::rules::{Variant, pick_variant};
    use kurz::domain::{Timestamp, Visit};
    let classifier = Classifier::new(None);
    let variants: Vec<Variant> = [70, 20, 10]
        .iter()
        .enumerate()
        .map(|(i, weight)| Variant {
            url: format!("https://{i}.example/"),
            weight: *weight,
        })
        .collect();
    let agents = [CHROME, IPHONE, ANDROID_FIREFOX];
    let mut counts = [0u32; 3];
    for i in 0..10_000u32 {
        let client = std::net::IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let visit = Visit {
            at: Timestamp::now(),
            referrer: None,
            user_agent: Some(agents[i as usize % 3]),
            accept_language: None,
            prefetch: false,
            client: Some(client),
        };
        let pick = |visit: &Visit| {
            let visitor = classifier.visitor(visit, 42, None);
            pick_variant(&variants, visitor.sticky).unwrap().0
        };
        let chosen = pick(&visit);
        assert_eq!(pick(&visit), chosen, "the same visitor, the same variant");
        counts[chosen] += 1;
    }
    for (count, weight) in counts.iter().zip([70.0, 20.0, 10.0]) {
        let share = f64::from(*count) / 100.0;
        assert!((share - weight).abs() <= 5.0, "{counts:?}");
    }
}
