//! The audit events kurz writes for changes to urls, built in one place so every
//! store records the same history.

use super::{ImportedLink, NewEvent, NewUrl, Timestamp, Url, event_type};
use serde_json::{Map, Value, json};

/// `created`: written with the url, in the same transaction.
pub fn created_event(url_id: i64, url: &NewUrl) -> NewEvent {
    NewEvent {
        url_id: Some(url_id),
        user_id: url.user_id,
        event_type: event_type::CREATED.to_owned(),
        timestamp: url.created_at,
        details: object(json!({
            "short_code": url.short_code.as_str(),
            "original_url": url.original_url.as_str(),
        })),
    }
}

/// `created`, for a link imported from another shortener: the usual details, and its
/// source's own under `imported`.
pub fn imported_event(url_id: i64, link: &ImportedLink) -> NewEvent {
    let mut event = created_event(url_id, &link.url);
    event
        .details
        .insert("imported".into(), Value::Object(link.origin.clone()));
    event
}

pub fn updated_event(url: &Url, field: &str, new_value: String, now: Timestamp) -> NewEvent {
    NewEvent {
        url_id: Some(url.id),
        user_id: url.user_id,
        event_type: event_type::UPDATED.to_owned(),
        timestamp: now,
        details: object(json!({ "field": field, "new_value": new_value })),
    }
}

pub fn deleted_event(url: &Url, now: Timestamp) -> NewEvent {
    NewEvent {
        url_id: Some(url.id),
        user_id: url.user_id,
        event_type: event_type::DELETED.to_owned(),
        timestamp: now,
        details: object(json!({ "reason": "user_requested", "short_code": url.short_code })),
    }
}

/// Unwraps a `json!` object literal.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
