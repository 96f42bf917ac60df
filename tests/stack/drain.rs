//! What a proxy's pooled keep-alive connection sees while a replica drains.

use crate::common::kurz::Kurz;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 GET on `stream`; the response head, lower-cased.
fn head(stream: &mut TcpStream, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: kurz\r\n\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap_or(0);
    let text = String::from_utf8_lossy(&buffer[..n]).to_lowercase();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// During `KURZ_DRAIN_DELAY_MS` a replica keeps serving so that load balancers can notice
/// `/ready` failing. A proxy that pools keep-alive connections (nginx `keepalive`, most L7
/// balancers) must also be told to stop reusing them: answers given while draining should
/// carry `Connection: close`. Otherwise the replica closes idle connections when the delay
/// ends, and a request the proxy sends on one at that moment is lost (a POST cannot be
/// resent: nginx answers 502; see "How a rolling restart stays at zero" in
/// docs/FAILURE_MODES.md).
#[test]
fn answers_given_while_draining_close_the_connection() {
    let kurz = Kurz::start(&[("KURZ_DRAIN_DELAY_MS", "2000")]);
    let mut stream = TcpStream::connect(("127.0.0.1", kurz.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let before = head(&mut stream, "/health");
    assert!(before.starts_with("http/1.1 200"), "{before}");
    assert!(!before.contains("connection: close"), "{before}");

    kurz.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    let draining = head(&mut stream, "/health");
    assert!(
        draining.starts_with("http/1.1 200"),
        "still serving: {draining}"
    );
    assert!(
        draining.contains("connection: close"),
        "an answer given while draining keeps the connection alive:\n{draining}"
    );
}
