//! What a visit gets when a link will not redirect it: a password to ask for (`401`, with
//! a small form for browsers, which posts back to `POST /{code}`), or an end (`410`: the
//! link expired or used up its visits). Password attempts are limited per client and link
//! (shared by every replica when Redis is there), and checked off the request workers:
//! Argon2id is slow on purpose.

use super::AppState;
use super::docs::escape;
use super::error::ApiError;
use super::pages::{page, wants_html};
use crate::domain::{End, Link, PasswordHash};
use crate::limits::WriteKind;
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::IpAddr;

/// Whether `password` is link `link_id`'s; `Err` is the answer when this client has tried
/// too often (429) or the check could not run (500).
pub async fn check(
    state: &AppState,
    link_id: i64,
    hash: &PasswordHash,
    password: &str,
    client: Option<IpAddr>,
) -> Result<bool, Response> {
    // An IPv6 client by its /64, as the write limits count it: one subscriber's block.
    let client = super::rate_limit::client_of(None, client);
    let bucket = format!("{client}:{link_id}");
    if let Err(retry_after) = state.rate_limits.check(WriteKind::Password, &bucket).await {
        metrics::counter!("kurz_rate_limited_total", "kind" => "password").increment(1);
        tracing::info!(client = %client, link_id, "password attempts limited");
        return Err(ApiError::TooManyRequests { retry_after }.into_response());
    }
    let (hash, password) = (hash.clone(), password.to_owned());
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::Internal(anyhow::anyhow!("password check: {e}")).into_response()
    };
    // Each check holds 19 MiB for tens of milliseconds: a few at a time, the rest wait.
    let _permit = state
        .password_work
        .acquire()
        .await
        .map_err(|e| failed(&e))?;
    let right = tokio::task::spawn_blocking(move || hash.verify(&password))
        .await
        .map_err(|e| failed(&e))?;
    let result = if right { "right" } else { "wrong" };
    metrics::counter!("kurz_link_password_attempts_total", "result" => result).increment(1);
    Ok(right)
}

/// `401`: the link needs its password. Browsers get the form (saying so when the last
/// try was wrong); API clients get JSON naming the header to send it in.
pub fn locked(link: Option<&Link>, headers: &HeaderMap, wrong: bool) -> Response {
    let message = if wrong {
        "wrong password for this link"
    } else {
        "this link needs a password: send it in X-Link-Password"
    };
    if !wants_html(headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": message }))).into_response();
    }
    let code = link.map(|l| escape(&l.short_code)).unwrap_or_default();
    let problem = if wrong {
        "<p class=\"problem\" id=\"problem\" role=\"alert\">That password is not right.</p>"
    } else {
        ""
    };
    let body = format!(
        "<p>This link is protected. Enter its password to continue.</p>{problem}\
         <form method=\"post\" action=\"/{code}\"><label for=\"password\">Password</label><br>\
         <input type=\"password\" id=\"password\" name=\"password\" required minlength=\"1\" \
         autocomplete=\"current-password\" autofocus{described}><br>\
         <button type=\"submit\">Continue</button></form>",
        described = if wrong {
            " aria-describedby=\"problem\""
        } else {
            ""
        },
    );
    page(StatusCode::UNAUTHORIZED, "Password required", &body)
}

/// `410`: the link has ended and has no fallback.
pub fn ended(end: End, headers: &HeaderMap) -> Response {
    let message = match end {
        End::Expired => "this link has expired",
        End::Exhausted => "this link has reached its visit limit",
    };
    if !wants_html(headers) {
        return ApiError::Gone(message.into()).into_response();
    }
    let title = match end {
        End::Expired => "This link has expired",
        End::Exhausted => "This link is no longer available",
    };
    page(
        StatusCode::GONE,
        title,
        &format!("<p>{}.</p>", escape(message)),
    )
}
