//! The web UI's pages over HTTP (the browser suite drives them in Chromium): shorten, the
//! list with search, filter and pages, switching off, editing, deleting, the CSRF check,
//! HTML error pages beside JSON API errors, `KURZ_UI=off`, and `keys` mode's sign-in with
//! what each scope may see.

use crate::common::pages::{Visitor, text_of_id};
use crate::common::prelude::*;
use kurz::config::{AuthMode, UiMode};
use serde_json::json;

fn html(reply: &Reply) -> &str {
    let kind = reply.header("content-type").unwrap_or_default();
    assert!(kind.starts_with("text/html"), "{kind}: {}", reply.body);
    assert!(
        reply.body.starts_with("<!DOCTYPE html><html lang=\"en\">"),
        "{}",
        reply.body
    );
    assert_eq!(reply.body.matches("<h1").count(), 1, "one h1");
    assert!(reply.body.len() < 50_000, "pages stay under 50 KB");
    &reply.body
}

#[tokio::test]
async fn a_link_is_shortened_on_the_page_and_follows() {
    let app = spawn_app().await;
    let mut person = Visitor::new(&app.api);
    let form = person.get("/").await.expect(200);
    assert!(html(&form).contains("<label for=\"original_url\">Long URL</label>"));
    assert!(
        person.cookie("kurz_csrf").is_some(),
        "the page sets its CSRF cookie"
    );
    assert_eq!(form.header("cache-control").as_deref(), Some("no-store"));

    let made = person
        .post(
            "/",
            &[
                ("original_url", "https://example.com/from/the/page"),
                ("title", "Made here"),
            ],
        )
        .await
        .expect(201);
    let short = text_of_id(html(&made), "short-link").unwrap();
    assert!(made.body.contains("<svg"), "the QR code is on the page");
    let code = short.rsplit('/').next().unwrap();
    let (status, target) = app.follow(code).await;
    assert_eq!(
        (status, target.as_deref()),
        (302, Some("https://example.com/from/the/page"))
    );
    let listed = app
        .get(&format!("/urls?short_code={code}"))
        .await
        .expect_json(200);
    assert_eq!(listed[0]["title"], "Made here");

    // Problems are shown beside their field, and nothing is made.
    let refused = person
        .post(
            "/",
            &[("original_url", "ftp://example.com"), ("max_clicks", "0")],
        )
        .await
        .expect(422);
    assert!(
        html(&refused).contains("id=\"original_url-problem\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"max_clicks-problem\""));
    assert!(
        refused.body.contains("value=\"ftp://example.com\""),
        "what was typed stays"
    );
    assert_eq!(app.count("/urls").await, 1);
}

#[tokio::test]
async fn a_form_without_this_browsers_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let mut person = Visitor::new(&app.api);
    person.get("/").await.expect(200);
    let forged = person
        .post_raw(
            "/",
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("original_url", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(forged.code(), 403);
    assert!(html(&forged).contains("Form expired"));
    let mut stranger = Visitor::new(&app.api);
    stranger
        .post_raw("/", &[("original_url", "https://evil.example/")])
        .await
        .expect(403);
    // The right token, but posted by another site's page (a sibling subdomain can plant
    // the token's cookie): the browser says so, and the form is refused.
    let token = person.cookie("kurz_csrf").unwrap_or_default().to_owned();
    for site in ["same-site", "cross-site"] {
        let request = app
            .request(reqwest::Method::POST, "/")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", format!("kurz_csrf={token}"))
            .header("Sec-Fetch-Site", site)
            .body(format!(
                "csrf={token}&original_url=https%3A%2F%2Fevil.example%2F"
            ));
        assert_eq!(app.send(request).await.code(), 403, "{site}");
    }
    assert_eq!(app.count("/urls").await, 0);
    // From kurz's own page, the same post goes through.
    let request = app
        .request(reqwest::Method::POST, "/")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", format!("kurz_csrf={token}"))
        .header("Sec-Fetch-Site", "same-origin")
        .body(format!(
            "csrf={token}&original_url=https%3A%2F%2Fgood.example%2F"
        ));
    assert_eq!(app.send(request).await.code(), 201);
    assert_eq!(app.count("/urls").await, 1);
}

#[tokio::test]
async fn the_list_searches_filters_pages_switches_off_edits_and_deletes() {
    let app = spawn_app().await;
    for i in 0..23 {
        let body = json!({"original_url": format!("https://example.com/item/{i}"), "title": format!("Item {i}")});
        app.create_url(&body).await;
    }
    let special = app
        .create_url(
            &json!({"original_url": "https://docs.example.org/guide", "title": "The guide"}),
        )
        .await;
    let (id, code) = (id_of(&special), str_of(&special, "short_code").to_owned());
    for _ in 0..3 {
        app.get_with_headers(
            &format!("/{code}"),
            &[("User-Agent", crate::common::visits::CHROME)],
        )
        .await
        .expect(302);
    }
    let mut person = Visitor::new(&app.api);
    let first = person.get("/links").await.expect(200);
    assert!(html(&first).contains("24 links"));
    assert!(first.body.contains("Page 1 of 2") && first.body.contains("rel=\"next\""));
    let second = person.get("/links?page=2").await.expect(200);
    assert_eq!(
        second.body.matches("<tr>").count(),
        1 + 4,
        "a header and four links"
    );
    let found = person.get("/links?q=GUIDE").await.expect(200);
    assert!(found.body.contains("1 link<") && found.body.contains(&code));
    assert!(
        found.body.contains("<td class=\"number\">3</td>"),
        "its human clicks"
    );

    // Switched off from the list: the link answers 404 at once, and the filter finds it.
    let back = "/links?q=guide".to_string();
    person
        .post(
            &format!("/links/{id}/active"),
            &[("active", "false"), ("back", &back)],
        )
        .await
        .expect(303);
    assert_eq!(app.follow(&code).await.0, 404);
    let off = person.get("/links?state=inactive").await.expect(200);
    assert!(off.body.contains("1 link<") && off.body.contains(&code));

    // Edited on its page: the redirect changes at once.
    let page = person.get(&format!("/links/{id}")).await.expect(200);
    assert!(html(&page).contains("All clicks"));
    let saved = person
        .post(
            &format!("/links/{id}"),
            &[
                ("original_url", "https://docs.example.org/v2"),
                ("title", "The guide"),
                ("is_active", "on"),
            ],
        )
        .await
        .expect(303);
    assert_eq!(
        saved.location().as_deref(),
        Some(format!("/links/{id}?saved").as_str())
    );
    assert_eq!(
        app.follow(&code).await,
        (302, Some("https://docs.example.org/v2".to_owned()))
    );

    // Deleted after its confirmation page.
    let confirm = person.get(&format!("/links/{id}/delete")).await.expect(200);
    assert!(html(&confirm).contains("Delete this link?"));
    person
        .post(&format!("/links/{id}/delete"), &[])
        .await
        .expect(303);
    assert_eq!(app.follow(&code).await.0, 404);
    let gone = person.get(&format!("/links/{id}")).await.expect(404);
    assert!(html(&gone).contains("No such link"));
    person.get("/links/not-a-number").await.expect(404);
}

#[tokio::test]
async fn the_link_page_shows_the_numbers_the_stats_api_answers() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/counted").await;
    let (id, code) = (id_of(&url), str_of(&url, "short_code").to_owned());
    for agent in [
        crate::common::visits::CHROME,
        crate::common::visits::IPHONE,
        crate::common::visits::GOOGLEBOT,
    ] {
        app.get_with_headers(&format!("/{code}"), &[("User-Agent", agent)])
            .await
            .expect(302);
    }
    let stats = app.get(&format!("/urls/{id}/stats")).await.expect_json(200);
    let page = Visitor::new(&app.api)
        .get(&format!("/links/{id}"))
        .await
        .expect(200);
    for (label, field) in [
        ("All clicks", "total"),
        ("People", "humans"),
        ("Bots", "bots"),
    ] {
        let shown = format!("<dt>{label}</dt><dd>{}</dd>", stats[field]);
        assert!(page.body.contains(&shown), "{shown} in {}", page.body);
    }
    assert!(
        page.body
            .contains("<td>Chrome</td><td class=\"number\">1</td>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn api_errors_stay_json_and_the_ui_can_be_switched_off() {
    let app = spawn_app().await;
    let missing = app.get("/urls/999").await.expect_error(404);
    assert!(missing.get("error").is_some());
    app.get("/urls/999/qr").await.expect_error(404);
    let off = spawn_app_with(|settings| settings.ui.ui = UiMode::Off).await;
    off.get("/").await.expect_error(404);
    off.get("/links").await.expect_error(404);
    off.shorten("https://example.com/still").await;
}

#[tokio::test]
async fn in_keys_mode_a_person_signs_in_with_a_key_and_sees_what_its_scope_allows() {
    let app = spawn_app_with(|settings| settings.security.auth = AuthMode::Keys).await;
    let mint = |scope: &str| {
        let mut command = kurz_command_on(app.data_path());
        command.args(["keys", "create", "--name", "ui", "--scope", scope]);
        async { kurz_ok_beside(command).await.trim().to_owned() }
    };
    let (writer, reader) = (mint("admin").await, mint("read").await);
    let mut person = Visitor::new(&app.api);
    let asked = person.get("/links").await.expect(303);
    assert_eq!(asked.location().as_deref(), Some("/signin"));
    // Counted as the API counts a refused key: guesses at the sign-in form show too. (The
    // counter is the process's, shared with the tests running beside this one: a rise.)
    let unknown = || async {
        metric_sum(
            &app.metrics().await,
            "kurz_auth_failures_total",
            &["reason=\"unknown\""],
        )
    };
    let before = unknown().await;
    let wrong = person
        .post("/signin", &[("key", "kurz_nonsense")])
        .await
        .expect(401);
    assert!(html(&wrong).contains("Not signed in"));
    assert!(unknown().await > before);
    let signed = person
        .post("/signin", &[("key", &writer)])
        .await
        .expect(303);
    let cookie = signed.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains(&writer), "the cookie never holds the key");
    person
        .post("/", &[("original_url", "https://example.com/by-admin")])
        .await
        .expect(201);
    let list = person.get("/links").await.expect(200);
    assert!(html(&list).contains("Switch off") && list.body.contains("Sign out"));
    person.post("/signout", &[]).await.expect(303);
    assert_eq!(
        person.get("/links").await.expect(303).location().as_deref(),
        Some("/signin")
    );

    // A read key: the list without any control that writes, and no shorten form.
    let mut viewer = Visitor::new(&app.api);
    viewer
        .post("/signin", &[("key", &reader)])
        .await
        .expect(303);
    let list = viewer.get("/links").await.expect(200);
    assert!(html(&list).contains("1 link<"));
    assert!(!list.body.contains("Switch off") && !list.body.contains("Delete"));
    assert_eq!(
        viewer.get("/").await.expect(303).location().as_deref(),
        Some("/links")
    );
    viewer
        .post("/", &[("original_url", "https://example.com/by-reader")])
        .await
        .expect(403);
    viewer
        .post("/links/1/active", &[("active", "false")])
        .await
        .expect(403);
    viewer.post("/links/1/delete", &[]).await.expect(403);
    let all = app
        .send(
            app.request(reqwest::Method::GET, "/urls")
                .bearer_auth(&writer),
        )
        .await
        .expect_json(200);
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "the reader made nothing"
    );
    assert_eq!(all[0]["is_active"], true, "and switched nothing off");
}

#[tokio::test]
async fn an_admin_answers_the_report_queue_by_switching_off_or_dismissing() {
    let app = spawn_app().await;
    let bad = app.shorten("https://example.com/bad").await;
    let fine = app.shorten("https://example.com/fine").await;
    for (url, reasons) in [(&bad, ["phishing", "malware"]), (&fine, ["spam", "spam"])] {
        for (i, reason) in reasons.iter().enumerate() {
            let path = format!("/urls/{}/report", str_of(url, "short_code"));
            let request = app
                .request(reqwest::Method::POST, &path)
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .json(&json!({ "reason": reason }));
            app.send(request).await.expect(202);
        }
    }
    let mut admin = Visitor::new(&app.api);
    let queue = admin.get("/reports").await.expect(200);
    assert!(html(&queue).contains("phishing; malware"), "{}", queue.body);
    assert!(queue.body.contains(str_of(&fine, "short_code")));
    admin
        .post(&format!("/reports/{}/deactivate", id_of(&bad)), &[])
        .await
        .expect(303);
    assert_eq!(app.follow(str_of(&bad, "short_code")).await.0, 404);
    admin
        .post(&format!("/reports/{}/dismiss", id_of(&fine)), &[])
        .await
        .expect(303);
    let after = admin.get("/reports").await.expect(200);
    assert!(
        !after.body.contains(str_of(&fine, "short_code")),
        "dismissed"
    );
    assert!(after.body.contains(str_of(&bad, "short_code")) && after.body.contains("<td>off</td>"));
    assert_eq!(app.follow(str_of(&fine, "short_code")).await.0, 302);
    let dismissed = app.events("event_type=reports_dismissed").await;
    assert_eq!(dismissed.len(), 1);
}

#[tokio::test]
async fn the_edit_form_sets_keeps_and_removes_a_password_and_the_redirect_type() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/edited").await;
    let (id, code) = (id_of(&url), str_of(&url, "short_code").to_owned());
    let mut person = Visitor::new(&app.api);
    let base = [
        ("original_url", "https://example.com/edited"),
        ("is_active", "on"),
        ("redirect_type", "308"),
    ];
    let mut fields = base.to_vec();
    fields.push(("password", "open sesame"));
    person
        .post(&format!("/links/{id}"), &fields)
        .await
        .expect(303);
    let shown = app.get(&format!("/urls/{id}")).await.expect_json(200);
    assert_eq!(
        (&shown["has_password"], &shown["redirect_type"]),
        (&json!(true), &json!(308))
    );
    let opened = app
        .get_with_headers(&format!("/{code}"), &[("X-Link-Password", "open sesame")])
        .await
        .expect(308);
    assert_eq!(
        opened.location().as_deref(),
        Some("https://example.com/edited")
    );
    // Saved again with the password field empty: the password stays.
    person
        .post(&format!("/links/{id}"), &base)
        .await
        .expect(303);
    app.get(&format!("/{code}")).await.expect_error(401);
    let page = person.get(&format!("/links/{id}")).await.expect(200);
    assert!(page.body.contains("Remove the password") && !page.body.contains("open sesame"));
    // The box removes it.
    let mut fields = base.to_vec();
    fields.push(("remove_password", "on"));
    person
        .post(&format!("/links/{id}"), &fields)
        .await
        .expect(303);
    app.get(&format!("/{code}")).await.expect(308);
    // A bad value comes back beside its field.
    let mut fields = base.to_vec();
    fields[2] = ("redirect_type", "303");
    let refused = person
        .post(&format!("/links/{id}"), &fields)
        .await
        .expect(422);
    assert!(
        html(&refused).contains("Redirect must be 301, 302, 307 or 308"),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn the_forms_draw_on_the_same_write_limits_as_the_api() {
    let app = spawn_app_with(limit_creates(1, 2)).await;
    let mut person = Visitor::new(&app.api);
    for i in 0..2 {
        let target = format!("https://example.com/limited/{i}");
        person
            .post("/", &[("original_url", &target)])
            .await
            .expect(201);
    }
    let over = person
        .post("/", &[("original_url", "https://example.com/limited/2")])
        .await
        .expect(429);
    assert!(html(&over).contains("Too many changes at once"));
    assert!(over.header("retry-after").is_some());
    // The API counts the same client's creates against the same allowance.
    app.post_json("/urls", &json!({"original_url": "https://example.com/api"}))
        .await
        .expect_error(429);
    assert_eq!(app.count("/urls").await, 2);
}

#[tokio::test]
async fn an_edit_keeps_what_it_did_not_change_and_a_typed_password_never_comes_back() {
    let app = spawn_app().await;
    let url = app
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/dated", "expires_at": "2099-01-01T10:30:45"}),
        )
        .await
        .expect_json(201);
    let id = id_of(&url);
    let mut person = Visitor::new(&app.api);
    let page = person.get(&format!("/links/{id}")).await.expect(200);
    assert!(
        page.body.contains("value=\"2099-01-01T10:30:45\""),
        "to the second"
    );
    // What a browser sends back after a title change (its datetime input may drop seconds).
    let fields = [
        ("original_url", "https://example.com/dated"),
        ("title", "Renamed"),
        ("is_active", "on"),
        ("expires_at", "2099-01-01T10:30"),
        ("redirect_type", "302"),
    ];
    person
        .post(&format!("/links/{id}"), &fields)
        .await
        .expect(303);
    let after = app.get(&format!("/urls/{id}")).await.expect_json(200);
    assert_eq!(after["expires_at"], "2099-01-01T10:30:45");
    assert!(
        after.get("redirect_type").is_none(),
        "no setting it never asked for"
    );
    let changed: Vec<String> = app
        .events("event_type=updated")
        .await
        .iter()
        .map(|e| {
            e["details"]["field"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(changed, ["title"]);
    // A refused create shows the form again without the password typed into it.
    let refused = person
        .post(
            "/",
            &[("original_url", "ftp://nope"), ("password", "secret words")],
        )
        .await
        .expect(422);
    assert!(!refused.body.contains("secret words"));
}
