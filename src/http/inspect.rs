//! `GET /{code}+`: what a short link leads to, without following it and without counting a
//! visit (the convention of several shorteners, so a cautious person can look before
//! clicking). HTML for browsers, JSON otherwise. A switched-off link is as absent as it is
//! to a visit (404); a protected link, or one whose destination is blocked, shows its
//! status and no target.

use super::AppState;
use super::docs::escape;
use super::error::ApiError;
use super::pages;
use crate::domain::{ShortCode, Timestamp};
use crate::store::LinkStore;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What the inspect page shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inspected {
    pub short_code: String,
    /// `null` when the status hides it (`protected`, `blocked`).
    pub original_url: Option<String>,
    pub title: Option<String>,
    /// `active`; `expired` or `exhausted` (its visits get 410 or its fallback); `protected`
    /// (visits need its password); `blocked` (the destination is on the blocklist).
    pub status: &'static str,
    pub created_at: Timestamp,
}

/// The inspect answer for `code`.
pub async fn inspect(state: &AppState, code: &ShortCode, headers: &HeaderMap) -> Response {
    match inspected(state, code).await {
        Ok(shown) => {
            let mut response = if pages::wants_html(headers) {
                page(&shown)
            } else {
                Json(shown).into_response()
            };
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=0"),
            );
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn inspected(state: &AppState, code: &ShortCode) -> Result<Inspected, ApiError> {
    let link = state.links.resolve(code).await?;
    let link = link
        .filter(|link| link.is_active)
        .ok_or_else(|| ApiError::not_found("short code"))?;
    let url = state
        .links
        .get_url(link.id)
        .await?
        .ok_or_else(|| ApiError::not_found("short code"))?;
    let status = if link
        .settings
        .as_ref()
        .and_then(|s| s.expires_at)
        .is_some_and(|end| Timestamp::now() >= end)
    {
        "expired"
    } else if state.caps.exhausted(&link).await? {
        "exhausted"
    } else if link.password_hash.is_some() {
        "protected"
    } else if state
        .safety
        .blocked_destination(&url.original_url)
        .is_some()
    {
        "blocked"
    } else {
        "active"
    };
    // A protected link's target is its secret, whatever else its status is.
    let hidden = link.password_hash.is_some() || status == "blocked";
    Ok(Inspected {
        short_code: url.short_code,
        original_url: (!hidden).then_some(url.original_url),
        title: url.title,
        status,
        created_at: url.created_at,
    })
}

fn page(shown: &Inspected) -> Response {
    let target = match &shown.original_url {
        Some(url) => format!(
            "<a href=\"{0}\" rel=\"nofollow noopener\">{0}</a>",
            escape(url)
        ),
        None => format!("hidden: this link is {}", shown.status),
    };
    let title = shown.title.as_deref().map(escape).unwrap_or_default();
    let body = format!(
        "<dl><dt>Destination</dt><dd>{target}</dd><dt>Title</dt><dd>{title}</dd>\
         <dt>Status</dt><dd>{status}</dd><dt>Created</dt><dd>{created} UTC</dd></dl>",
        status = shown.status,
        created = shown.created_at,
    );
    pages::page(
        StatusCode::OK,
        &format!("Where /{} leads", shown.short_code),
        &body,
    )
}
