//! The hot path: `GET /{short_code}` and `GET /urls/{short_code}/redirect`, click events,
//! inactive links, cache headers, and changes taking effect at once.

use crate::common::prelude::*;
use serde_json::{Value, json};

const PATHS: [&str; 2] = ["/{}", "/urls/{}/redirect"];

fn redirect_path(template: &str, code: &str) -> String {
    template.replace("{}", code)
}

#[tokio::test]
async fn both_paths_redirect_with_location_and_cache_control() {
    let app = spawn_app().await;
    let target = "https://example.com/landing?utm=x&y=%20z";
    let url = app.shorten(target).await;
    let code = str_of(&url, "short_code");
    for template in PATHS {
        let path = redirect_path(template, code);
        let reply = app.get(&path).await;
        assert_eq!(reply.status.as_u16(), 302, "GET {path}: {}", reply.body);
        assert_eq!(reply.header("location").as_deref(), Some(target), "{path}");
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("private, max-age=0"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_codes_are_404_json() {
    let app = spawn_app().await;
    app.shorten("https://example.com").await;
    for code in ["zzzzzz", "no-such-code", "x", "abc"] {
        for template in PATHS {
            app.get(&redirect_path(template, code))
                .await
                .expect_error(404);
        }
    }
    assert!(app.events("event_type=click").await.is_empty());
}

#[tokio::test]
async fn every_redirect_records_a_click_without_headers() {
    let app = spawn_app().await;
    let owner = app.create_user("owner").await;
    let target = "https://example.com/clicked";
    let url = app.shorten_for(id_of(&owner), target).await;
    let code = str_of(&url, "short_code");

    app.get(&format!("/{code}")).await.expect(302);
    // Visible as soon as the redirect has answered.
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 1, "{clicks:?}");
    let click = &clicks[0];
    assert_eq!(click["event_type"], "click");
    assert_eq!(click["url_id"], url["id"]);
    assert_eq!(click["user_id"], owner["id"]);
    assert_eq!(
        click["details"],
        json!({
            "short_code": code, "original_url": target, "referrer": null, "user_agent": null,
            // No user agent: a script, not a person.
            "visit_class": "bot", "browser": "other", "os": "other", "device": "other",
            "referrer_host": null, "language": null, "country": null,
        })
    );

    app.get(&format!("/urls/{code}/redirect")).await.expect(302);
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 2, "the second path records a click too");
    assert_eq!(clicks[1]["details"], click["details"]);
    assert!(clicks[0]["id"].as_i64() < clicks[1]["id"].as_i64());
}

#[tokio::test]
async fn clicks_record_referrer_and_user_agent() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/ref").await;
    let code = str_of(&url, "short_code");
    app.get_with_headers(
        &format!("/{code}"),
        &[
            ("Referer", "https://news.example.net/post/1"),
            ("User-Agent", "kurz-tests/1.0 (like Gecko)"),
        ],
    )
    .await
    .expect(302);
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0]["user_id"], Value::Null, "the url has no owner");
    assert_eq!(
        clicks[0]["details"],
        json!({
            "short_code": code,
            "original_url": "https://example.com/ref",
            "referrer": "https://news.example.net/post/1",
            "user_agent": "kurz-tests/1.0 (like Gecko)",
            "visit_class": "human",
            "browser": "other",
            "os": "other",
            "device": "other",
            "referrer_host": "news.example.net",
            "language": null,
            "country": null,
        })
    );
}

/// A visitor's headers may be as long as the server's header limit; a click keeps only the
/// first bytes of each (in the click queue, the classifier's cache and the event).
#[tokio::test]
async fn a_clicks_headers_are_kept_only_to_their_bound() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/long-headers").await;
    let code = str_of(&url, "short_code");
    let agent = format!("Mozilla/5.0 {}", "x".repeat(60_000));
    let referrer = format!("https://news.example.net/{}", "p".repeat(60_000));
    app.get_with_headers(
        &format!("/{code}"),
        &[
            ("Referer", referrer.as_str()),
            ("User-Agent", agent.as_str()),
        ],
    )
    .await
    .expect(302);
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 1);
    let details = &clicks[0]["details"];
    assert_eq!(details["user_agent"], json!(agent[..512]));
    assert_eq!(details["referrer"], json!(referrer[..2048]));
    assert_eq!(details["referrer_host"], "news.example.net");
}

#[tokio::test]
async fn each_redirect_is_exactly_one_click() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/count").await;
    let other = app.shorten("https://example.com/other").await;
    let code = str_of(&url, "short_code");
    for i in 0..10 {
        let template = PATHS[i % 2];
        app.get(&redirect_path(template, code)).await.expect(302);
    }
    app.get(&format!("/{}", str_of(&other, "short_code")))
        .await
        .expect(302);
    assert_eq!(app.clicks(id_of(&url)).await.len(), 10);
    assert_eq!(app.clicks(id_of(&other)).await.len(), 1);
    assert_eq!(app.count("/events?event_type=click").await, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redirects_are_all_visible_at_once() {
    let app = spawn_app().await;
    // 8 tasks of 25 redirects each, every one answered 302.
    let url = app
        .shorten_and_follow("https://example.com/busy", 8, 25)
        .await;
    assert_eq!(app.clicks(id_of(&url)).await.len(), 200);
}

#[tokio::test]
async fn inactive_links_are_404_and_record_nothing() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/off").await;
    let code = str_of(&url, "short_code");
    let path = format!("/urls/{}", url["id"]);
    // Warm whatever caches there are.
    app.get(&format!("/{code}")).await.expect(302);

    app.put_json(&path, &json!({ "is_active": false }))
        .await
        .expect(200);
    for template in PATHS {
        let reply = app.get(&redirect_path(template, code)).await;
        reply.expect_error(404);
        assert!(reply.header("location").is_none());
    }
    assert_eq!(
        app.clicks(id_of(&url)).await.len(),
        1,
        "only the first click"
    );

    // Reactivated: redirects again, at once.
    app.put_json(&path, &json!({ "is_active": true }))
        .await
        .expect(200);
    app.get(&format!("/{code}")).await.expect(302);
    assert_eq!(app.clicks(id_of(&url)).await.len(), 2);
}

#[tokio::test]
async fn edits_and_deletes_take_effect_at_once() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/before").await;
    let code = str_of(&url, "short_code");
    let path = format!("/urls/{}", url["id"]);
    for _ in 0..3 {
        let reply = app.get(&format!("/{code}")).await.expect(302);
        assert_eq!(
            reply.header("location").as_deref(),
            Some("https://example.com/before")
        );
    }
    app.put_json(
        &path,
        &json!({ "original_url": "https://example.org/after" }),
    )
    .await
    .expect(200);
    for template in PATHS {
        let reply = app.get(&redirect_path(template, code)).await.expect(302);
        assert_eq!(
            reply.header("location").as_deref(),
            Some("https://example.org/after")
        );
    }
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 5);
    assert_eq!(
        clicks[4]["details"]["original_url"],
        "https://example.org/after"
    );

    app.delete(&path).await.expect(204);
    for template in PATHS {
        app.get(&redirect_path(template, code))
            .await
            .expect_error(404);
    }
    assert_eq!(app.clicks(id_of(&url)).await.len(), 5);
}

#[tokio::test]
async fn clicks_after_the_owner_is_deleted_have_no_user() {
    let app = spawn_app().await;
    let owner = app.create_user("leaving").await;
    let url = app
        .shorten_for(id_of(&owner), "https://example.com/orphan")
        .await;
    let code = str_of(&url, "short_code");
    app.get(&format!("/{code}")).await.expect(302);
    app.delete(&format!("/users/{}", owner["id"]))
        .await
        .expect(204);
    app.get(&format!("/{code}")).await.expect(302);
    let clicks = app.clicks(id_of(&url)).await;
    assert_eq!(clicks.len(), 2);
    assert_eq!(clicks[0]["user_id"], owner["id"], "history keeps its ids");
    assert_eq!(
        clicks[1]["user_id"],
        Value::Null,
        "the url has no owner now"
    );
}

#[tokio::test]
async fn a_link_to_an_internationalized_url_redirects() {
    let app = spawn_app().await;
    let target = "https://bücher.example/straße?q=ü";
    let url = app.shorten(target).await;
    assert_eq!(url["original_url"], target);
    let reply = app.get(&format!("/{}", str_of(&url, "short_code"))).await;
    assert_eq!(
        reply.status.as_u16(),
        302,
        "a stored http(s) target must redirect: {}",
        reply.body
    );
    let location = reply.header("location").unwrap_or_default();
    assert!(
        location.starts_with("https://"),
        "Location must lead to the target: {location:?}"
    );
}

#[tokio::test]
async fn short_codes_are_case_sensitive() {
    let app = spawn_app().await;
    let lower = app
        .create_url(&json!({ "original_url": "https://example.com/lower", "short_code": "abcd" }))
        .await;
    let upper = app
        .create_url(&json!({ "original_url": "https://example.com/upper", "short_code": "ABCD" }))
        .await;
    assert_ne!(lower["id"], upper["id"]);
    for (code, target) in [
        ("abcd", "https://example.com/lower"),
        ("ABCD", "https://example.com/upper"),
    ] {
        let reply = app.get(&format!("/{code}")).await.expect(302);
        assert_eq!(reply.header("location").as_deref(), Some(target));
    }
    app.get("/AbCd").await.expect_error(404);
}

#[tokio::test]
async fn a_code_asked_for_before_it_exists_redirects_once_created() {
    let app = spawn_app().await;
    for template in PATHS {
        app.get(&redirect_path(template, "later1"))
            .await
            .expect_error(404);
    }
    let url = app
        .create_url(&json!({ "original_url": "https://example.com/later", "short_code": "later1" }))
        .await;
    for template in PATHS {
        let reply = app
            .get(&redirect_path(template, "later1"))
            .await
            .expect(302);
        assert_eq!(
            reply.header("location").as_deref(),
            Some("https://example.com/later")
        );
    }
    assert_eq!(app.clicks(id_of(&url)).await.len(), 2);
}

#[tokio::test]
async fn a_deleted_code_taken_again_leads_to_the_new_target() {
    let app = spawn_app().await;
    let old = app
        .create_url(&json!({ "original_url": "https://example.com/old", "short_code": "reuse1" }))
        .await;
    app.get("/reuse1").await.expect(302);
    app.delete(&format!("/urls/{}", old["id"]))
        .await
        .expect(204);
    app.get("/reuse1").await.expect_error(404);

    let new = app
        .create_url(&json!({ "original_url": "https://example.com/new", "short_code": "reuse1" }))
        .await;
    assert_ne!(new["id"], old["id"]);
    let reply = app.get("/reuse1").await.expect(302);
    assert_eq!(
        reply.header("location").as_deref(),
        Some("https://example.com/new")
    );
    let clicks = app.clicks(id_of(&new)).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(
        clicks[0]["details"]["original_url"],
        "https://example.com/new"
    );
    assert_eq!(app.clicks(id_of(&old)).await.len(), 1);
}

/// The second request for a code is answered from L1 in front of the router (the fast
/// path); it must look exactly like the first, be counted and record its click.
#[tokio::test]
async fn a_cached_redirect_answers_like_the_first() {
    let app = spawn_app().await;
    let target = "https://example.com/twice?x=1";
    let url = app.shorten(target).await;
    let code = str_of(&url, "short_code");
    let counted = || async {
        let text = app.get("/metrics").await.body;
        text.lines()
            .filter(|l| {
                l.starts_with("kurz_http_requests_total{")
                    && l.contains("route=\"/{code}\"")
                    && l.contains("status=\"302\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = counted().await;

    let first = app.get(&format!("/{code}")).await.expect(302);
    let cached = app.get(&format!("/{code}")).await.expect(302);
    let echoed = app
        .get_with_headers(&format!("/{code}/"), &[("x-request-id", "given-id")])
        .await
        .expect(302);
    for (name, expected) in [
        ("location", Some(target)),
        ("cache-control", Some("private, max-age=0")),
        ("x-content-type-options", Some("nosniff")),
        ("x-frame-options", Some("DENY")),
        ("server", None),
    ] {
        assert_eq!(first.header(name).as_deref(), expected, "{name}, first");
        assert_eq!(cached.header(name).as_deref(), expected, "{name}, cached");
        assert_eq!(echoed.header(name).as_deref(), expected, "{name}, echoed");
    }
    let fresh_id = cached.header("x-request-id").expect("a request id");
    assert_eq!(fresh_id.len(), 32, "{fresh_id}");
    assert_ne!(Some(fresh_id), first.header("x-request-id"));
    assert_eq!(echoed.header("x-request-id").as_deref(), Some("given-id"));
    assert!(cached.body.is_empty(), "{}", cached.body);

    assert_eq!(app.clicks(id_of(&url)).await.len(), 3);
    // The registry is shared by every test in this process: at least ours were counted.
    assert!(counted().await >= before + 3.0);
}

/// A link deactivated after it was cached is refused at once, whoever answers.
#[tokio::test]
async fn a_cached_link_deactivated_is_refused_at_once() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/soon-off").await;
    let code = str_of(&url, "short_code");
    app.get(&format!("/{code}")).await.expect(302);
    app.get(&format!("/{code}")).await.expect(302);
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &json!({"is_active": false}),
    )
    .await
    .expect(200);
    app.get(&format!("/{code}")).await.expect_error(404);
    assert_eq!(app.clicks(id_of(&url)).await.len(), 2);
}

#[tokio::test]
async fn a_code_and_a_plus_shows_where_it_leads_without_following_or_counting() {
    let app = spawn_app().await;
    let url = app
        .post_json(
            "/urls",
            &serde_json::json!({
                "original_url": "https://example.com/a?b=<c>",
                "title": "<b>Look</b> & see",
            }),
        )
        .await
        .expect_json(201);
    let code = str_of(&url, "short_code");

    let shown = app.get(&format!("/{code}+")).await.expect(200);
    assert!(shown.header("location").is_none());
    assert_eq!(
        shown.header("cache-control").as_deref(),
        Some("private, max-age=0")
    );
    let body = shown.json();
    assert_eq!(
        body,
        serde_json::json!({
            "short_code": code,
            "original_url": "https://example.com/a?b=<c>",
            "title": "<b>Look</b> & see",
            "status": "active",
            "created_at": url["created_at"],
        })
    );

    // A browser gets a page, the title and target as text.
    let page = app
        .get_with_headers(
            &format!("/{code}+"),
            &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        )
        .await
        .expect(200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.body.contains("&lt;b&gt;Look&lt;/b&gt; &amp; see"),
        "{}",
        page.body
    );
    assert!(page.body.contains("https://example.com/a?b=&lt;c&gt;"));
    assert!(!page.body.contains("<b>Look"));

    // Neither was a visit; the same under /urls/{code}/redirect.
    app.get(&format!("/urls/{code}+/redirect"))
        .await
        .expect(200);
    assert!(app.clicks(id_of(&url)).await.is_empty());

    // A switched-off link is as gone as it is to a visit; an unknown one too.
    app.put_json(
        &format!("/urls/{}", id_of(&url)),
        &serde_json::json!({ "is_active": false }),
    )
    .await
    .expect(200);
    app.get(&format!("/{code}+")).await.expect_error(404);
    app.get("/nosuchcode+").await.expect_error(404);
}

/// A link being visited is read again in the background before it expires from the
/// in-process cache: a change kurz was not told of (an import by the command line into its
/// embedded store while it serves) reaches the visitors within the cache's lifetime, and no
/// visit meanwhile misses the cache and waits for the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_visited_link_is_refreshed_in_the_background_before_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    // Links live 4.5 to 6 s in L1 here, and are due for a refresh in their last 0.75 s.
    let kurz = Kurz::options()
        .data_dir(dir.path())
        .env("KURZ_L1_TTL_SECS", "6")
        .start();
    let created = kurz.shorten_as("hot", "https://example.com/before").await;
    let id = created["id"].as_i64().expect("the new url's id");
    assert_eq!(
        kurz.follow("hot").await.1.as_deref(),
        Some("https://example.com/before")
    );
    let missed_before = kurz.l1_misses().await;

    let csv = dir.path().join("urls.csv");
    std::fs::write(
        &csv,
        format!(
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
             {id},,hot,https://example.com/after,Hot,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n"
        ),
    )
    .unwrap();
    kurz_ok(
        kurz_command_on(dir.path())
            .args(["import", "--urls"])
            .arg(&csv),
    );

    kurz.assert_refreshed_within_l1("hot", "https://example.com/after", missed_before)
        .await;
}
