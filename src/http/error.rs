//! `ApiError`: the one error type of the HTTP layer, and its one mapping to statuses.
//! Client errors explain themselves; 5xx bodies are opaque and the cause goes to the log.

use crate::store::StoreError;
use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::any::Any;
use std::collections::BTreeMap;

/// Per-field problems of a 422, keyed by field name.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, not an object, or not sent as JSON (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON whose fields are missing, mistyped or invalid (422).
    #[error("{message}")]
    Validation {
        message: String,
        details: FieldErrors,
    },
    #[error("{0}")]
    NotFound(String),
    /// The resource existed and is withdrawn for good (a link whose target is now blocked).
    #[error("{0}")]
    Gone(String),
    #[error("{message}")]
    Conflict {
        message: String,
        details: FieldErrors,
    },
    /// No usable API key was presented (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The key is valid but may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The client sent more than its rate allows; it may try again after the delay (429).
    #[error("too many requests: try again in {} s", retry_after_secs(*.retry_after))]
    TooManyRequests { retry_after: std::time::Duration },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    /// The store (or another dependency) is down or overloaded (503).
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database is known to be down (the store's breaker is open): 503 with
    /// `Retry-After`, answered at once and not logged per request (the breaker logs when it
    /// opens and closes, and counts what it refuses).
    #[error("service temporarily unavailable: the database does not answer")]
    DatabaseDown,
    /// A bug or a broken dependency (500).
    #[error("internal server error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::DatabaseDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 422 about one field.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        Self::validation(FieldErrors::from([(field.to_owned(), problem.into())]))
    }

    /// A 422 listing every field problem found.
    pub fn validation(details: FieldErrors) -> Self {
        let summary: Vec<String> = details
            .iter()
            .map(|(field, problem)| format!("{field} {problem}"))
            .collect();
        Self::Validation {
            message: format!("invalid input: {}", summary.join("; ")),
            details,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(field) => Self::Conflict {
                message: format!("{field} is already taken"),
                details: FieldErrors::from([(field.to_owned(), "is already taken".to_owned())]),
            },
            StoreError::MissingReference(what) => Self::not_found(what),
            err if err.is_down() => Self::DatabaseDown,
            err if err.is_transient() => Self::Unavailable(err.into()),
            err @ StoreError::Unavailable(_) => Self::Unavailable(err.into()),
            err => Self::Internal(err.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, Self::DatabaseDown) {
            // The request id is on the enclosing span; the client gets no internals.
            tracing::error!(error = ?anyhow_chain(&self), status = status.as_u16(), "request failed");
        }
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.to_string()));
        if let Self::Validation { details, .. } | Self::Conflict { details, .. } = &self {
            body.insert("details".into(), json!(details));
        }
        let mut response = (status, Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"kurz\""),
                );
            }
            Self::TooManyRequests { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*retry_after)),
                );
            }
            // The breaker tries the database every 200 ms: a second is the soonest a client
            // can be told.
            Self::DatabaseDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

/// `Retry-After` is whole seconds; rounding up never invites a retry that is refused again.
fn retry_after_secs(delay: std::time::Duration) -> u64 {
    delay.as_secs() + u64::from(delay.subsec_nanos() > 0)
}

/// The error and its causes, one per line, for the log.
fn anyhow_chain(err: &ApiError) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// A JSON error body for a status alone, used where no `ApiError` exists (panics,
/// timeouts, framework rejections).
pub fn status_body(status: StatusCode) -> Response {
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    (status, Json(json!({ "error": message }))).into_response()
}

/// The request timeout's own answer (a 503 without a body) counted, not logged (under
/// overload a line per request would add to the load), and given the contract's
/// `{"error": …}`; any other answer as it is. Every other 503 of kurz's has a JSON body.
pub fn timeout_answer(response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        metrics::counter!("kurz_requests_timed_out_total").increment(1);
        return status_body(StatusCode::SERVICE_UNAVAILABLE);
    }
    response
}

/// Replaces a non-JSON error body (from axum's own rejections) with the contract's
/// `{"error": …}`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return status_body(status);
    }
    response
}

/// A panic in a handler, answered as a 500 (and logged and counted).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    metrics::counter!("kurz_panics_total").increment(1);
    status_body(StatusCode::INTERNAL_SERVER_ERROR)
}
