//! The redirect fast path. Most traffic is `GET /{code}` for a code already in L1; this
//! service answers exactly that case before the router and its middleware stack, doing
//! the same work by hand: request id, security headers, load shedding, the click, the
//! access line and the request metrics (through handles registered once). Anything else —
//! another route or method, an L1 miss, an unknown, inactive or blocked link, a draining
//! replica that must say so — goes on to the router unchanged, so every answer but the
//! plain cached 302 comes from one place. Profiles showed the generic stack (six
//! middleware layers that each clone the state and box a future, a timer per request, label
//! lookups per metric) costing more CPU than the redirect itself.

use super::redirect::{click_event, found};
use super::{REQUEST_ID, new_request_id, set_security_headers};
use crate::app::AppState;
use crate::domain::ShortCode;
use crate::telemetry::{RedirectMetrics, access_line};
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// The route template the fast path answers for, as the router would label it.
const ROUTE: &str = "/{code}";

/// Puts the fast path in front of a service (the router).
#[derive(Clone)]
pub struct FastRedirectLayer {
    shared: Arc<Shared>,
}

struct Shared {
    state: AppState,
    metrics: RedirectMetrics,
}

impl FastRedirectLayer {
    pub fn new(state: AppState) -> Self {
        let shared = Arc::new(Shared {
            state,
            metrics: RedirectMetrics::register(ROUTE),
        });
        Self { shared }
    }
}

impl<S> Layer<S> for FastRedirectLayer {
    type Service = FastRedirect<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FastRedirect {
            shared: self.shared.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct FastRedirect<S> {
    shared: Arc<Shared>,
    inner: S,
}

impl<S> Service<Request> for FastRedirect<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready; it is driven with `oneshot` below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let inner = self.inner.clone();
        if !is_candidate(&request) {
            return Box::pin(inner.oneshot(request));
        }
        let shared = self.shared.clone();
        Box::pin(async move {
            // The head alone, so the future holds nothing that is not `Sync` across awaits.
            let (head, body) = request.into_parts();
            match shared.answer(&head).await {
                Some(response) => Ok(response),
                None => inner.oneshot(Request::from_parts(head, body)).await,
            }
        })
    }
}

/// `GET /{one-segment}`: possibly a short code (`answer` checks that it is one).
fn is_candidate(request: &Request) -> bool {
    request.method() == Method::GET
        && request
            .uri()
            .path()
            .strip_prefix('/')
            .is_some_and(|code| !code.is_empty() && !code.contains('/'))
}

impl Shared {
    /// The 302 for a cached, active, unblocked link, or `None` to let the router answer.
    async fn answer(&self, request: &Parts) -> Option<Response> {
        let start = Instant::now();
        let state = &self.state;
        let raw = &request.uri.path()[1..];
        let code = ShortCode::parse(raw).ok().filter(|c| !c.names_a_route())?;
        // Draining answers carry `Connection: close`; the router's stack adds it.
        if state.health.draining.load(Ordering::Acquire) {
            return None;
        }
        // No permit: the router sheds the request with its 503.
        let _permit = state.in_flight.try_acquire().ok()?;
        let url = state
            .cache
            .cached(&code)
            .await?
            .filter(|url| url.is_active)?;
        if state
            .safety
            .blocked_destination(&url.original_url)
            .is_some()
        {
            return None;
        }
        let location = HeaderValue::from_str(&url.original_url).ok()?;
        state.clicks.record(click_event(&url, &request.headers));
        state.cache.count_l1_hit();

        let request_id = request
            .headers
            .get(REQUEST_ID)
            .cloned()
            .unwrap_or_else(new_request_id);
        let mut response = found(location);
        set_security_headers(response.headers_mut());

        let elapsed = start.elapsed();
        self.metrics.found(elapsed);
        access_line(
            &Method::GET,
            ROUTE,
            StatusCode::FOUND,
            elapsed,
            request_id.to_str().unwrap_or(""),
            || {
                request
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| state.proxies.client_ip(peer.ip(), &request.headers))
            },
        );
        response.headers_mut().insert(REQUEST_ID, request_id);
        Some(response)
    }
}
