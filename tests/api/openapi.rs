//! `GET /openapi.json` and `GET /docs`: the document is valid OpenAPI 3.1, every operation it
//! describes is routed, and what the server answers is documented. (That every route is
//! described holds by construction: routes are registered with their description, through
//! `utoipa_axum::routes!`.)

use crate::common::prelude::*;
use kurz::config::AuthMode;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(api: &Api) -> Value {
    api.get("/openapi.json").await.expect_json(200)
}

/// Every operation as (method, path template, operation).
fn operations(spec: &Value) -> Vec<(&'static str, &str, &Value)> {
    let paths = spec["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .into_iter()
                .filter_map(move |method| item.get(method).map(|op| (method, path.as_str(), op)))
        })
        .collect()
}

fn operation<'a>(spec: &'a Value, method: &Method, template: &str) -> &'a Value {
    let op = &spec["paths"][template][method.as_str().to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    op
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(target) => spec
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("$ref {target} does not resolve")),
        None => value,
    }
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => refs.push(target),
                    _ => collect_refs(child, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

/// Asserts that `reply` is a documented answer of `method template`: its status is listed,
/// its content type is one documented for that status, and each documented header is sent.
fn assert_documented(spec: &Value, method: Method, template: &str, reply: &Reply) {
    let op = operation(spec, &method, template);
    let status = reply.status.as_str();
    let documented = op["responses"].get(status).unwrap_or_else(|| {
        let listed: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        panic!(
            "{method} {template} answered {status}, documented are {listed:?}; body: {}",
            reply.body
        )
    });
    let documented = resolve(spec, documented);
    if let Some(content) = documented["content"].as_object() {
        let mime = reply.header("content-type").unwrap_or_default();
        let mime = mime.split(';').next().unwrap_or_default().trim();
        assert!(
            content.contains_key(mime),
            "{method} {template} {status} answered {mime:?}, documented are {:?}",
            content.keys().collect::<Vec<_>>()
        );
    }
    for name in documented["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|h| h.0)
    {
        assert!(
            reply.header(name).is_some(),
            "{method} {template} {status} lacks the documented header {name}"
        );
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi: {}",
        spec["openapi"]
    );
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());

    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty(), "the document uses no $ref at all");
    for target in refs {
        assert!(target.starts_with("#/"), "non-local $ref {target}");
        assert!(
            spec.pointer(&target[1..]).is_some(),
            "$ref {target} does not resolve"
        );
    }

    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["apiKey"]["in"], "header");

    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id), "operationId {id} is used twice");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            !responses.is_empty(),
            "{method} {path} documents no response"
        );
        for status in responses.keys() {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok(),
                "{method} {path}: response key {status:?} is not a status code"
            );
        }
        assert!(responses.contains_key("503"), "{method} {path} lacks 503");
        for requirement in op["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().expect("requirement").keys() {
                assert!(schemes.get(scheme).is_some(), "unknown scheme {scheme}");
            }
        }
        for content in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let alternatives = content.1["schema"]["oneOf"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                !alternatives.contains(&json!({ "type": "null" })),
                "{method} {path}: an optional body is absent, never null"
            );
        }
        for (status, response) in responses {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap_or_default();
                let exists = operations(&spec)
                    .iter()
                    .any(|(_, _, op)| op["operationId"] == target);
                assert!(
                    exists,
                    "{method} {path} {status}: link {name} to unknown {target:?}"
                );
            }
        }
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap_or_default();
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{path} has no {{{name}}}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    let documented = operations(&spec);
    assert!(documented.len() >= 25, "{} operations", documented.len());
    for (method, template, _) in documented {
        let path = template.replace("{id}", "1").replace("{code}", "abc123");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let reply = app.send(app.request(method.clone(), &path)).await;
        assert_ne!(reply.status, 405, "{method} {template} is not routed");
        let unrouted =
            reply.status == 404 && reply.json()["error"].as_str() == Some("no such route");
        assert!(!unrouted, "{method} {template} is not routed");
    }
}

#[tokio::test]
async fn what_the_server_answers_is_documented() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    let check = |method: Method, template: &'static str, reply: Reply| {
        assert_documented(&spec, method, template, &reply);
        reply
    };
    use Method as M;

    check(M::GET, "/health", app.get("/health").await.expect(200));
    check(M::GET, "/ready", app.get("/ready").await.expect(200));
    check(M::GET, "/metrics", app.get("/metrics").await.expect(200));
    check(M::GET, "/docs", app.get("/docs").await.expect(200));
    check(
        M::GET,
        "/openapi.json",
        app.get("/openapi.json").await.expect(200),
    );

    // Users.
    let body = json!({ "username": "ada", "email": "ada@example.com" });
    let user = check(
        M::POST,
        "/users",
        app.post_json("/users", &body).await.expect(201),
    )
    .json();
    check(
        M::POST,
        "/users",
        app.post_json("/users", &body).await.expect(409),
    );
    check(
        M::POST,
        "/users",
        app.post_raw("/users", "x", None).await.expect(400),
    );
    let bad = json!({ "username": 5 });
    check(
        M::POST,
        "/users",
        app.post_json("/users", &bad).await.expect(422),
    );
    let user_path = format!("/users/{}", user["id"]);
    check(M::GET, "/users/{id}", app.get(&user_path).await.expect(200));
    check(
        M::GET,
        "/users/{id}",
        app.get("/users/999999").await.expect(404),
    );
    let rename = json!({ "username": "ada2" });
    check(
        M::PUT,
        "/users/{id}",
        app.put_json(&user_path, &rename).await.expect(200),
    );
    check(
        M::PUT,
        "/users/{id}",
        app.put_json("/users/999999", &rename).await.expect(404),
    );
    check(
        M::GET,
        "/users",
        app.get("/users?per_page=5").await.expect(200),
    );
    check(
        M::GET,
        "/users",
        app.get("/users?page=abc").await.expect(422),
    );
    let urls_of = format!("{user_path}/urls");
    check(
        M::GET,
        "/users/{id}/urls",
        app.get(&urls_of).await.expect(200),
    );
    check(
        M::GET,
        "/users/{id}/urls",
        app.get("/users/999999/urls").await.expect(404),
    );
    check(
        M::POST,
        "/users/bulk",
        app.bulk_import(users_csv(3), None).await.expect(201),
    );
    check(
        M::POST,
        "/users/bulk",
        app.bulk_import(b"id\n1\n".to_vec(), None).await.expect(422),
    );
    let no_file = app.post_raw("/users/bulk", "x", Some("text/plain")).await;
    check(M::POST, "/users/bulk", no_file.expect(400));

    // Urls, redirects, reports.
    let body = json!({ "original_url": "https://example.com/a", "user_id": user["id"] });
    let url = check(
        M::POST,
        "/urls",
        app.post_json("/urls", &body).await.expect(201),
    )
    .json();
    let unknown_owner = json!({ "original_url": "https://example.com/a", "user_id": 999999 });
    check(
        M::POST,
        "/urls",
        app.post_json("/urls", &unknown_owner).await.expect(404),
    );
    let custom =
        json!({ "original_url": "https://example.com/b", "short_code": url["short_code"] });
    check(
        M::POST,
        "/urls",
        app.post_json("/urls", &custom).await.expect(409),
    );
    let ftp = json!({ "original_url": "ftp://example.com/" });
    check(
        M::POST,
        "/urls",
        app.post_json("/urls", &ftp).await.expect(422),
    );
    let url_path = format!("/urls/{}", url["id"]);
    check(M::GET, "/urls/{id}", app.get(&url_path).await.expect(200));
    check(M::GET, "/urls/{id}", app.get("/urls/abc").await.expect(404));
    check(
        M::GET,
        "/urls",
        app.get("/urls?user_id=x").await.expect(422),
    );
    let filters = json!({ "is_active": true });
    check(
        M::GET,
        "/urls",
        app.get_json("/urls", &filters).await.expect(200),
    );
    let code = str_of(&url, "short_code").to_owned();
    check(
        M::GET,
        "/{code}",
        app.get(&format!("/{code}")).await.expect(302),
    );
    check(M::GET, "/{code}", app.get("/nosuchcode").await.expect(404));
    let under_urls = format!("/urls/{code}/redirect");
    check(
        M::GET,
        "/urls/{code}/redirect",
        app.get(&under_urls).await.expect(302),
    );
    let report = format!("/urls/{code}/report");
    let reason = json!({ "reason": "spam" });
    check(
        M::POST,
        "/urls/{code}/report",
        app.post_json(&report, &reason).await.expect(202),
    );
    let missing = app.post_json("/urls/nosuchcode/report", &reason).await;
    check(M::POST, "/urls/{code}/report", missing.expect(404));
    let deactivate = json!({ "is_active": "no" });
    check(
        M::PUT,
        "/urls/{id}",
        app.put_json(&url_path, &deactivate).await.expect(422),
    );
    let retitle = json!({ "title": "t" });
    check(
        M::PUT,
        "/urls/{id}",
        app.put_json(&url_path, &retitle).await.expect(200),
    );

    // Events.
    let event = json!({ "event_type": "share", "url_id": url["id"], "details": { "via": "x" } });
    check(
        M::POST,
        "/events",
        app.post_json("/events", &event).await.expect(201),
    );
    let details = json!({ "event_type": "share", "details": "text" });
    check(
        M::POST,
        "/events",
        app.post_json("/events", &details).await.expect(422),
    );
    let unknown_url = json!({ "event_type": "share", "url_id": 999999 });
    check(
        M::POST,
        "/events",
        app.post_json("/events", &unknown_url).await.expect(404),
    );
    check(
        M::GET,
        "/events",
        app.get("/events?event_type=click").await.expect(200),
    );

    // Deletes last.
    check(
        M::DELETE,
        "/urls/{id}",
        app.delete(&url_path).await.expect(204),
    );
    check(
        M::DELETE,
        "/urls/{id}",
        app.delete(&url_path).await.expect(404),
    );
    check(
        M::DELETE,
        "/users/{id}",
        app.delete(&user_path).await.expect(204),
    );
    check(
        M::DELETE,
        "/users/{id}",
        app.delete(&user_path).await.expect(404),
    );

    // A body over the limit.
    let huge = format!(
        "{{\"original_url\":\"https://example.com/{}\"}}",
        "a".repeat(2 << 20)
    );
    let too_large = app.post_raw("/urls", huge, Some("application/json")).await;
    check(M::POST, "/urls", too_large.expect(413));
}

#[tokio::test]
async fn rate_limit_and_key_refusals_are_documented() {
    let app = spawn_app_with(limit_creates(1, 1)).await;
    let spec = document(&app).await;
    let body = json!({ "original_url": "https://example.com/" });
    app.post_json("/urls", &body).await.expect(201);
    let limited = app.post_json("/urls", &body).await.expect(429);
    assert_documented(&spec, Method::POST, "/urls", &limited);

    let keys = spawn_app_with(|settings| settings.security.auth = AuthMode::Keys).await;
    let missing = keys.get("/urls").await.expect(401);
    assert_documented(&spec, Method::GET, "/urls", &missing);
    let op = operation(&spec, &Method::GET, "/urls");
    assert_eq!(
        op["security"],
        json!([{ "bearerAuth": ["read"] }, { "apiKey": ["read"] }])
    );
    let op = operation(&spec, &Method::POST, "/users");
    assert_eq!(
        op["security"],
        json!([{ "bearerAuth": ["admin"] }, { "apiKey": ["admin"] }])
    );
    assert!(operation(&spec, &Method::GET, "/{code}")["security"].is_null());
}

#[tokio::test]
async fn the_description_is_public_in_keys_mode_and_the_page_loads_nothing_from_elsewhere() {
    let app = spawn_app_with(|settings| settings.security.auth = AuthMode::Keys).await;
    let spec = document(&app).await;
    let page = app.get("/docs").await.expect(200);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'none'"), "policy: {policy}");
    for outside in ["<script", " src=", "<link", "@import"] {
        assert!(
            !page.body.contains(outside),
            "the page contains {outside:?}"
        );
    }
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap();
        assert!(
            page.body.contains(&format!("id=\"{id}\"")),
            "{method} {path} not on /docs"
        );
    }
}
