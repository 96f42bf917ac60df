//! Refused bodies read to their end before the answer goes out, as nginx's lingering close
//! does: a server that answers 413 and closes with the rest of the body unread makes the
//! kernel reset the connection, and a client still sending gets a broken pipe instead of
//! the 413. The request body is shared with the handler; when the answer is a 413, whatever
//! the handler left unread is discarded, up to a bound in bytes and in time (past it, the
//! connection is closed as before: a client sending that much gets no courtesy).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// Most bytes read and discarded after a 413.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// Longest a refused body is read for.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(5);

/// The middleware: shares the body with the handler, drains it after a 413.
pub async fn drain_refused_bodies(request: Request, next: Next) -> Response {
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let shared = Shared(Arc::new(Mutex::new(Some(body))));
    let handle = shared.0.clone();
    let response = next
        .run(Request::from_parts(parts, Body::new(shared)))
        .await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let rest = handle.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(rest) = rest {
            let _ = tokio::time::timeout(MAX_DRAIN_TIME, discard(rest)).await;
        }
    }
    response
}

/// Reads and drops the body up to [`MAX_DRAIN_BYTES`].
async fn discard(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut read = 0;
    while read <= MAX_DRAIN_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => return,
        }
    }
}

/// The request body, readable by the handler while the middleware keeps a hold on it.
struct Shared(Arc<Mutex<Option<Body>>>);

impl Shared {
    fn with<T>(&self, empty: T, f: impl FnOnce(&mut Body) -> T) -> T {
        match self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(body) => f(body),
            None => empty,
        }
    }
}

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.with(Poll::Ready(None), |body| Pin::new(body).poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.with(true, |body| body.is_end_stream())
    }

    // Kept, so a `Content-Length` over the limit is refused before a byte is read.
    fn size_hint(&self) -> SizeHint {
        self.with(SizeHint::with_exact(0), |body| body.size_hint())
    }
}
