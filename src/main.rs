//! The `kurz` binary: parse the command line and hand over.

use clap::Parser;
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
