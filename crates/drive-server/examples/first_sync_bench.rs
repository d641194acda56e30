//! `cargo xtask bench first-sync`: the first sync of 100 000 objects, SQLite beside
//! PostgreSQL in the same run.
//!
//! A fresh monitor over an empty state lists the bucket (memory backend), reads and hashes
//! every object, hands them to a knowledge handler that applies everything, and records the
//! new state in one commit. The time runs from opening the database to the end of the cycle.
//!
//! Known limits: the handler does no work, so the figure is the monitor's and the
//! database's share of a first sync, not indexing.

#[path = "bench_support/mod.rs"]
mod support;

use support::{N_OBJECTS, databases, filled_store, fresh_bot, say, timed_sync};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    for (name, url) in databases(dir.path()).await {
        let bot = fresh_bot();
        let store = filled_store(&bot, N_OBJECTS).await?;
        let (seconds, calls, changes) = timed_sync(store, &url, &bot).await?;
        rows.push((name, seconds, calls, changes));
    }

    say(&format!("first sync of {N_OBJECTS} objects (memory storage, no-op handler)"));
    say("| database | seconds | objects/s | handler calls | changes handed over |");
    say("|---|---:|---:|---:|---:|");
    for (name, seconds, calls, changes) in rows {
        let rate = N_OBJECTS as f64 / seconds;
        say(&format!("| {name} | {seconds:.2} | {rate:.0} | {calls} | {changes} |"));
    }
    Ok(())
}
