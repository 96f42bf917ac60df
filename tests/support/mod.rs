//! What `tests/store.rs` still names `support::…` until its rewrite moves it onto the kit:
//! the kit's shared PostgreSQL server and PgBouncer, nothing of its own.

#[path = "../common/mod.rs"]
mod common;

pub use common::services::{PgBouncer, admin_url};
