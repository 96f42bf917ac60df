//! The local production stack (`deploy/local/stack`): real nginx in front of real kurz
//! replicas under their restart-on-failure supervisors, real PostgreSQL and Redis, and what
//! happens to client requests and click events when replicas are restarted or killed and
//! when Redis or PostgreSQL go away under load. Every test prints its counts; the scenarios
//! run one at a time (they share two CPU cores with nginx and the databases).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Each test holds `harness::serial()` for its whole run, across awaits: every test has its
// own runtime, and the lock only keeps two scenarios from running at once.
#![allow(clippy::await_holding_lock)]

#[path = "../common/mod.rs"]
mod common;

mod harness;

mod basics;
mod chaos;
mod drain;
mod rolling;
