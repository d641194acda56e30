//! Embedding the monitor in a host application: filesystem storage, SQLite state, the
//! settings handler from drive-handlers, and a handler of the host's own for scripts.
//!
//! Run with `cargo run -p drive-tests --example embed_monitor -- PATH`, where PATH holds
//! `*.gbai` folders (for instance the `bots` folder `drive-server` creates). It runs one
//! cycle per bot, prints what it did and exits.

use std::sync::Arc;

use async_trait::async_trait;
use drive_core::{BotName, ChangeHandler, ChangeInput, Kind, MonitorBuilder, Outcome};
use drive_handlers::SettingsHandler;

/// The host's own handler: here it only counts the scripts it was given.
#[derive(Debug)]
struct CountingScriptHandler;

#[async_trait]
impl ChangeHandler for CountingScriptHandler {
    fn kind(&self) -> Kind {
        Kind::Script
    }

    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        tracing::info!(bot = %bot, scripts = changes.len(), "host received scripts");
        changes.iter().map(|_| Outcome::applied()).collect()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let root = std::env::args().nth(1).unwrap_or_else(|| "bots".to_owned());
    let url = drive_storage::StorageUrl::Fs(root.into());
    let store = drive_storage::StorageConfig::new(url).open()?;
    let state_file = std::env::temp_dir().join("drive-monitor-embed-example.db");
    let database = drive_db::open(&format!("sqlite:{}", state_file.display())).await?;

    let monitor = MonitorBuilder::new(store, database.state_store())
        .handler(Arc::new(SettingsHandler::new(database.config_sink())))
        .handler(Arc::new(CountingScriptHandler))
        .build();

    for bot in monitor.discover().await? {
        let report = monitor.sync(&bot).await?;
        tracing::info!(bot = %bot, report = ?report, "synced");
    }
    // A long-running host would call `monitor.start(bots)` instead and keep the handle
    // to wake bots or shut them down.
    Ok(())
}
