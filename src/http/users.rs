//! `/users`: create, read, update, delete, list, a user's urls, and CSV bulk import.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Body, ListParams, found_by_id, parse_id};
use super::input::{Checks, Input, present};
use super::{list_response, schema};
use crate::background;
use crate::domain::{Email, NewUser, Timestamp, User, UserPatch, Username};
use crate::import;
use crate::store::{LinkStore, UrlFilter, UserFilter};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, bulk) = routes!(bulk_import);
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes((
            schemas,
            paths,
            bulk.layer(DefaultBodyLimit::max(max_upload_bytes)),
        ))
        .routes(routes!(show, update, remove))
        .routes(routes!(urls_of))
}

/// `POST /users`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateUser {
    #[schema(schema_with = schema::username, required = true)]
    username: Input<String>,
    #[schema(schema_with = schema::email, required = true)]
    email: Input<String>,
}

/// `PUT /users/{id}`: only the fields sent change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateUser {
    #[schema(schema_with = schema::username)]
    username: Input<String>,
    #[schema(schema_with = schema::email)]
    email: Input<String>,
}

/// `POST /users/bulk`, as `multipart/form-data`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BulkImportForm {
    /// A CSV with the header `id,username,email,created_at` (columns by name, any order).
    #[schema(
        value_type = String,
        content_media_type = "text/csv",
        examples("id,username,email,created_at\n1,alice,alice@example.com,2025-09-19 22:25:05\n")
    )]
    file: Vec<u8>,
    /// Import only the first N data rows: a non-negative integer.
    row_count: Option<String>,
}

/// The rows a bulk import processed (both keys carry the same number).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BulkImportResult {
    #[schema(minimum = 0)]
    imported: i64,
    #[schema(minimum = 0)]
    count: i64,
}

#[utoipa::path(
    get, path = "/users", operation_id = "listUsers", tag = "users",
    summary = "List users, ordered by id",
    params(super::openapi::UserFilters, super::openapi::Pagination),
    responses(
        (status = 200, description = "The users", body = [User]),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn list(State(state): State<AppState>, params: ListParams) -> Result<Response, ApiError> {
    let filter = UserFilter {
        username: params.text("username"),
        email: params.text("email"),
    };
    let page = params.page(state.settings.list_cap)?;
    let users = state.users.clone();
    let listing = background::read(async move { users.list_users(&filter, page).await }).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get, path = "/users/{id}", operation_id = "getUser", tag = "users",
    summary = "One user",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    found_by_id(&id, "user", |id| state.users.get_user(id)).await
}

#[utoipa::path(
    post, path = "/users", operation_id = "createUser", tag = "users",
    summary = "Create a user",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The new user", body = User),
        (status = 409, description = "The username, or the email ignoring case, is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is missing or invalid; `details` names each", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn create(
    State(state): State<AppState>,
    Body(body): Body<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    let mut checks = Checks::default();
    let username = checks.required("username", body.username);
    let username = checks.parse("username", username, |raw| Username::parse(&raw));
    let email = checks.required("email", body.email);
    let email = checks.parse("email", email, |raw| Email::parse(&raw));
    checks.finish()?;
    let user = NewUser {
        username: present(username)?,
        email: present(email)?,
        created_at: Timestamp::now(),
    };
    let user = state.users.create_user(user).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(
    put, path = "/users/{id}", operation_id = "updateUser", tag = "users",
    summary = "Change a user's username or email",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 409, description = "The username, or the email ignoring case, is taken", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is invalid; `details` names each", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    let id = parse_id(&id, "user")?;
    let mut checks = Checks::default();
    // `null` is no username: the parser refuses it as empty.
    let username = checks.optional("username", body.username);
    let username = checks.parse("username", username, |raw| {
        Username::parse(raw.as_deref().unwrap_or_default())
    });
    let email = checks.optional("email", body.email);
    let email = checks.parse("email", email, |raw| {
        Email::parse(raw.as_deref().unwrap_or_default())
    });
    checks.finish()?;
    state
        .users
        .update_user(id, UserPatch { username, email })
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
    ),
    security(("apiKey" = ["admin"]))
)]
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "user")?;
    // The user's links lose their owner, which their click events record.
    let deleted = state
        .links
        .disowning(id, state.users.delete_user(id))
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user"))
    }
}

#[utoipa::path(
    get, path = "/users/{id}/urls", operation_id = "listUserUrls", tag = "users",
    summary = "A user's urls, ordered by id",
    params(("id" = i64, Path, description = "The user's id"), super::openapi::UserUrlFilters, super::openapi::Pagination),
    responses(
        (status = 200, description = "The user's urls", body = [crate::domain::Url]),
        (status = 403, description = "A key of another user", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn urls_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "user")?;
    caller.readable_owner(Some(id))?;
    // A missing user is told before a bad parameter.
    if state.users.get_user(id).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let filter = UrlFilter {
        user_id: Some(id),
        is_active: params.boolean("is_active")?,
        ..UrlFilter::default()
    };
    let page = params.page(state.settings.list_cap)?;
    let links = state.links.clone();
    let listing = background::read(async move { links.list_urls(&filter, page).await }).await?;
    Ok(list_response(listing))
}

/// `POST /users/bulk`: multipart field `file` (CSV), optional field `row_count`.
#[utoipa::path(
    post, path = "/users/bulk", operation_id = "importUsers", tag = "users",
    summary = "Import users from a CSV",
    description = "Header `id,username,email,created_at`; `id` and `created_at` may be left out or empty. Rows with an `id` are upserted by it, keeping the CSV's ids and `created_at`; a row without one updates the email of the (oldest) user with its username or becomes a new user with the next id (`created_at` now when absent). Importing the same file twice reports the same count and leaves the same users. Every row is checked before anything is written.",
    request_body(content = BulkImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The number of data rows processed", body = BulkImportResult),
        (status = 400, description = "Not multipart, or no `file` part", body = super::openapi::ErrorBody),
        (status = 422, description = "A bad row (its number is in the message) or `row_count`; nothing was imported", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["admin"]))
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
    let imported = state.users.import_users(&users).await?;
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
