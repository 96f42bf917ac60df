//! `/events`: the audit and click history, listed and appended to.

use super::AppState;
use super::auth::{Caller, not_yours};
use super::error::ApiError;
use super::extract::{Body, ListParams, found_by_id};
use super::input::{Checks, Id, Input, present};
use super::{list_response, schema};
use crate::background;
use crate::domain::{Event, NewEvent, Timestamp};
use crate::store::{EventFilter, LinkStore};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest event type accepted.
const MAX_EVENT_TYPE_CHARS: usize = 64;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
}

/// `POST /events`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateEvent {
    #[schema(schema_with = event_type_schema, required = true)]
    event_type: Input<String>,
    #[schema(schema_with = schema::url_ref)]
    url_id: Input<Id>,
    #[schema(schema_with = schema::user_ref)]
    user_id: Input<Id>,
    /// Any JSON object; absent or `null` is stored as `{}`.
    #[schema(value_type = Option<Object>)]
    details: Input<Map<String, Value>>,
}

fn event_type_schema() -> Object {
    schema::text(
        MAX_EVENT_TYPE_CHARS,
        format!("1–{MAX_EVENT_TYPE_CHARS} characters after trimming, e.g. `share`."),
    )
}

#[utoipa::path(
    get, path = "/events", operation_id = "listEvents", tag = "events",
    summary = "List events, ordered by id",
    description = "Clicks answered by this instance before the request are included.",
    params(super::openapi::EventFilters, super::openapi::Pagination),
    responses(
        (status = 200, description = "The events", body = [Event]),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn list(State(state): State<AppState>, params: ListParams) -> Result<Response, ApiError> {
    let filter = EventFilter {
        url_id: params.int("url_id")?,
        user_id: params.int("user_id")?,
        event_type: params.text("event_type"),
    };
    let page = params.page(state.settings.list_cap)?;
    // Clicks answered before this request must be visible: wait for the queue to reach the store.
    state.clicks.flush().await;
    let events = state.events.clone();
    let listing = background::read(async move { events.list_events(&filter, page).await }).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get, path = "/events/{id}", operation_id = "getEvent", tag = "events",
    summary = "One event",
    params(("id" = i64, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = Event),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Event>, ApiError> {
    found_by_id(&id, "event", |id| state.events.get_event(id)).await
}

fn parse_event_type(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().count() > MAX_EVENT_TYPE_CHARS {
        return Err(format!("must be at most {MAX_EVENT_TYPE_CHARS} characters"));
    }
    Ok(raw.to_owned())
}

#[utoipa::path(
    post, path = "/events", operation_id = "createEvent", tag = "events",
    summary = "Record an event",
    request_body = CreateEvent,
    responses(
        (status = 201, description = "The new event", body = Event),
        (status = 404, description = "No such url or user", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is missing or invalid (`details` not an object); `details` names each", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["write"]))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateEvent>,
) -> Result<impl IntoResponse, ApiError> {
    let mut checks = Checks::default();
    let event_type = checks.required("event_type", body.event_type);
    let event_type = checks.parse("event_type", event_type, |raw| parse_event_type(&raw));
    let url_id = checks
        .optional("url_id", body.url_id)
        .flatten()
        .map(|id| id.0);
    let user_id = checks
        .optional("user_id", body.user_id)
        .flatten()
        .map(|id| id.0);
    let details = checks.optional("details", body.details).flatten();
    checks.finish()?;
    let event_type = present(event_type)?;
    let user_id = caller.owner_for(user_id)?;
    if let Some(url_id) = url_id.filter(|_| !caller.manages_everything()) {
        // A `write` key records events only about its own user's links.
        let owner = state
            .links
            .get_url(url_id)
            .await?
            .and_then(|url| url.user_id);
        if !caller.may_manage(owner) {
            return Err(not_yours());
        }
    }
    let event = NewEvent {
        url_id,
        user_id,
        event_type,
        timestamp: Timestamp::now(),
        details: details.unwrap_or_default(),
    };
    // Clicks this instance answered earlier come first in the history.
    state.clicks.flush().await;
    let event = state.events.create_event(event).await?;
    Ok((StatusCode::CREATED, Json(event)))
}
