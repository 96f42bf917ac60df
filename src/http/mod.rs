//! The HTTP layer: two routers merged into one. [`router`] reads as the API's table of
//! contents and lists each router's layers in order, outermost first.
//!
//! - **links** (`/{code}`, `/urls/{code}/redirect`, and the web UI's pages): following a
//!   short link, with the thin layer set every route has: security headers, observation
//!   (request id, log line, metrics), shedding and draining, refused bodies drained, the
//!   request timeout, and a panic answered as a 500.
//! - **api** (everything else): the same, plus framework rejections answered as JSON,
//!   body limits, access control and write rate limits.
//!
//! Static routes of the api win over `/{code}` by the router's own precedence.

pub mod auth;
pub mod client_ip;
mod docs;
mod drain;
pub mod error;
mod events;
pub mod extract;
mod guard;
mod input;
pub(crate) mod inspect;
mod links;
mod observe;
pub mod openapi;
mod ops;
mod pages;
mod protected;
pub(crate) mod qr;
pub(crate) mod rate_limit;
mod reports;
mod resolve;
mod schema;
pub mod server;
mod settings_input;
pub mod state;
pub(crate) mod stats;
pub(crate) mod urls;
mod users;

pub use state::{App, AppState, Health};

use crate::config::MAX_JSON_BYTES;
use crate::store::Listing;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use error::{ApiError, json_errors, panic_response, timeout_answer};
use guard::GuardLayer;
use observe::ObserveLayer;
use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

/// The header carrying the number of rows a list's filters match.
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route, each router with its layers.
pub fn router(state: AppState) -> Router {
    let mut links = links::routes()
        .split_for_parts()
        .0
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    // The web UI's pages: beside the links, outside the API's layers (its errors are pages).
    if state.settings.ui.enabled() {
        links = links.merge(crate::ui::routes());
    }
    let mut api = api_routes(state.settings.max_upload_bytes);
    // With a separate metrics listener, /metrics is not on the API's port at all.
    if state.settings.metrics_listen.is_none() {
        api = api.merge(ops::metrics_routes());
    }
    // Each `Router::layer` call wraps every route in a boxed service that is cloned per
    // request, so each router's layers are applied as one stack, in one call.
    let api = api
        .split_for_parts()
        .0
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                // Whatever the framework answers on its own (rejections, timeouts) is made
                // JSON too.
                .layer(middleware::from_fn(json_errors))
                // JSON bodies stop at 1 MiB however they are sent (chunked too); the CSV
                // upload route sets its own, larger limit, which takes precedence.
                .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
                // Who is calling, then whether they are over their rate.
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::authorize,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    rate_limit::limit,
                )),
        );
    // The layers every route has, outermost first: headers that keep browsers from guessing
    // content types or framing our answers, observation (request id, log line and metrics,
    // also for the requests below that fail), the replica's own limits (shedding,
    // draining), refused bodies drained, the request timeout (on every router: a body sent
    // a byte at a time to a password form must not hold an in-flight place for ever
    // either), and a panic in a handler answered as a 500 (the process keeps serving).
    let edge = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(ObserveLayer::new(state.proxies.clone()))
        .layer(GuardLayer::new(
            state.in_flight.clone(),
            state.health.clone(),
        ))
        // A refused body is read to its end, so the client reads the 413: outside the
        // timeout, so that a 413 given late is still delivered whole.
        .layer(middleware::from_fn(drain::drain_refused_bodies))
        .map_response(timeout_answer)
        .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.settings.request_timeout(),
        ))
        .layer(CatchPanicLayer::custom(panic_response));
    links.merge(api).layer(edge).with_state(state)
}

/// The API's routes (everything but following links), each declared with its handler,
/// its description and its access in its resource's module.
fn api_routes(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(ops::routes())
        .merge(users::routes(max_upload_bytes))
        .merge(urls::routes())
        .merge(events::routes())
        .merge(stats::routes())
        .merge(qr::routes())
        .merge(resolve::routes())
        .merge(reports::routes())
        .merge(docs::routes())
}

/// The router of the separate metrics listener (`KURZ_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    ops::metrics_routes().split_for_parts().0.with_state(state)
}

/// A list as a JSON array, with `X-Total-Count`.
pub fn list_response<T: Serialize>(listing: Listing<T>) -> Response {
    let total = HeaderValue::from(listing.total.max(0));
    ([(TOTAL_COUNT, total)], Json(listing.items)).into_response()
}
