//! The hot path: `GET /{short_code}` (and `/urls/{short_code}/redirect`) answers 302 to the
//! target and queues a `click` event; the redirect never waits on the database write.

use super::error::ApiError;
use crate::app::AppState;
use crate::domain::{NewEvent, ShortCode, Timestamp, Url, event_type};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

/// Links are mutable: browsers must ask again every time.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, max-age=0");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{code}", get(redirect))
        .route("/urls/{code}/redirect", get(redirect))
}

#[utoipa::path(
    get, path = "/{code}", operation_id = "followLink", tag = "redirects",
    summary = "Follow a short link",
    description = "Records a `click` event (without making the redirect wait for the database). `HEAD` answers the same and records nothing.",
    params(("code" = String, Path, description = "The short code (case-sensitive)",
        pattern = "^(?!(health|ready|metrics|users|urls|events|docs)$)[A-Za-z0-9_-]{1,32}$")),
    responses(
        (status = 302, description = "To the link's target; `Cache-Control: private, max-age=0`",
            headers(("Location" = String, description = "The link's `original_url`"), ("Cache-Control" = String))),
        (status = 404, description = "No such code, an inactive link, or a malformed code", body = super::openapi::ErrorBody),
        (status = 410, description = "The link's destination is blocked", body = super::openapi::ErrorBody),
    )
)]
async fn redirect(
    State(state): State<AppState>,
    Path(code): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A malformed code cannot exist: answer before touching any cache or store.
    let code = ShortCode::parse(&code).map_err(|_| ApiError::not_found("short code"))?;
    let url = match state.cache.resolve(&code).await? {
        Some(url) if url.is_active => url,
        _ => return Err(ApiError::not_found("short code")),
    };
    if let Some(entry) = state.safety.blocked_destination(&url.original_url) {
        if method == Method::GET {
            state.clicks.record(blocked_event(&url, &entry, &headers));
        }
        let mut gone = ApiError::Gone("this link's destination is blocked".into()).into_response();
        gone.headers_mut()
            .insert(header::CACHE_CONTROL, CACHE_CONTROL);
        return Ok(gone);
    }
    let location = HeaderValue::from_str(&url.original_url).map_err(|_| {
        ApiError::Internal(anyhow::anyhow!(
            "stored target of {code} is not a valid header"
        ))
    })?;
    // HEAD (link previews, monitors) answers the same but is not a click.
    if method == Method::GET {
        state.clicks.record(click_event(&url, &headers));
    }
    Ok(found(location))
}

/// The redirect answer itself (shared with the fast path).
pub(super) fn found(location: HeaderValue) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
    )
        .into_response()
}

/// A redirect refused by the blocklist, queued like a click (never waits on the database).
fn blocked_event(url: &Url, entry: &str, headers: &HeaderMap) -> NewEvent {
    let mut event = click_event(url, headers);
    event.event_type = event_type::BLOCKED.to_owned();
    event
        .details
        .insert("blocked_host".into(), Value::String(entry.to_owned()));
    event
}

pub(super) fn click_event(url: &Url, headers: &HeaderMap) -> NewEvent {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map_or(Value::Null, |v| Value::String(v.to_owned()))
    };
    let mut details = Map::new();
    details.insert("short_code".into(), Value::String(url.short_code.clone()));
    details.insert(
        "original_url".into(),
        Value::String(url.original_url.clone()),
    );
    details.insert("referrer".into(), header_text(header::REFERER));
    details.insert("user_agent".into(), header_text(header::USER_AGENT));
    NewEvent {
        url_id: Some(url.id),
        user_id: url.user_id,
        event_type: event_type::CLICK.to_owned(),
        timestamp: Timestamp::now(),
        details,
    }
}
