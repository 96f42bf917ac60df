//! The `kurz` binary: parse the command line and hand over.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived values; glibc's allocator
/// spent about a sixth of the CPU of a redirect in profiles (see BENCHMARKS.md). Built
/// without transparent huge pages (`no_thp`, and [`without_huge_pages`]).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    without_huge_pages();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kurz: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let cli = kurz::cli::Cli::parse();
    match runtime.block_on(kurz::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "kurz failed");
            eprintln!("kurz: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Transparent huge pages off for the whole process, before its threads start. mimalloc
/// reserves 1 GiB arenas and hands each thread's heap regions of them: backed by 2 MiB huge
/// pages, a region holds 2 MiB however little of it is used. Idle, 22 of kurz's 40 MiB were
/// such pages, and under load the peak fell by a quarter to a third without them, CPU per
/// request unchanged (BENCHMARKS.md, ninth round; docs/DECISIONS.md). mimalloc's `no_thp`
/// feature stops it asking for them (`madvise`), which is enough where the kernel gives
/// huge pages only when asked; this covers kernels that give them unasked
/// (`transparent_hugepage=always`). Where the call is refused, kurz runs as before.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
