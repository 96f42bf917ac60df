//! A link's lifecycle on the embedded store: expiry, visit caps (exact under concurrent
//! visits, humans only), the fallback, redirect statuses and their caching, passwords (the
//! header, the form, the rate limit, the hash never shown) and the inspect page's status.

use crate::common::prelude::*;
use crate::common::visits::{CHROME, GOOGLEBOT, SLACKBOT};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// `POST /urls` with lifecycle fields: the new url.
async fn create(app: &TestApp, body: Value) -> Value {
    app.post_json("/urls", &body).await.expect_json(201)
}

/// A visit by a person in Chrome.
async fn human(app: &TestApp, code: &str) -> Reply {
    app.get_with_headers(&format!("/{code}"), &[("User-Agent", CHROME)])
        .await
}

fn in_secs(secs: u64) -> String {
    let at = time::OffsetDateTime::now_utc() + Duration::from_secs(secs);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_link_redirects_until_it_expires_then_answers_410_or_its_fallback() {
    let app = spawn_app().await;
    let expiry = in_secs(2);
    let url = create(
        &app,
        json!({"original_url": "https://example.com/soon", "expires_at": expiry}),
    )
    .await;
    let with_fallback = create(
        &app,
        json!({"original_url": "https://example.com/soon", "expires_at": expiry,
               "fallback_url": "https://example.com/later"}),
    )
    .await;
    assert!(
        url["expires_at"].as_str().is_some_and(|at| at.len() == 19),
        "{url}"
    );
    let (code, fallback_code) = (
        str_of(&url, "short_code"),
        str_of(&with_fallback, "short_code"),
    );
    human(&app, code).await.expect(302);
    // After the instant, whichever comes first.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while human(&app, code).await.code() != 410 {
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = human(&app, code).await.expect_error(410);
    assert!(str_of(&gone, "error").contains("expired"), "{gone}");
    let page = app
        .get_with_headers(&format!("/{code}"), &[("Accept", "text/html")])
        .await
        .expect(410);
    assert!(page.body.contains("This link has expired"), "{}", page.body);
    let fallen = human(&app, fallback_code).await.expect(302);
    assert_eq!(
        fallen.location().as_deref(),
        Some("https://example.com/later")
    );
    let clicks = app.clicks(id_of(&with_fallback)).await;
    let last = &clicks.last().unwrap()["details"];
    assert_eq!(
        (&last["fallback"], &last["redirected_to"]),
        (&json!("expired"), &json!("https://example.com/later"))
    );
    let inspected = app.get(&format!("/{code}+")).await.expect_json(200);
    assert_eq!(inspected["status"], "expired");
}

#[tokio::test]
async fn a_cap_lets_exactly_its_human_visits_through_however_many_arrive_at_once() {
    let app = spawn_app().await;
    let url = create(
        &app,
        json!({"original_url": "https://example.com/capped", "max_clicks": 50}),
    )
    .await;
    let code = str_of(&url, "short_code").to_owned();
    // Crawlers and link previews are redirected but use none of the cap.
    for agent in [GOOGLEBOT, SLACKBOT] {
        for _ in 0..5 {
            app.get_with_headers(&format!("/{code}"), &[("User-Agent", agent)])
                .await
                .expect(302);
        }
    }
    let visits = (0..200).map(|_| {
        let api = app.api.clone();
        let code = code.clone();
        tokio::spawn(async move {
            api.get_with_headers(&format!("/{code}"), &[("User-Agent", CHROME)])
                .await
                .code()
        })
    });
    let mut answers = std::collections::BTreeMap::new();
    for visit in visits {
        *answers.entry(visit.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(answers, [(302, 50), (410, 150)].into(), "exactly the cap");
    let gone = human(&app, &code).await.expect_error(410);
    assert!(str_of(&gone, "error").contains("visit limit"), "{gone}");
    // Only redirects are clicks: 50 people and 10 bots.
    assert_eq!(app.clicks_stored(id_of(&url), 60).await, 60);
    assert_eq!(
        app.get(&format!("/{code}+")).await.expect_json(200)["status"],
        "exhausted"
    );
    // A raised cap lets more through; a fallback takes the visits after it.
    let id = id_of(&url);
    app.put_json(
        &format!("/urls/{id}"),
        &json!({"max_clicks": 52, "fallback_url": "https://example.com/full"}),
    )
    .await
    .expect(200);
    for _ in 0..2 {
        let visit = human(&app, &code).await.expect(302);
        assert_eq!(
            visit.location().as_deref(),
            Some("https://example.com/capped")
        );
    }
    let full = human(&app, &code).await.expect(302);
    assert_eq!(full.location().as_deref(), Some("https://example.com/full"));
}

#[tokio::test]
async fn each_redirect_type_answers_its_status_and_only_fixed_permanent_ones_are_cached() {
    let app = spawn_app().await;
    for (status, expiry, cache) in [
        (301, None, "public, max-age=3600"),
        (308, None, "public, max-age=3600"),
        (307, None, "private, max-age=0"),
        (302, None, "private, max-age=0"),
        (301, Some(in_secs(3600)), "private, max-age=0"),
    ] {
        let mut body =
            json!({"original_url": "https://example.com/typed", "redirect_type": status});
        if let Some(at) = expiry {
            body["expires_at"] = json!(at);
        }
        let url = create(&app, body).await;
        assert_eq!(url["redirect_type"], status);
        let reply = human(&app, str_of(&url, "short_code")).await.expect(status);
        assert_eq!(
            reply.location().as_deref(),
            Some("https://example.com/typed")
        );
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some(cache),
            "{status}"
        );
    }
    // A plain link shows none of the new fields.
    let plain = app.shorten("https://example.com/plain").await;
    assert!(plain.get("redirect_type").is_none() && plain.get("has_password").is_none());
}

#[tokio::test]
async fn a_password_is_asked_for_checked_limited_and_never_shown() {
    let app = spawn_app().await;
    let secret = "correct horse battery";
    let url = create(
        &app,
        json!({"original_url": "https://example.com/secret", "password": secret}),
    )
    .await;
    assert_eq!(url["has_password"], true);
    let (id, code) = (id_of(&url), str_of(&url, "short_code").to_owned());
    let path = format!("/{code}");

    // Without it: JSON for API clients, the form for browsers.
    let asked = human(&app, &code).await.expect_error(401);
    assert!(
        str_of(&asked, "error").contains("X-Link-Password"),
        "{asked}"
    );
    let form = app
        .get_with_headers(
            &path,
            &[("Accept", "text/html,*/*"), ("User-Agent", CHROME)],
        )
        .await
        .expect(401);
    assert!(
        form.body
            .contains(&format!("<form method=\"post\" action=\"/{code}\">")),
        "{}",
        form.body
    );
    assert!(form.body.contains("<label for=\"password\">"));
    // The header: wrong, then right.
    let header = |password: &'static str| [("User-Agent", CHROME), ("X-Link-Password", password)];
    app.get_with_headers(&path, &header("wrong one"))
        .await
        .expect_error(401);
    let reply = app
        .get_with_headers(&path, &header("correct horse battery"))
        .await
        .expect(302);
    assert_eq!(
        reply.location().as_deref(),
        Some("https://example.com/secret")
    );
    // The form: wrong, then right.
    let post = |password: &str| {
        app.request(Method::POST, &path)
            .header("Accept", "text/html")
            .header("User-Agent", CHROME)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "password={}",
                url::form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
            ))
    };
    let wrong = app.send(post("guess")).await.expect(401);
    assert!(
        wrong.body.contains("That password is not right."),
        "{}",
        wrong.body
    );
    let right = app.send(post(secret)).await.expect(303);
    assert_eq!(
        right.location().as_deref(),
        Some("https://example.com/secret")
    );
    // A post that is no form brings no password (and is no attempt).
    let empty = app.post_raw(&path, "{}", Some("application/json")).await;
    assert!(str_of(&empty.expect_error(401), "error").contains("needs a password"));
    assert_eq!(
        app.clicks_stored(id, 2).await,
        2,
        "the two redirects are the clicks"
    );

    // Five tries at once, then one every twelve seconds: the sixth is refused at once.
    app.get_with_headers(&path, &header("wrong one"))
        .await
        .expect_error(401);
    let limited = app.get_with_headers(&path, &header("wrong one")).await;
    assert_eq!(limited.code(), 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    // Another link's attempts are counted apart.
    let other = create(
        &app,
        json!({"original_url": "https://example.com/b", "password": "other pass"}),
    )
    .await;
    app.get_with_headers(
        &format!("/{}", str_of(&other, "short_code")),
        &[("X-Link-Password", "other pass")],
    )
    .await
    .expect(302);

    // The hash or the password appear in no answer; the change is an event without them.
    let inspected = app.get(&format!("/{code}+")).await.expect_json(200);
    assert_eq!(
        (&inspected["status"], &inspected["original_url"]),
        (&json!("protected"), &Value::Null)
    );
    app.put_json(&format!("/urls/{id}"), &json!({"password": null}))
        .await
        .expect(200);
    human(&app, &code).await.expect(302);
    for answer in [
        app.get(&format!("/urls/{id}")).await.body,
        app.get("/urls").await.body,
        app.get(&format!("/events?url_id={id}")).await.body,
        app.get("/events").await.body,
    ] {
        assert!(
            !answer.contains(secret) && !answer.contains("argon2"),
            "{answer}"
        );
    }
    let updated: Vec<Value> = app.events("event_type=updated").await;
    assert_eq!(
        updated[0]["details"],
        json!({"field": "password", "new_value": "removed"})
    );
}

#[tokio::test]
async fn bad_lifecycle_fields_are_422_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let base = |extra: Value| {
        let mut body = json!({"original_url": "https://example.com/x"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    app.assert_invalid(
        Method::POST,
        "/urls",
        &[
            (base(json!({"expires_at": "2020-01-01T00:00:00"})), "expires_at"),
            (base(json!({"expires_at": "next week"})), "expires_at"),
            (base(json!({"max_clicks": 0})), "max_clicks"),
            (base(json!({"max_clicks": 1.5})), "max_clicks"),
            (base(json!({"max_clicks": "3"})), "max_clicks"),
            (base(json!({"redirect_type": 303})), "redirect_type"),
            (base(json!({"password": "abc"})), "password"),
            (base(json!({"fallback_url": "ftp://example.com"})), "fallback_url"),
            (base(json!({"rules": [{"when": {"device": "ios"}, "target": "https://ok.example/"},
                                   {"when": {"device": "fridge"}, "target": "https://ok.example/"}]})), "rules[1].when.device"),
            (base(json!({"rules": [{"when": {"country": "DE"}, "target": "javascript:alert(1)"}]})), "rules[0].target"),
            (base(json!({"rules": {"device": "ios"}})), "rules"),
            (base(json!({"variants": [{"url": "https://a.example/", "weight": 0}]})), "variants[0].weight"),
            (base(json!({"variants": (0..51).map(|_| json!({"url": "https://a.example/", "weight": 1})).collect::<Vec<_>>()})), "variants"),
        ],
    )
    .await;
    assert_eq!(app.count("/urls").await, 0, "nothing was created");
    let url = app.shorten("https://example.com/kept").await;
    let id = id_of(&url);
    app.put_json(
        &format!("/urls/{id}"),
        &json!({"max_clicks": -1, "title": "changed"}),
    )
    .await
    .expect_invalid("max_clicks");
    let kept = app.get(&format!("/urls/{id}")).await.expect_json(200);
    assert_eq!(kept, url, "a refused update changes nothing");
}

#[tokio::test]
async fn a_used_up_cap_ends_the_link_for_bots_and_before_its_password_and_the_form_answers_303() {
    let app = spawn_app().await;
    let capped = create(
        &app,
        json!({"original_url": "https://example.com/once", "max_clicks": 1}),
    )
    .await;
    let code = str_of(&capped, "short_code").to_owned();
    human(&app, &code).await.expect(302);
    // No person was refused yet, so nothing was remembered: the bot's visit reads the cap.
    app.get_with_headers(&format!("/{code}"), &[("User-Agent", GOOGLEBOT)])
        .await
        .expect_error(410);
    let protected = create(
        &app,
        json!({"original_url": "https://example.com/kept", "max_clicks": 1,
               "password": "let me in", "redirect_type": 307}),
    )
    .await;
    let path = format!("/{}", str_of(&protected, "short_code"));
    let form = |password: &'static str| {
        app.request(Method::POST, &path)
            .header("User-Agent", CHROME)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("password={}", password.replace(' ', "+")))
    };
    // The form's redirect is a 303 whatever the link's type: a 307 would post the
    // password on to the target.
    let through = app.send(form("let me in")).await.expect(303);
    assert_eq!(
        through.location().as_deref(),
        Some("https://example.com/kept")
    );
    // Used up: the end is told before any password is asked for.
    human(&app, &path[1..]).await.expect_error(410);
    app.send(form("let me in")).await.expect_error(410);
}
