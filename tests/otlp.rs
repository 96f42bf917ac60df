//! With the `otlp` feature, kurz exports its request spans over OTLP/HTTP to the endpoint
//! it is given. The receiving end here is a real HTTP server on loopback that records what
//! arrives. Run: `cargo test --features otlp --test otlp`.
#![cfg(feature = "otlp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::kurz::Kurz;
use std::sync::{Arc, Mutex};

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_otlp_endpoint() {
    let received: Received = Arc::default();
    let collector = {
        let received = received.clone();
        Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| {
                let received = received.clone();
                async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    received.lock().unwrap().push((kind, body.to_vec()));
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let endpoint = format!("http://127.0.0.1:{collector_port}/v1/traces");
    let mut kurz = Kurz::start(&[("KURZ_OTLP_ENDPOINT", &endpoint), ("KURZ_LOG", "info")]);
    for _ in 0..5 {
        kurz.get("/users").await.check_status(200);
    }
    // SIGTERM: kurz flushes the spans it still holds before exiting.
    assert!(kurz.terminate().success());

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "no OTLP export arrived");
    let (kind, body) = &received[0];
    assert_eq!(kind, "application/x-protobuf");
    let contains = |needle: &[u8]| {
        received
            .iter()
            .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle))
    };
    assert!(contains(b"kurz"), "the service name is missing");
    assert!(contains(b"request"), "the request span is missing");
    assert!(body.len() > 50);
}
