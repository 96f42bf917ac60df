//! The UI's own files, compiled into the binary: one stylesheet, one script, one icon.
//! Cached by browsers for a day (they change only with a release).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const FAVICON: &str = include_str!("assets/favicon.svg");

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn favicon() -> Response {
    file("image/svg+xml", FAVICON)
}
