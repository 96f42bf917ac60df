//! Two runtimes beside the server's, each a thread of its own: the writers' (SQLite's group
//! commit of creates, and the writing half of the click writer) and the readers' (the list
//! reads a request waits for).
//!
//! Such work makes trips to its database, and after each trip its task waits to be
//! scheduled again. On the server's runtime under load that wait is a turn behind every
//! request being answered (hundreds at 500 connections): a batch of creates took hundreds
//! of ms of waiting for a few ms of work, and every create waited for it (BENCHMARKS.md,
//! 2026-12-01); a list held its reader connection across that turn, so eight readers served
//! a few hundred lists a second and the rest queued for one (twentieth round). Here their
//! tasks are the only ones queued. The classification of clicks, the click writer's heavy
//! work, stays on the server's runtime on purpose (see `clicks::start`).
//!
//! A panic in a task here ends that task, never the thread or the process (tokio catches it
//! and reports it to the task's `JoinHandle`; [`read`] raises it again in the request).

use crate::store::{StoreError, StoreResult};
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, Span};

/// Runs `task` on the writers' runtime, started on first use.
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    static WRITERS: OnceLock<Handle> = OnceLock::new();
    WRITERS.get_or_init(|| start("kurz-writers")).spawn(task)
}

/// Runs `read`, store reads a request waits for, on the readers' runtime, and waits for its
/// answer: the request's task is scheduled once for the answer, not once per trip to the
/// database while it holds a connection. A panic in `read` is raised again here, where the
/// request's own panic handling answers it. A request given up (a client gone, a timeout)
/// aborts its read, as it did when the read ran in the request: the read gives its
/// connection back, or stops waiting for one, instead of going on for no one. The read runs
/// in the request's span, so what it logs names the request.
pub async fn read<T, F>(read: F) -> StoreResult<T>
where
    F: Future<Output = StoreResult<T>> + Send + 'static,
    T: Send + 'static,
{
    static READERS: OnceLock<Handle> = OnceLock::new();
    let runtime = READERS.get_or_init(|| start("kurz-readers"));
    let task = AbortOnDropHandle::new(runtime.spawn(read.instrument(Span::current())));
    match task.await {
        Ok(answer) => answer,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only at the process's exit: the runtime's thread never returns, and the task
            // is aborted only with this future.
            Err(_) => Err(StoreError::Down),
        },
    }
}

/// A current-thread runtime on a thread of its own, named `name`.
fn start(name: &str) -> Handle {
    let runtime = match Builder::new_current_thread()
        .enable_all()
        .thread_name(name)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => panic!("cannot start the {name} runtime: {err}"),
    };
    let handle = runtime.handle().clone();
    let started = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()));
    if let Err(err) = started {
        panic!("cannot start the {name} thread: {err}");
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_read_answers_from_the_readers_runtime() {
        let thread = read(async { Ok(std::thread::current().name().map(str::to_owned)) }).await;
        assert_eq!(thread.ok().flatten().as_deref(), Some("kurz-readers"));
    }

    #[tokio::test]
    async fn a_panic_in_a_read_is_raised_in_the_request() {
        let request = tokio::spawn(read::<(), _>(async { panic!("a read that fails") }));
        let outcome = request.await;
        assert!(
            outcome.is_err_and(|failed| failed.is_panic()),
            "the panic reaches the request"
        );
    }

    #[tokio::test]
    async fn a_read_given_up_by_its_request_is_aborted() {
        let (held, released) = tokio::sync::oneshot::channel::<()>();
        let request = read::<(), _>(async move {
            let _held = held;
            std::future::pending().await
        });
        // The request gives up, as on a timeout or a client gone.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), request)
                .await
                .is_err()
        );
        // The read is dropped on its runtime, and what it held with it.
        let dropped = tokio::time::timeout(Duration::from_secs(10), released).await;
        assert!(
            matches!(dropped, Ok(Err(_))),
            "the read still runs: {dropped:?}"
        );
    }
}
