//! `/urls`: create (generated or custom short code), read, update, delete, list.

use super::auth::{Caller, not_yours};
use super::error::ApiError;
use super::extract::{Fields, JsonObject, ListParams, RequestHost, parse_id, present};
use super::list_response;
use crate::app::AppState;
use crate::domain::{NewUrl, ShortCode, TargetUrl, Timestamp, Url, UrlPatch};
use crate::safety::Write;
use crate::store::{StoreError, UrlFilter};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

/// Longest title accepted.
const MAX_TITLE_CHARS: usize = 512;
/// Attempts at a free generated code before giving up. With 62^6 codes a collision is
/// rare; several in a row mean the code space is nearly full.
const GENERATE_ATTEMPTS: usize = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/urls", get(list).post(create))
        .route("/urls/{id}", get(show).put(update).delete(remove))
}

#[utoipa::path(
    get, path = "/urls", operation_id = "listUrls", tag = "urls",
    summary = "List urls, ordered by id",
    params(super::openapi::UrlFilters, super::openapi::Pagination),
    request_body(content = Option<super::openapi::UrlFilters>,
        description = "The filters (and `page`, `per_page`) as a JSON object, for clients that send them so; the query string wins"),
    responses(
        (status = 200, description = "The urls", body = [Url], headers(("X-Total-Count" = i64, description = "Rows matching the filters, whatever the page"))),
        (status = 400, description = "A malformed query string, or a JSON body that is not an object", body = super::openapi::ErrorBody),
        (status = 422, description = "A filter or pagination value is invalid", body = super::openapi::ErrorBody),
    )
)]
async fn list(State(state): State<AppState>, params: ListParams) -> Result<Response, ApiError> {
    let filter = UrlFilter {
        user_id: params.int("user_id")?,
        is_active: params.boolean("is_active")?,
        short_code: params.text("short_code"),
    };
    let page = params.page(state.settings.list_cap)?;
    Ok(list_response(state.store.list_urls(&filter, page).await?))
}

#[utoipa::path(
    get, path = "/urls/{id}", operation_id = "getUrl", tag = "urls",
    summary = "One url",
    params(("id" = i64, Path, description = "The url's id")),
    responses(
        (status = 200, description = "The url", body = Url),
        (status = 404, description = "No such url (also for an id that is not a positive integer)", body = super::openapi::ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Url>, ApiError> {
    let id = parse_id(&id, "url")?;
    state
        .store
        .get_url(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("url"))
}

fn parse_title(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("must be at most {MAX_TITLE_CHARS} characters"));
    }
    Ok(raw.to_owned())
}

/// A target as `TargetUrl` reads it, then as the destination rules judge it.
fn parse_target(
    state: &AppState,
    host: &RequestHost,
    write: Write,
) -> impl FnOnce(&str) -> Result<TargetUrl, String> {
    move |raw| {
        let target = TargetUrl::parse(raw)?;
        state
            .safety
            .check_target(&target, host.0.as_deref(), write)?;
        Ok(target)
    }
}

#[utoipa::path(
    post, path = "/urls", operation_id = "createUrl", tag = "urls",
    summary = "Shorten a url",
    description = "Two creates with the same `original_url` give two links. Records a `created` event.",
    request_body = super::openapi::CreateUrl,
    responses(
        (status = 201, description = "The new url", body = Url),
        (status = 400, description = "The body is not a JSON object sent as JSON", body = super::openapi::ErrorBody),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
        (status = 409, description = "The custom `short_code` is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is missing or invalid (or the target is refused); `details` names each", body = super::openapi::ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    host: RequestHost,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let target = fields.required_str("original_url");
    let target = fields.parse(
        "original_url",
        target,
        parse_target(&state, &host, Write::Create),
    );
    let user_id = fields.optional_id("user_id");
    let title = fields.optional_str("title").flatten();
    let title = fields.parse("title", title, parse_title);
    let custom = fields.optional_str("short_code").flatten();
    let custom = fields.parse("short_code", custom, |raw| {
        ShortCode::parse_custom(raw).map_err(|e| e.to_string())
    });
    fields.finish()?;
    let original_url = present(target)?;
    let user_id = caller.owner_for(user_id)?;
    let new_url = |short_code, fresh_code| NewUrl {
        user_id,
        short_code,
        original_url: original_url.clone(),
        title: title.clone(),
        created_at: Timestamp::now(),
        fresh_code,
    };
    let url = match custom {
        Some(code) => state.store.create_url(new_url(code, false)).await?,
        None => create_with_generated_code(&state, new_url).await?,
    };
    Ok((StatusCode::CREATED, Json(url)))
}

/// The database decides uniqueness: a taken code is retried with a fresh one, never returned.
async fn create_with_generated_code(
    state: &AppState,
    new_url: impl Fn(ShortCode, bool) -> NewUrl,
) -> Result<Url, ApiError> {
    for _ in 0..GENERATE_ATTEMPTS {
        match state
            .store
            .create_url(new_url(ShortCode::generate(), true))
            .await
        {
            Err(StoreError::Conflict("short_code")) => {
                metrics::counter!("kurz_short_code_collisions_total").increment(1);
            }
            other => return Ok(other?),
        }
    }
    Err(ApiError::Unavailable(anyhow::anyhow!(
        "no free short code after {GENERATE_ATTEMPTS} attempts"
    )))
}

#[utoipa::path(
    put, path = "/urls/{id}", operation_id = "updateUrl", tag = "urls",
    summary = "Change a url's title, target or state",
    description = "Bumps `updated_at` and records one `updated` event per field whose value changed. Takes effect on every replica before it answers.",
    params(("id" = i64, Path, description = "The url's id")),
    request_body = super::openapi::UpdateUrl,
    responses(
        (status = 200, description = "The url as changed", body = Url),
        (status = 400, description = "The body is not a JSON object sent as JSON", body = super::openapi::ErrorBody),
        (status = 404, description = "No such url", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is invalid; `details` names each", body = super::openapi::ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    host: RequestHost,
    JsonObject(body): JsonObject,
) -> Result<Json<Url>, ApiError> {
    let id = parse_id(&id, "url")?;
    let mut fields = Fields::new(&body);
    let title = match fields.optional_str("title") {
        None => None,
        Some(None) => Some(None),
        Some(raw) => fields.parse("title", raw, parse_title).map(Some),
    };
    let is_active = fields.optional_bool("is_active");
    let target = fields.optional_str("original_url").map(|v| v.unwrap_or(""));
    let original_url = fields.parse(
        "original_url",
        target,
        parse_target(&state, &host, Write::Update),
    );
    fields.finish()?;
    let patch = UrlPatch {
        title,
        is_active,
        original_url,
    };
    check_owner(&state, &caller, id).await?;
    // Clicks this instance answered earlier come before the `updated` events.
    state.clicks.flush().await;
    let url = state.store.update_url(id, patch, Timestamp::now()).await?;
    url.map(Json).ok_or_else(|| ApiError::not_found("url"))
}

#[utoipa::path(
    delete, path = "/urls/{id}", operation_id = "deleteUrl", tag = "urls",
    summary = "Delete a url",
    description = "Records a `deleted` event; the url's events stay.",
    params(("id" = i64, Path, description = "The url's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such url", body = super::openapi::ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "url")?;
    check_owner(&state, &caller, id).await?;
    state.clicks.flush().await;
    match state.store.delete_url(id, Timestamp::now()).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found("url")),
    }
}

/// Refuses a caller who may not manage url `id` (a `write` key of another user). A url
/// that does not exist passes, so the handler answers its usual 404.
async fn check_owner(state: &AppState, caller: &Caller, id: i64) -> Result<(), ApiError> {
    if caller.manages_everything() {
        return Ok(());
    }
    match state.store.get_url(id).await? {
        Some(url) if !caller.may_manage(url.user_id) => Err(not_yours()),
        _ => Ok(()),
    }
}
