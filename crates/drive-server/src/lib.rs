//! The `drive-server` binary as a library: configuration, wiring of the adapters into a
//! monitor, the command line, the HTTP API, and the live side: the WebSocket hub
//! ([`hub`]) and theme files for browsers ([`themes`]).
//!
//! Bot servers that embed the monitor use drive-core's `MonitorBuilder` directly; this
//! crate is the stand-alone service and what the workspace's integration tests drive.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod example;
pub mod http;
pub mod hub;
pub mod run;
pub mod search;
pub mod status;
pub mod themes;
pub mod watch;
pub mod webhook;

pub use app::App;
pub use cli::{Cli, Exit, execute};
pub use config::Config;
pub use hub::Hub;
pub use run::Service;
