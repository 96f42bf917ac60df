//! Multi-process tests: several real kurz replicas sharing a real PostgreSQL and Redis,
//! and what happens to them when those fail. Each test starts its own processes (a fresh
//! database on the shared server, a private Redis, a private PostgreSQL cluster where the
//! test stops the server, a Redis Cluster, a Redis primary with a replica and a sentinel)
//! and they stop with the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod concurrency;
mod failures;
mod invalidation;
mod rate_limits;
mod redis_topologies;
