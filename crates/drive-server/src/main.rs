//! The `drive-server` command.

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use drive_server::cli::Command;
use drive_server::{Cli, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs its lifecycle; one-shot commands speak through their output and
    // log only what went wrong, unless RUST_LOG asks for more.
    let default_level = match cli.command {
        None | Some(Command::Run) => "info",
        Some(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(drive_server::execute(cli, &mut stdout)) {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Failures) => ExitCode::from(1),
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::from(2)
        }
    }
}
