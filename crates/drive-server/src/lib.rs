//! The `drive-server` binary as a library: configuration, wiring of the adapters into a
//! monitor, the command line and the HTTP API.
//!
//! Bot servers that embed the monitor use drive-core's `MonitorBuilder` directly; this
//! crate is the stand-alone service and what the workspace's integration tests drive.

pub mod app;
pub mod cli;
pub mod config;
pub mod example;
pub mod http;
pub mod run;
pub mod watch;
pub mod webhook;

pub use app::App;
pub use cli::{Cli, Exit, execute};
pub use config::Config;
pub use run::Service;
