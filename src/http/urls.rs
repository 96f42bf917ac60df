//! `/urls`: create (generated or custom short code), read, update, delete, list.

use super::AppState;
use super::auth::{Caller, not_yours};
use super::error::ApiError;
use super::extract::{Body, ListParams, RequestHost, parse_id};
use super::input::{Checks, Id, Input, present};
use super::settings_input::{CheckedSettings, SettingsInput, checked_target};
use super::{list_response, schema};
use crate::background;
use crate::domain::{
    NewUrl, PasswordHash, ShortCode, TargetUrl, Timestamp, Url, UrlPatch, parse_title,
};
use crate::safety::Write;
use crate::store::{LinkStore, StoreError, UrlFilter};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Attempts at a free generated code before giving up. With 62^6 codes a collision is
/// rare; several in a row mean the code space is nearly full.
const GENERATE_ATTEMPTS: usize = 8;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
}

/// `POST /urls`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateUrl {
    #[schema(schema_with = schema::target_url, required = true)]
    original_url: Input<String>,
    #[schema(schema_with = schema::owner)]
    user_id: Input<Id>,
    #[schema(schema_with = schema::title)]
    title: Input<String>,
    #[schema(schema_with = schema::custom_code)]
    short_code: Input<String>,
    #[schema(schema_with = active_on_create)]
    is_active: Input<bool>,
    #[serde(flatten)]
    settings: SettingsInput,
}

/// `PUT /urls/{id}`: only the fields sent change; each change is recorded as an `updated`
/// event.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateUrl {
    #[schema(schema_with = schema::title)]
    title: Input<String>,
    #[schema(schema_with = active_on_update)]
    is_active: Input<bool>,
    #[schema(schema_with = schema::target_url)]
    original_url: Input<String>,
    #[serde(flatten)]
    settings: SettingsInput,
}

fn active_on_create() -> Object {
    schema::flag("`false` creates the link switched off: it answers 404 until activated.")
        .default(Some(true.into()))
        .build()
}

fn active_on_update() -> Object {
    schema::flag("`false` makes the link answer 404.").build()
}

#[utoipa::path(
    get, path = "/urls", operation_id = "listUrls", tag = "urls",
    summary = "List urls, ordered by id",
    params(super::openapi::UrlFilters, super::openapi::Pagination),
    responses(
        (status = 200, description = "The urls", body = [Url]),
        (status = 403, description = "A key of a user, asking for another user's links (without `user_id`, such a key sees its own user's)", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> Result<Response, ApiError> {
    let filter = UrlFilter {
        user_id: caller.readable_owner(params.int("user_id")?)?,
        is_active: params.boolean("is_active")?,
        short_code: params.text("short_code"),
        search: params.text("search").filter(|s| !s.is_empty()),
    };
    let page = params.page(state.settings.list_cap)?;
    let links = state.links.clone();
    let listing = background::read(async move { links.list_urls(&filter, page).await }).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get, path = "/urls/{id}", operation_id = "getUrl", tag = "urls",
    summary = "One url",
    params(("id" = i64, Path, description = "The url's id")),
    responses(
        (status = 200, description = "The url", body = Url),
        (status = 403, description = "A key of a user, asking for another user's link", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Url>, ApiError> {
    let id = parse_id(&id, "url")?;
    Ok(Json(readable_url(&state, &caller, id).await?))
}

/// A target as `TargetUrl` reads it, then as the destination rules judge it.
fn parse_target(
    state: &AppState,
    host: &RequestHost,
    write: Write,
) -> impl Fn(String) -> Result<TargetUrl, String> {
    move |raw| {
        let target = TargetUrl::parse(&raw)?;
        state
            .safety
            .check_target(&target, host.0.as_deref(), write)?;
        Ok(target)
    }
}

/// The url `id` names, if this caller may read it: 404 when there is none, 403 for a key
/// of another user (the link itself, its stats, its QR code, what it resolves to).
pub(crate) async fn readable_url(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Url, ApiError> {
    let url = state
        .links
        .get_url(id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    if !caller.may_read(url.user_id) {
        return Err(not_yours());
    }
    Ok(url)
}

#[utoipa::path(
    post, path = "/urls", operation_id = "createUrl", tag = "urls",
    summary = "Shorten a url",
    description = "Two creates with the same `original_url` give two links. Records a `created` event.",
    request_body = CreateUrl,
    responses(
        (status = 201, description = "The new url", body = Url),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
        (status = 409, description = "The custom `short_code` is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is missing or invalid (or the target is refused); `details` names each", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["write"]))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    host: RequestHost,
    Body(body): Body<CreateUrl>,
) -> Result<impl IntoResponse, ApiError> {
    let url = create_url(&state, &caller, &host, body).await?;
    Ok((StatusCode::CREATED, Json(url)))
}

/// A create as `POST /urls` makes it (the web UI's shorten form makes the same).
pub(crate) async fn create_url(
    state: &AppState,
    caller: &Caller,
    host: &RequestHost,
    body: CreateUrl,
) -> Result<Url, ApiError> {
    let mut checks = Checks::default();
    let target = checks.required("original_url", body.original_url);
    let target = checks.parse(
        "original_url",
        target,
        parse_target(state, host, Write::Create),
    );
    let user_id = checks.optional("user_id", body.user_id).flatten();
    let title = checks.optional("title", body.title).flatten();
    let title = checks.parse("title", title, |raw| parse_title(&raw));
    let custom = checks.optional("short_code", body.short_code).flatten();
    let custom = checks.parse("short_code", custom, |raw| {
        ShortCode::parse_custom(&raw).map_err(|e| e.to_string())
    });
    let is_active = checks.not_null("is_active", body.is_active);
    let settings = body.settings.check(
        &mut checks,
        &checked_target(parse_target(state, host, Write::Create)),
    );
    checks.finish()?;
    let original_url = present(target)?;
    let user_id = caller.owner_for(user_id.map(|id| id.0))?;
    let password_hash = hashed(state, &settings).await?.flatten();
    let link_settings = settings.patch.applied_to(None);
    let new_url = |short_code, fresh_code| NewUrl {
        user_id,
        short_code,
        original_url: original_url.clone(),
        title: title.clone(),
        is_active: is_active.unwrap_or(true),
        settings: link_settings.clone(),
        password_hash: password_hash.clone(),
        created_at: Timestamp::now(),
        fresh_code,
    };
    match custom {
        Some(code) => Ok(state.links.create_url(new_url(code, false)).await?),
        None => create_with_generated_code(state, new_url).await,
    }
}

/// The password's hash, if one was sent; a failure to hash is the server's (500).
async fn hashed(
    state: &AppState,
    settings: &CheckedSettings,
) -> Result<Option<Option<PasswordHash>>, ApiError> {
    settings
        .password_hash(&state.password_work)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a link password: {e}")))
}

/// The database decides uniqueness: a taken code is retried with a fresh one, never returned.
async fn create_with_generated_code(
    state: &AppState,
    new_url: impl Fn(ShortCode, bool) -> NewUrl,
) -> Result<Url, ApiError> {
    for _ in 0..GENERATE_ATTEMPTS {
        match state
            .links
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
    request_body = UpdateUrl,
    responses(
        (status = 200, description = "The url as changed", body = Url),
        (status = 422, description = "A field is invalid; `details` names each", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["write"]))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    host: RequestHost,
    Body(body): Body<UpdateUrl>,
) -> Result<Json<Url>, ApiError> {
    let id = parse_id(&id, "url")?;
    update_url(&state, &caller, id, &host, body).await.map(Json)
}

/// An update as `PUT /urls/{id}` makes it (the web UI's edit form makes the same).
pub(crate) async fn update_url(
    state: &AppState,
    caller: &Caller,
    id: i64,
    host: &RequestHost,
    body: UpdateUrl,
) -> Result<Url, ApiError> {
    let mut checks = Checks::default();
    let title = match checks.optional("title", body.title) {
        Some(Some(raw)) => checks
            .parse("title", Some(raw), |raw| parse_title(&raw))
            .map(Some),
        other => other.map(|_| None),
    };
    let is_active = checks.not_null("is_active", body.is_active);
    let target = checks.optional("original_url", body.original_url);
    let original_url = checks.parse(
        "original_url",
        target.map(Option::unwrap_or_default),
        parse_target(state, host, Write::Update),
    );
    let settings = body.settings.check(
        &mut checks,
        &checked_target(parse_target(state, host, Write::Update)),
    );
    checks.finish()?;
    // Whose link it is, before any password is hashed for it.
    check_owner(state, caller, id).await?;
    let patch = UrlPatch {
        title,
        is_active,
        original_url,
        password: hashed(state, &settings).await?,
        settings: settings.patch,
    };
    // Clicks this instance answered earlier come before the `updated` events.
    state.clicks.flush().await;
    let url = state.links.update_url(id, patch, Timestamp::now()).await?;
    url.ok_or_else(|| ApiError::not_found("url"))
}

#[utoipa::path(
    delete, path = "/urls/{id}", operation_id = "deleteUrl", tag = "urls",
    summary = "Delete a url",
    description = "Records a `deleted` event; the url's events stay.",
    params(("id" = i64, Path, description = "The url's id")),
    responses(
        (status = 204, description = "Deleted"),
    ),
    security(("apiKey" = ["write"]))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "url")?;
    delete_url(&state, &caller, id).await
}

/// A delete as `DELETE /urls/{id}` makes it.
pub(crate) async fn delete_url(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<StatusCode, ApiError> {
    check_owner(state, caller, id).await?;
    state.clicks.flush().await;
    match state.links.delete_url(id, Timestamp::now()).await? {
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
    match state.links.get_url(id).await? {
        Some(url) if !caller.may_manage(url.user_id) => Err(not_yours()),
        _ => Ok(()),
    }
}
