//! `/users`: create, read, update, delete, list, a user's urls, and CSV bulk import.

use super::error::ApiError;
use super::extract::{Fields, JsonObject, ListParams, parse_id, present};
use super::list_response;
use crate::app::AppState;
use crate::domain::{Email, NewUser, Timestamp, User, UserPatch, Username};
use crate::import;
use crate::store::{UrlFilter, UserFilter};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route(
            "/users/bulk",
            post(bulk_import).layer(DefaultBodyLimit::max(max_upload_bytes)),
        )
        .route("/users/{id}", get(show).put(update).delete(remove))
        .route("/users/{id}/urls", get(urls_of))
}

#[utoipa::path(
    get, path = "/users", operation_id = "listUsers", tag = "users",
    summary = "List users, ordered by id",
    params(super::openapi::UserFilters, super::openapi::Pagination),
    request_body(content = Option<super::openapi::UserFilters>,
        description = "The filters (and `page`, `per_page`) as a JSON object, for clients that send them so; the query string wins"),
    responses(
        (status = 200, description = "The users", body = [User], headers(("X-Total-Count" = i64, description = "Rows matching the filters, whatever the page"))),
        (status = 400, description = "A malformed query string, or a JSON body that is not an object", body = super::openapi::ErrorBody),
        (status = 422, description = "`page` or `per_page` is not an integer", body = super::openapi::ErrorBody),
    )
)]
async fn list(State(state): State<AppState>, params: ListParams) -> Result<Response, ApiError> {
    let filter = UserFilter {
        username: params.text("username"),
        email: params.text("email"),
    };
    let page = params.page(state.settings.list_cap)?;
    Ok(list_response(state.store.list_users(&filter, page).await?))
}

#[utoipa::path(
    get, path = "/users/{id}", operation_id = "getUser", tag = "users",
    summary = "One user",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user (also for an id that is not a positive integer)", body = super::openapi::ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let id = parse_id(&id, "user")?;
    state
        .store
        .get_user(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("user"))
}

#[utoipa::path(
    post, path = "/users", operation_id = "createUser", tag = "users",
    summary = "Create a user",
    request_body = super::openapi::CreateUser,
    responses(
        (status = 201, description = "The new user", body = User),
        (status = 400, description = "The body is not a JSON object sent as JSON", body = super::openapi::ErrorBody),
        (status = 409, description = "The username, or the email ignoring case, is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is missing or invalid; `details` names each", body = super::openapi::ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let username = fields.required_str("username");
    let username = fields.parse("username", username, Username::parse);
    let email = fields.required_str("email");
    let email = fields.parse("email", email, Email::parse);
    fields.finish()?;
    let (username, email) = (present(username)?, present(email)?);
    let user = state
        .store
        .create_user(NewUser {
            username,
            email,
            created_at: Timestamp::now(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(
    put, path = "/users/{id}", operation_id = "updateUser", tag = "users",
    summary = "Change a user's username or email",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = super::openapi::UpdateUser,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 400, description = "The body is not a JSON object sent as JSON", body = super::openapi::ErrorBody),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
        (status = 409, description = "The username, or the email ignoring case, is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is invalid; `details` names each", body = super::openapi::ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<User>, ApiError> {
    let id = parse_id(&id, "user")?;
    let mut fields = Fields::new(&body);
    let username = fields.optional_str("username").map(|v| v.unwrap_or(""));
    let username = fields.parse("username", username, Username::parse);
    let email = fields.optional_str("email").map(|v| v.unwrap_or(""));
    let email = fields.parse("email", email, Email::parse);
    fields.finish()?;
    let patch = UserPatch { username, email };
    state
        .store
        .update_user(id, patch)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("user"))
}

#[utoipa::path(
    delete, path = "/users/{id}", operation_id = "deleteUser", tag = "users",
    summary = "Delete a user",
    description = "The user's urls stay, with `user_id: null`; their events stay as recorded.",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "user")?;
    if state.store.delete_user(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user"))
    }
}

#[utoipa::path(
    get, path = "/users/{id}/urls", operation_id = "listUserUrls", tag = "users",
    summary = "A user's urls, ordered by id",
    params(("id" = i64, Path, description = "The user's id"), super::openapi::UserUrlFilters, super::openapi::Pagination),
    request_body(content = Option<super::openapi::UserUrlFilters>,
        description = "The filters (and `page`, `per_page`) as a JSON object, for clients that send them so; the query string wins"),
    responses(
        (status = 200, description = "The user's urls", body = [crate::domain::Url], headers(("X-Total-Count" = i64, description = "Rows matching the filters, whatever the page"))),
        (status = 400, description = "A malformed query string, or a JSON body that is not an object", body = super::openapi::ErrorBody),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
        (status = 422, description = "A filter or pagination value is invalid", body = super::openapi::ErrorBody),
    )
)]
async fn urls_of(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "user")?;
    if state.store.get_user(id).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let filter = UrlFilter {
        user_id: Some(id),
        is_active: params.boolean("is_active")?,
        short_code: None,
    };
    let page = params.page(state.settings.list_cap)?;
    Ok(list_response(state.store.list_urls(&filter, page).await?))
}

/// `POST /users/bulk`: multipart field `file` (CSV), optional field `row_count`.
#[utoipa::path(
    post, path = "/users/bulk", operation_id = "importUsers", tag = "users",
    summary = "Import users from a CSV",
    description = "Rows are upserted by `id`, keeping the CSV's ids and `created_at`; importing the same file twice reports the same count and leaves the same users. Every row is checked before anything is written.",
    request_body(content = super::openapi::BulkImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The number of data rows processed", body = super::openapi::BulkImportResult),
        (status = 400, description = "Not multipart, or no `file` part", body = super::openapi::ErrorBody),
        (status = 422, description = "A bad row (its number is in the message) or `row_count`; nothing was imported", body = super::openapi::ErrorBody),
    )
)]
async fn bulk_import(
    State(state): State<AppState>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mut multipart = multipart.map_err(|_| {
        ApiError::BadRequest("expected a multipart/form-data body with a `file` part".into())
    })?;
    let mut file = None;
    let mut row_count = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => file = Some(field.bytes().await.map_err(multipart_error)?),
            Some("row_count") => row_count = Some(field.text().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    let file = file.ok_or_else(|| ApiError::BadRequest("missing multipart part `file`".into()))?;
    let limit = match row_count
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(raw) => Some(
            raw.parse::<usize>()
                .map_err(|_| ApiError::invalid("row_count", "must be a non-negative integer"))?,
        ),
    };
    let users = import::parse_users(&file[..], limit)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    let imported = state.store.import_users(&users).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "imported": imported, "count": imported })),
    ))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", err.body_text()))
    }
}
