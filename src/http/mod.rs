//! The HTTP layer. [`router`] reads as the API's table of contents; the middleware stack
//! around it is listed in order, outermost first.

pub mod auth;
pub mod client_ip;
mod docs;
pub mod error;
mod events;
pub mod extract;
mod fast_redirect;
pub use fast_redirect::FastRedirect;
pub mod openapi;
mod ops;
pub mod rate_limit;
mod redirect;
mod reports;
pub mod server;
mod urls;
mod users;

use crate::app::AppState;
use crate::config::MAX_JSON_BYTES;
use crate::store::Listing;
use crate::telemetry;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use error::{ApiError, status_body};
use serde::Serialize;
use std::any::Any;
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;

/// The header carrying the number of rows a list's filters match.
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the API with its middleware, behind the redirect fast path.
pub fn router(state: AppState) -> FastRedirect<Router> {
    let settings = &state.settings;
    // With a separate metrics listener, /metrics is not on the API port at all.
    let ops = if settings.metrics_listen.is_some() {
        ops::router()
    } else {
        ops::router().merge(ops::metrics_router())
    };
    let api = Router::new()
        .merge(ops)
        .merge(users::router(settings.max_upload_bytes))
        .merge(urls::router())
        .merge(events::router())
        .merge(redirect::router())
        .merge(reports::router())
        .merge(docs::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });

    let middleware = ServiceBuilder::new()
        // JSON bodies stop at 1 MiB however they are sent (chunked too); the CSV upload
        // route sets its own, larger limit, which takes precedence.
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        // A request id for every request: the client's `X-Request-Id`, or a new UUID; echoed back.
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // While draining, every answer closes its connection, so proxies and clients move
        // their next request elsewhere instead of sending it just as the listener closes.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            close_when_draining,
        ))
        // One log line and the metrics for every request, including the ones below that fail.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        // Past the in-flight bound, answer 503 at once: queueing would only make every
        // request late, and the clients' retries pile up on top.
        .layer(middleware::from_fn_with_state(state.clone(), shed_load))
        // Browsers must not guess content types or frame our answers.
        .layer(middleware::map_response(with_security_headers))
        // A panic in a handler becomes a 500 JSON answer; the process keeps serving.
        .layer(CatchPanicLayer::custom(panic_response))
        // Whatever the framework answers on its own (rejections, timeouts) is made JSON too.
        .layer(middleware::from_fn(json_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout(),
        ))
        // Who is calling (API keys in `keys` mode), then whether they are over their rate.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ));

    let router = api.layer(middleware).with_state(state.clone());
    // The common case, a cached redirect, is answered in front of the router: routing
    // clones the route's whole middleware stack (and the state in each layer) per request.
    fast_redirect::FastRedirectLayer::new(state).layer(router)
}

/// The router of the separate metrics listener (`KURZ_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    ops::metrics_router().with_state(state)
}

/// Request ids: 128 random bits from the thread-local CSPRNG, as 32 hex digits. A UUID v4
/// asks the kernel for randomness on every request (a syscall per request in profiles);
/// uniqueness is all a request id needs.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// Sets the headers every answer carries (the stack's layer and the fast path both use it).
fn set_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn with_security_headers<B>(mut response: Response<B>) -> Response<B> {
    set_security_headers(response.headers_mut());
    response
}

/// A fresh request id (see [`RandomRequestId`]).
pub fn new_request_id() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    // Hex digits always make a valid header value; the fallback is never taken.
    HeaderValue::from_maybe_shared(axum::body::Bytes::from(id))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A list as a JSON array, with `X-Total-Count`.
pub fn list_response<T: Serialize>(listing: Listing<T>) -> Response {
    let total = HeaderValue::from(listing.total.max(0));
    ([(TOTAL_COUNT, total)], Json(listing.items)).into_response()
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    metrics::counter!("kurz_panics_total").increment(1);
    status_body(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("kurz_requests_shed_total").increment(1);
        return ApiError::Unavailable(anyhow::anyhow!("too many requests in flight"))
            .into_response();
    };
    next.run(request).await
}

async fn close_when_draining(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if state
        .health
        .draining
        .load(std::sync::atomic::Ordering::Acquire)
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Replaces a non-JSON error body (from axum's own rejections or the timeout layer) with
/// the contract's `{"error": …}`.
async fn json_errors(request: Request, next: Next) -> Response {
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
