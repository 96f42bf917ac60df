//! The replica's own limits, as one typed layer on every route: past the in-flight bound a
//! request is shed with a 503 at once (queueing would only make every request late, and the
//! clients' retries pile up on top), and while draining every answer closes its connection,
//! so proxies and clients move their next request elsewhere instead of sending it just as
//! the listener closes. A shed is counted, not logged: under overload a log line per
//! request would add to the load.

use super::error::status_body;
use super::state::Health;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use metrics::Counter;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// Puts [`Guard`] around a service.
#[derive(Clone)]
pub struct GuardLayer {
    shared: Arc<Shared>,
}

struct Shared {
    in_flight: Arc<Semaphore>,
    health: Arc<Health>,
    shed: Counter,
}

impl GuardLayer {
    pub fn new(in_flight: Arc<Semaphore>, health: Arc<Health>) -> Self {
        Self {
            shared: Arc::new(Shared {
                in_flight,
                health,
                shed: metrics::counter!("kurz_requests_shed_total"),
            }),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let shared = self.shared.clone();
        match shared.in_flight.clone().try_acquire_owned() {
            Ok(permit) => GuardFuture::Admitted {
                inner: self.inner.call(request),
                permit: Some(permit),
                shared,
            },
            Err(_) => {
                shared.shed.increment(1);
                GuardFuture::Shed {
                    shared: Some(shared),
                }
            }
        }
    }
}

pin_project! {
    #[project = GuardProjection]
    pub enum GuardFuture<F> {
        Admitted {
            #[pin]
            inner: F,
            // Held until the answer is ready.
            permit: Option<OwnedSemaphorePermit>,
            shared: Arc<Shared>,
        },
        Shed {
            shared: Option<Arc<Shared>>,
        },
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, draining) = match self.project() {
            GuardProjection::Admitted {
                inner,
                permit,
                shared,
            } => {
                let Ok(response) = ready!(inner.poll(cx));
                drop(permit.take());
                (response, shared.health.draining())
            }
            GuardProjection::Shed { shared } => {
                let draining = shared.take().is_some_and(|s| s.health.draining());
                (status_body(StatusCode::SERVICE_UNAVAILABLE), draining)
            }
        };
        if draining {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}
