//! What the state benchmarks share: a bucket of many objects in memory, a handler that
//! counts what it is given, and the databases to compare.
//!
//! The storage is the memory backend, so the figures are the monitor's and the database's,
//! not a network's. PostgreSQL is used when `DATABASE_URL` (default the local server)
//! answers; each run uses a bot of its own, so earlier runs do not change the figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;

use drive_core::{BotName, ChangeHandler, ChangeInput, Kind, MonitorBuilder, Outcome};
use drive_storage::MemoryObjectStore;

pub(crate) const N_OBJECTS: usize = 100_000;

#[expect(clippy::print_stdout, reason = "a benchmark prints its table")]
pub(crate) fn say(line: &str) {
    println!("{line}");
}

/// Returns a fresh bot name, so that no earlier run's state is found.
pub(crate) fn fresh_bot() -> BotName {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    BotName::new(format!("bench-{nanos}")).unwrap_or_else(|_| unreachable!("a valid name"))
}

/// Returns a memory store holding `n_objects` knowledge documents in the bot's bucket.
pub(crate) async fn filled_store(
    bot: &BotName,
    n_objects: usize,
) -> anyhow::Result<Arc<MemoryObjectStore>> {
    let store = Arc::new(MemoryObjectStore::new());
    store.create_bucket(&bot.bucket())?;
    let bucket = bot.bucket();
    let writes = futures::stream::iter(0..n_objects).map(|idx| {
        let (store, bucket) = (store.clone(), bucket.clone());
        async move {
            let key = format!("{}.gbkb/collection-{:02}/doc-{idx:06}.md", "bench", idx % 13);
            store.put(&bucket, &key, format!("document {idx}")).await
        }
    });
    for written in writes.buffer_unordered(64).collect::<Vec<_>>().await {
        written?;
    }
    Ok(store)
}

/// A knowledge handler that applies everything and counts calls and changes.
#[derive(Debug, Default)]
pub(crate) struct CountingHandler {
    pub(crate) calls: AtomicUsize,
    pub(crate) changes: AtomicUsize,
}

#[async_trait]
impl ChangeHandler for CountingHandler {
    fn kind(&self) -> Kind {
        Kind::Knowledge
    }

    async fn apply(&self, _bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.changes.fetch_add(changes.len(), Ordering::Relaxed);
        changes.iter().map(|_| Outcome::applied()).collect()
    }
}

/// The databases to compare: SQLite in a temporary folder, and PostgreSQL when it answers.
pub(crate) async fn databases(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![("SQLite", format!("sqlite:{}", dir.join("bench.db").display()))];
    let postgres = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match drive_db::open(&postgres).await {
        Ok(_) => urls.push(("PostgreSQL", postgres)),
        Err(err) => say(&format!("PostgreSQL skipped: {err}")),
    }
    urls
}

/// Runs one sync of `bot` on a fresh monitor over `url`; returns seconds to the end of the
/// cycle (opening the database included), handler calls and changes handed over.
pub(crate) async fn timed_sync(
    store: Arc<MemoryObjectStore>,
    url: &str,
    bot: &BotName,
) -> anyhow::Result<(f64, usize, usize)> {
    let started = Instant::now();
    let database = drive_db::open(url).await?;
    let handler = Arc::new(CountingHandler::default());
    let monitor =
        MonitorBuilder::new(store, database.state_store()).handler(handler.clone()).build();
    let report = monitor.sync(bot).await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.failed == 0, "{} changes failed: {:?}", report.failed, report.errors);
    Ok((seconds, handler.calls.load(Ordering::Relaxed), handler.changes.load(Ordering::Relaxed)))
}
