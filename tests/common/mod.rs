//! The one test kit every integration-test binary includes (`mod common;`, or
//! `#[path = "../common/mod.rs"] mod common;` from a suite directory): child processes with a
//! clean environment, the kurz binary and the in-process application, one HTTP client, the
//! object shapes of the API, the seed files, steady load, and the services tests start.
//!
//! Kit modules reach each other through `super::`, never `crate::`, so the kit works wherever
//! a binary mounts it.
// Each binary uses a different part of the kit.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod http;
pub mod kurz;
pub mod load;
pub mod pages;
pub mod process;
pub mod records;
pub mod seed;
pub mod services;
pub mod shapes;
pub mod visits;
pub mod wait;

/// What most tests use, for one glob import (a test's own item of the same name wins).
pub mod prelude {
    pub use super::app::{
        TestApp, limit_creates, limit_writes, spawn_app, spawn_app_in, spawn_app_in_with,
        spawn_app_with,
    };
    pub use super::http::{Api, Reply, client, client_builder, metric_sum, wait_for_all};
    pub use super::kurz::{
        Kurz, kurz_command, kurz_command_on, kurz_ok, kurz_ok_beside, kurz_refusal, kurz_summary,
        replicas,
    };
    pub use super::load::{
        Client, Counts, Load, Request, clicks_wait_out_a_held_lock, fill_the_click_queue, holding,
    };
    pub use super::process::{clean_command, free_port, process_alive, repo, tool};
    pub use super::seed::*;
    pub use super::services::*;
    pub use super::shapes::*;
    pub use super::wait::{eventually, wait_for};
}
