//! The runtime of the writers (SQLite's group commit of creates, and the writing half of
//! the click writer): a thread of its own, beside the server's runtime.
//!
//! Such a writer makes several trips to its database per batch, and after each trip its
//! task waits to be scheduled again. On the server's runtime under load that wait is a turn
//! behind every request being answered (hundreds at 500 connections), so a batch of creates
//! took hundreds of ms of waiting for a few ms of work, and every create waited for it
//! (BENCHMARKS.md, 2026-12-01); the one database writer sat idle meanwhile. Here its tasks
//! are the only ones queued. The classification of clicks, the click writer's heavy work,
//! stays on the server's runtime on purpose (see `clicks::start`).
//!
//! A panic in a task here ends that task, never the thread or the process (tokio catches it
//! and reports it to the task's `JoinHandle`).

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;

/// Runs `task` on the writers' runtime, started on first use.
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(task)
}

fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = match Builder::new_current_thread()
            .enable_all()
            .thread_name("kurz-writers")
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => panic!("cannot start the writers' runtime: {err}"),
        };
        let handle = runtime.handle().clone();
        let started = std::thread::Builder::new()
            .name("kurz-writers".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()));
        if let Err(err) = started {
            panic!("cannot start the writers' thread: {err}");
        }
        handle
    })
}
