//! `GET /{code}+`: what a short link leads to, without following it and without counting a
//! visit (the convention of several shorteners, so a cautious person can look before
//! clicking). HTML for browsers, JSON otherwise. A switched-off link is as absent as it is
//! to a visit (404); a link whose destination is blocked shows its status and no target.

use super::AppState;
use super::docs::escape;
use super::error::ApiError;
use crate::domain::{ShortCode, Timestamp};
use crate::store::LinkStore;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

/// What the inspect page shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inspected {
    pub short_code: String,
    /// `null` when the status hides it (`blocked`).
    pub original_url: Option<String>,
    pub title: Option<String>,
    /// `active`, or `blocked` (the destination is on the blocklist).
    pub status: &'static str,
    pub created_at: Timestamp,
}

/// The inspect answer for `code`.
pub async fn inspect(state: &AppState, code: &ShortCode, headers: &HeaderMap) -> Response {
    match inspected(state, code).await {
        Ok(shown) => {
            let mut response = if wants_html(headers) {
                Html(page(&shown)).into_response()
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
    let blocked = state
        .safety
        .blocked_destination(&url.original_url)
        .is_some();
    Ok(Inspected {
        short_code: url.short_code,
        original_url: (!blocked).then_some(url.original_url),
        title: url.title,
        status: if blocked { "blocked" } else { "active" },
        created_at: url.created_at,
    })
}

/// A browser asks for HTML first; API clients and `*/*` get JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.trim_start().starts_with("text/html"))
}

fn page(shown: &Inspected) -> String {
    let code = escape(&shown.short_code);
    let target = match &shown.original_url {
        Some(url) => format!(
            "<a href=\"{0}\" rel=\"nofollow noopener\">{0}</a>",
            escape(url)
        ),
        None => "hidden: this link's destination is blocked".into(),
    };
    let title = shown.title.as_deref().map(escape).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>Where /{code} leads</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
         padding:0 1rem}}dt{{font-weight:600}}dd{{margin:0 0 .75rem;overflow-wrap:anywhere}}\
         @media(prefers-color-scheme:dark){{body{{background:#111;color:#eee}}a{{color:#8bf}}}}\
         </style></head><body><h1>Where /{code} leads</h1><dl>\
         <dt>Destination</dt><dd>{target}</dd><dt>Title</dt><dd>{title}</dd>\
         <dt>Status</dt><dd>{status}</dd><dt>Created</dt><dd>{created} UTC</dd></dl>\
         </body></html>",
        status = shown.status,
        created = shown.created_at,
    )
}
