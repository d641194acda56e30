//! `cargo xtask bench restart`: time to ready and handler calls after a restart with
//! 100 000 tracked objects, beside what a monitor without kept state pays (the first sync
//! of the same bucket), in the same run.
//!
//! A first sync records the state (untimed); then a new monitor opens the same database,
//! loads the state, lists the unchanged bucket and diffs it. Ready means that cycle ended.
//!
//! Known limits: the storage is the memory backend, so listing costs no network time; the
//! scan benchmark measures that part against a real S3-protocol server.

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
        let first = timed_sync(store.clone(), &url, &bot).await?;
        let restart = timed_sync(store, &url, &bot).await?;
        rows.push((name, first, restart));
    }

    say(&format!("restart over {N_OBJECTS} tracked, unchanged objects (memory storage)"));
    say("| database | run | seconds to ready | handler calls | changes handed over |");
    say("|---|---|---:|---:|---:|");
    for (name, first, restart) in rows {
        for (run, (seconds, calls, changes)) in
            [("restart with kept state", restart), ("no kept state (first sync)", first)]
        {
            say(&format!("| {name} | {run} | {seconds:.2} | {calls} | {changes} |"));
        }
    }
    Ok(())
}
