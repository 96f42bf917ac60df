//! kurz: a URL shortener built to run in production.
//!
//! The binary (`src/main.rs`) only parses the command line; everything else lives here
//! so the integration tests can build and run the real application.

pub mod app;
pub mod auth;
pub mod background;
pub mod cache;
pub mod caps;
pub mod cli;
pub mod clicks;
pub mod config;
pub mod domain;
pub mod http;
pub mod import;
pub mod limits;
pub mod safety;
pub mod seed;
pub mod store;
pub mod telemetry;
pub mod transfer;
pub mod ui;
