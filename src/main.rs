//! The `kurz` binary: parse the command line and hand over.

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived values; glibc's allocator
/// spent about a sixth of the CPU of a redirect in profiles (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = kurz::cli::Cli::parse();
    match kurz::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "kurz failed");
            eprintln!("kurz: {err:#}");
            ExitCode::FAILURE
        }
    }
}
