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

async fn list(State(state): State<AppState>, params: ListParams) -> Result<Response, ApiError> {
    let filter = UserFilter {
        username: params.text("username"),
        email: params.text("email"),
    };
    let page = params.page(state.settings.list_cap)?;
    Ok(list_response(state.store.list_users(&filter, page).await?))
}

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
