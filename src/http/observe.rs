//! Observation of every request, as one typed layer on every route: the request id (the
//! client's `X-Request-Id`, or a new one; echoed back), the in-flight gauge, a `request`
//! span carrying the id, and on completion the request metrics (labelled by route template,
//! never by raw path) and one access log line. Metric handles are registered once per
//! route, method and status and then reused: the registry lookup hashes the name and every
//! label, which cost more than the redirect itself in profiles.

use super::REQUEST_ID;
use super::client_ip::{ClientIp, TrustedProxies};
use arc_swap::ArcSwap;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, SharedString};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// The route label of requests no route matched (a static: its address is a cache key).
static UNMATCHED: &str = "<unknown>";
/// Combinations of route, method and status kept; a bound in case a template's address
/// ever changed per request (it does not with the routers as built).
const MAX_KEPT: usize = 256;

/// Puts [`Observe`] around a service.
#[derive(Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub fn new(proxies: TrustedProxies) -> Self {
        Self {
            shared: Arc::new(Shared {
                proxies,
                in_flight: metrics::gauge!("kurz_http_requests_in_flight"),
                handles: ArcSwap::default(),
            }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: self.shared.clone(),
        }
    }
}

struct Shared {
    proxies: TrustedProxies,
    in_flight: Gauge,
    /// Read on every request without a lock; replaced whole on the rare new combination.
    /// A list, not a map: a service sees a few dozen combinations, and comparing two
    /// words and a status beats hashing them.
    handles: ArcSwap<Vec<(Key, Handles)>>,
}

/// A route (its template's address: every request a route matches shares one template
/// string, and no two routes share it), a method and a status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    route: usize,
    method: Method,
    status: StatusCode,
}

/// The two series one request adds to.
#[derive(Clone)]
struct Handles {
    requests: Counter,
    duration: Histogram,
}

impl Shared {
    fn handles(&self, route: Option<&MatchedPath>, method: &Method, status: StatusCode) -> Handles {
        let template = route.map_or(UNMATCHED, MatchedPath::as_str);
        let key = Key {
            route: template.as_ptr() as usize,
            method: method.clone(),
            status,
        };
        if let Some((_, handles)) = self.handles.load().iter().find(|(k, _)| *k == key) {
            return handles.clone();
        }
        let handles = Handles::register(template, method, status);
        if self.handles.load().len() >= MAX_KEPT {
            return handles;
        }
        self.handles.rcu(|known| {
            let mut known = Vec::clone(known);
            known.push((key.clone(), handles.clone()));
            known
        });
        handles
    }
}

impl Handles {
    fn register(route: &str, method: &Method, status: StatusCode) -> Self {
        let route = SharedString::from(route.to_owned());
        // Hyper takes any token as a method: a label of whatever the client sent would be a
        // new series per made-up method, without bound.
        let method = match *method {
            Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::PATCH
            | Method::OPTIONS
            | Method::CONNECT
            | Method::TRACE => SharedString::from(method.as_str().to_owned()),
            _ => SharedString::const_str("other"),
        };
        Self {
            requests: metrics::counter!(
                "kurz_http_requests_total",
                "method" => method.clone(),
                "route" => route.clone(),
                "status" => status.as_str().to_owned()
            ),
            duration: metrics::histogram!(
                "kurz_http_request_duration_seconds",
                "method" => method,
                "route" => route,
                "status" => status_class(status)
            ),
        }
    }
}

/// "2xx", "4xx", …: the status label of the latency histogram (full codes would multiply
/// its series for little gain; the request counter keeps them).
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let start = Instant::now();
        let request_id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let span = tracing::info_span!("request", request_id = request_id.to_str().unwrap_or(""));
        // Worked out now (the request goes on to the handler) but formatted only if logged.
        let client = tracing::enabled!(target: "kurz::access", tracing::Level::INFO)
            .then(|| {
                ClientIp::of(
                    &self.shared.proxies,
                    (request.extensions(), request.headers()),
                )
                .0
            })
            .flatten();
        let seen = Seen {
            start,
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            request_id,
            client,
            in_flight: InFlight::enter(&self.shared.in_flight),
            shared: self.shared.clone(),
        };
        ObserveFuture {
            inner: self.inner.call(request).instrument(span),
            seen: Some(seen),
        }
    }
}

/// 128 random bits from the thread-local CSPRNG, as 32 hex digits. A UUID v4 asks the kernel
/// for randomness on every request (a syscall per request in profiles); uniqueness is all a
/// request id needs.
fn new_request_id() -> HeaderValue {
    let id = hex::encode(rand::random::<[u8; 16]>());
    // Hex digits always make a valid header value.
    HeaderValue::from_maybe_shared(axum::body::Bytes::from(id))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// What is known of a request before it is answered.
struct Seen {
    start: Instant,
    method: Method,
    route: Option<MatchedPath>,
    request_id: HeaderValue,
    client: Option<IpAddr>,
    /// Leaves the in-flight gauge when dropped: also when the client goes away mid-request.
    in_flight: InFlight,
    shared: Arc<Shared>,
}

impl Seen {
    fn answered(self, response: &mut Response) {
        let elapsed = self.start.elapsed();
        let status = response.status();
        let handles = self
            .shared
            .handles(self.route.as_ref(), &self.method, status);
        handles.requests.increment(1);
        handles.duration.record(elapsed.as_secs_f64());
        drop(self.in_flight);
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let request_id = self.request_id.to_str().unwrap_or("");
        access_line(
            &self.method,
            route,
            status,
            elapsed,
            request_id,
            self.client,
        );
        response.headers_mut().insert(REQUEST_ID, self.request_id);
    }
}

struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

pin_project! {
    /// The inner service's answer, observed when it arrives.
    pub struct ObserveFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        seen: Option<Seen>,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        if let Some(seen) = this.seen.take() {
            seen.answered(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

/// The access log line of one request (target `kurz::access`).
fn access_line(
    method: &Method,
    route: &str,
    status: StatusCode,
    elapsed: Duration,
    request_id: &str,
    client: Option<IpAddr>,
) {
    if !tracing::enabled!(target: "kurz::access", tracing::Level::INFO) {
        return;
    }
    tracing::info!(
        target: "kurz::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_us = elapsed.as_micros() as u64,
        request_id = request_id,
        client = client.map(|c| c.to_string()).unwrap_or_default(),
        "request"
    );
}
