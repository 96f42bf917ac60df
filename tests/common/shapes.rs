//! What the API's objects and errors look like: the exact keys and types of users, urls and
//! events, the error body of the contract, and small accessors for JSON answers.

use serde_json::Value;
use std::collections::BTreeSet;

/// The keys of each object kind, exactly.
pub const USER_KEYS: &[&str] = &["id", "username", "email", "created_at"];
pub const URL_KEYS: &[&str] = &[
    "id",
    "user_id",
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
    "updated_at",
];
pub const EVENT_KEYS: &[&str] = &[
    "id",
    "url_id",
    "user_id",
    "event_type",
    "timestamp",
    "details",
];

pub fn assert_error_body(body: &Value, status: u16) {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("{status} body has no \"error\": {body}"));
    assert!(
        error.as_str().is_some_and(|e| !e.trim().is_empty()),
        "{status} body's \"error\" is not a non-empty string: {body}"
    );
    // Never internals: no driver errors, panics, stack traces or HTML.
    let text = body.to_string().to_ascii_lowercase();
    for leak in [
        "sqlx",
        "sqlite",
        "panicked",
        "stack backtrace",
        "<html",
        "src/",
    ] {
        assert!(
            !text.contains(leak),
            "{status} body leaks internals ({leak:?}): {body}"
        );
    }
    if let Some(details) = body.get("details") {
        let details = details
            .as_object()
            .unwrap_or_else(|| panic!("\"details\" is not an object: {body}"));
        for (field, problem) in details {
            assert!(
                problem.is_string(),
                "details.{field} is not a string: {body}"
            );
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, a real date and time, no zone, no fraction.
pub fn is_wire_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    shape && time::PrimitiveDateTime::parse(text, format).is_ok()
}

pub fn assert_datetime(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(
        is_wire_datetime(text),
        "{what} is not YYYY-MM-DDTHH:MM:SS: {text:?}"
    );
}

pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected a JSON object, got {value}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_keys(value: &Value, expected: &[&str], kind: &str) {
    let expected: BTreeSet<String> = expected.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(keys(value), expected, "{kind} has the wrong keys: {value}");
}

fn assert_id(value: &Value, what: &str) {
    assert!(
        value.as_i64().is_some_and(|id| id > 0),
        "{what} is not a positive integer: {value}"
    );
}

fn assert_optional_id(value: &Value, what: &str) {
    if !value.is_null() {
        assert_id(value, what);
    }
}

pub fn assert_user(user: &Value) {
    assert_keys(user, USER_KEYS, "user");
    assert_id(&user["id"], "user.id");
    assert!(user["username"].is_string(), "user.username: {user}");
    assert!(user["email"].is_string(), "user.email: {user}");
    assert_datetime(&user["created_at"], "user.created_at");
}

pub fn assert_url(url: &Value) {
    assert_keys(url, URL_KEYS, "url");
    assert_id(&url["id"], "url.id");
    assert_optional_id(&url["user_id"], "url.user_id");
    assert!(url["short_code"].is_string(), "url.short_code: {url}");
    assert!(url["original_url"].is_string(), "url.original_url: {url}");
    assert!(
        url["title"].is_string() || url["title"].is_null(),
        "url.title: {url}"
    );
    assert!(url["is_active"].is_boolean(), "url.is_active: {url}");
    assert_datetime(&url["created_at"], "url.created_at");
    assert_datetime(&url["updated_at"], "url.updated_at");
}

pub fn assert_event(event: &Value) {
    assert_keys(event, EVENT_KEYS, "event");
    assert_id(&event["id"], "event.id");
    assert_optional_id(&event["url_id"], "event.url_id");
    assert_optional_id(&event["user_id"], "event.user_id");
    assert!(
        event["event_type"].as_str().is_some_and(|t| !t.is_empty()),
        "event.event_type: {event}"
    );
    assert_datetime(&event["timestamp"], "event.timestamp");
    assert!(
        event["details"].is_object(),
        "event.details must always be a JSON object: {event}"
    );
}

pub fn assert_ordered_by_id(items: &[Value]) {
    let ids: Vec<i64> = items.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "list is not ordered by id: {ids:?}"
    );
}

pub fn id_of(item: &Value) -> i64 {
    item["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer id: {item}"))
}

pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(id_of).collect()
}

pub fn str_of<'a>(item: &'a Value, key: &str) -> &'a str {
    item[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {item}"))
}

/// A generated code: 6 characters of `[A-Za-z0-9]`.
pub fn is_generated_code(code: &str) -> bool {
    code.len() == 6 && code.chars().all(|c| c.is_ascii_alphanumeric())
}
