//! HTTP integration tests: the executable form of `../shared/CONTRACT.md`.
//!
//! Every test starts its own application (own temporary data directory, own port), so the
//! suite runs in parallel under `cargo nextest run --test api` and `cargo test --test api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod bulk_import;
mod events;
mod health;
mod lifecycle;
mod limits;
mod openapi;
mod pagination;
mod qr;
mod redirect;
mod routing;
mod safety;
mod seed;
mod shutdown;
mod stats;
mod ui;
mod urls;
mod users;
