//! The HTTP/1.1 server loop: accepts connections and serves each with hyper, with the limits
//! a public server needs and `axum::serve` does not set. A connection that sends no
//! complete request head within the header timeout is closed; the timer runs whenever the
//! connection waits for a request, so it bounds slow clients (slowloris) and idle
//! keep-alive connections alike. Bodies are bounded by the request timeout and the size
//! limits of the router.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tower::Service;
use tower::ServiceExt;

/// Connections the kernel holds for kurz before they are accepted (it caps this at
/// `net.core.somaxconn`). The default of 128 overflowed when nginx opened hundreds of
/// upstream connections at once: dropped SYNs became 1 s connect timeouts, nginx marked the
/// replica down, and clients got 502s from a healthy stack.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as the standard library does).
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// After a failed accept (out of file descriptors, say), wait this long before the next,
/// instead of spinning on the error.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` completes, then stops accepting and lets every
/// open connection finish its current request (connections close after it). Returns when
/// all connections are closed; the caller bounds that wait.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let connections = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Small answers should leave at once, not wait for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "setting TCP_NODELAY failed");
        }
        let service = app
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                // Clients that vanish, time out or send garbage: theirs to fix, not ours.
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}
