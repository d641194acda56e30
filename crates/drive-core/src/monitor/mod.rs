//! The monitor: one task per bot that lists, diffs, reads what changed, hands the changes to
//! the handlers and records the outcome.
//!
//! Guarantees, whichever adapters are plugged in:
//! - cycles of one bot never overlap (each bot's state sits behind one async mutex that both
//!   its task and on-demand syncs take);
//! - a new version is recorded only after its handler succeeded, in one state commit per
//!   cycle; a cycle dropped halfway (shutdown) acknowledges nothing it had not committed;
//! - a failed or truncated listing produces no change at all, so no deletion;
//! - one failing change never stops the others of its cycle.
//!
//! Known limits: a retry that comes due runs a full cycle of the bot (a listing), not a
//! targeted one.

mod clock;
mod coalesce;
mod config;
mod cycle;
mod task;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::{
    BotName, Change, ChangeHandler, FileStateStore, Kind, ObjectStore, PersistError, StoreError,
};

pub use clock::{Clock, SystemClock, TokioClock};
pub use config::{DeletionGuard, MonitorConfig, RetryPolicy, SizeLimits};
pub use task::MonitorHandle;

use cycle::BotState;

/// Assembles a [`Monitor`] from its ports.
///
/// ```
/// # #[cfg(feature = "test-util")] {
/// use std::sync::Arc;
/// use drive_core::testing::{MemoryObjectStoreForTests, MemoryStateStoreForTests};
/// use drive_core::{BotName, MonitorBuilder};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryObjectStoreForTests::new());
/// let bot = BotName::new("crm").unwrap();
/// store.put(&bot, "crm.gbdata/notes.txt", "hello");
///
/// let monitor = MonitorBuilder::new(store, Arc::new(MemoryStateStoreForTests::new())).build();
/// let report = monitor.sync(&bot).await.unwrap();
/// assert_eq!(report.added, 1);
/// assert_eq!(monitor.sync(&bot).await.unwrap().added, 0);
/// # });
/// # }
/// ```
#[derive(Debug)]
pub struct MonitorBuilder {
    store: Arc<dyn ObjectStore>,
    state: Arc<dyn FileStateStore>,
    handlers: HashMap<Kind, Arc<dyn ChangeHandler>>,
    config: MonitorConfig,
    clock: Arc<dyn Clock>,
    batch_permits: Option<Arc<tokio::sync::Semaphore>>,
}

impl MonitorBuilder {
    pub fn new(store: Arc<dyn ObjectStore>, state: Arc<dyn FileStateStore>) -> Self {
        Self {
            store,
            state,
            handlers: HashMap::new(),
            config: MonitorConfig::default(),
            clock: Arc::new(SystemClock),
            batch_permits: None,
        }
    }

    /// Installs the handler for its kind, replacing any earlier one of the same kind.
    pub fn handler(mut self, handler: Arc<dyn ChangeHandler>) -> Self {
        self.handlers.insert(handler.kind(), handler);
        self
    }

    pub fn config(mut self, config: MonitorConfig) -> Self {
        self.config = config;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Makes every handler call wait for a permit of `permits`, held for the call: a cap on
    /// handler batches running at once across all bots (and across every monitor given the
    /// same semaphore). Without it, each bot runs at most one batch at a time, with no cap
    /// across bots. The monitor never closes the semaphore; closing it lifts the cap.
    pub fn batch_permits(mut self, permits: Arc<tokio::sync::Semaphore>) -> Self {
        self.batch_permits = Some(permits);
        self
    }

    pub fn build(self) -> Monitor {
        let mut handled: Vec<Kind> = self.handlers.keys().copied().collect();
        handled.sort();
        Monitor {
            inner: Arc::new(Inner {
                store: self.store,
                state: self.state,
                handlers: self.handlers,
                handled,
                config: self.config,
                clock: self.clock,
                batch_permits: self.batch_permits,
                bots: Mutex::new(HashMap::new()),
                recent: Mutex::new(HashMap::new()),
                progress: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// A configured monitor. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct Monitor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    state: Arc<dyn FileStateStore>,
    handlers: HashMap<Kind, Arc<dyn ChangeHandler>>,
    /// Kinds with a handler, sorted.
    handled: Vec<Kind>,
    config: MonitorConfig,
    clock: Arc<dyn Clock>,
    /// Permits for handler calls, shared across bots, when capped.
    batch_permits: Option<Arc<tokio::sync::Semaphore>>,
    bots: Mutex<HashMap<BotName, Arc<tokio::sync::Mutex<BotState>>>>,
    /// The last cycles of every bot, newest last; apart from `bots` so that reading them
    /// never waits for a running cycle.
    recent: Mutex<HashMap<BotName, VecDeque<CycleRecord>>>,
    /// How far the running cycle of each bot has come.
    progress: Mutex<HashMap<BotName, CycleProgress>>,
}

/// How far a running cycle has come: changes resolved of the changes it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CycleProgress {
    pub done: usize,
    pub total: usize,
}

/// Cycles remembered per bot for the status API.
const RECENT_CYCLES: usize = 20;

/// One finished cycle, for the status API.
#[derive(Clone, Debug, Serialize)]
pub struct CycleRecord {
    /// When the cycle ended.
    pub finished_at: crate::Timestamp,
    /// `poll` (interval or wake-up), `events` (storage hints) or `manual` (on demand).
    pub trigger: &'static str,
    /// What the cycle did, when it ran to the end.
    pub report: Option<BotReport>,
    /// Why it could not, otherwise.
    pub error: Option<String>,
}

impl Monitor {
    /// Returns the bots the storage holds.
    ///
    /// # Errors
    /// The storage's error when it cannot list its buckets.
    pub async fn discover(&self) -> Result<Vec<BotName>, StoreError> {
        self.inner.store.list_bots().await
    }

    /// Runs one full cycle of `bot` now, for every kind, and returns what it did.
    ///
    /// Waits for a cycle of the same bot already running. Deletions held by the guard stay
    /// held unless `allow_mass_deletion` is set.
    ///
    /// # Errors
    /// [`CycleError`] when the listing or the state could not be read or stored; nothing
    /// was acknowledged then.
    pub async fn sync(&self, bot: &BotName) -> Result<BotReport, CycleError> {
        self.sync_with(bot, false).await
    }

    /// Like [`Monitor::sync`], letting through deletions the guard would hold when
    /// `allow_mass_deletion` is set.
    pub async fn sync_with(
        &self,
        bot: &BotName,
        allow_mass_deletion: bool,
    ) -> Result<BotReport, CycleError> {
        let options = cycle::CycleOptions { kinds: None, allow_mass_deletion };
        let bot_state = self.bot_state(bot);
        let mut bot_state = bot_state.lock().await;
        let result = self.run_cycle(bot, &mut bot_state, options).await;
        self.remember(bot, "manual", &result);
        result
    }

    /// Runs a cycle of `bot` over `keys` only, reading each with a stat instead of listing
    /// the bucket. Storage events are hints: this re-reads what storage really holds, so
    /// duplicate, late or reordered events end in the same state.
    ///
    /// # Errors
    /// As [`Monitor::sync`]; a failed stat fails the cycle without changing anything.
    pub async fn sync_keys(
        &self,
        bot: &BotName,
        keys: &[crate::ObjectKey],
    ) -> Result<BotReport, CycleError> {
        let bot_state = self.bot_state(bot);
        let mut bot_state = bot_state.lock().await;
        let result = self.run_key_cycle(bot, &mut bot_state, keys).await;
        self.remember(bot, "manual", &result);
        result
    }

    /// Returns the changes a cycle of `bot` would process now, applying nothing.
    ///
    /// # Errors
    /// As [`Monitor::sync`].
    pub async fn check(&self, bot: &BotName) -> Result<Plan, CycleError> {
        let bot_state = self.bot_state(bot);
        let mut bot_state = bot_state.lock().await;
        let (diff, held) = self.plan_cycle(bot, &mut bot_state, None, false).await?;
        Ok(Plan { bot: bot.clone(), changes: diff.changes, held_deletions: held })
    }

    /// Returns how long until the earliest failed change of `bot` is due for its retry,
    /// `None` when nothing waits for one.
    pub(crate) async fn next_retry_in(&self, bot: &BotName) -> Option<std::time::Duration> {
        let bot_state = self.bot_state(bot);
        let earliest = bot_state.lock().await.earliest_retry()?;
        let wait = earliest.as_nanos().saturating_sub(self.inner.clock.now().as_nanos());
        Some(std::time::Duration::from_nanos(u64::try_from(wait).unwrap_or(0)))
    }

    /// Returns how far the running cycle of `bot` has come, `None` when none runs.
    pub fn progress(&self, bot: &BotName) -> Option<CycleProgress> {
        let progress = self.inner.progress.lock().unwrap_or_else(|poison| poison.into_inner());
        progress.get(bot).copied()
    }

    pub(crate) fn set_progress(&self, bot: &BotName, value: Option<CycleProgress>) {
        let mut progress = self.inner.progress.lock().unwrap_or_else(|poison| poison.into_inner());
        match value {
            Some(value) => progress.insert(bot.clone(), value),
            None => progress.remove(bot),
        };
    }

    /// Returns the last cycles of `bot`, oldest first.
    pub fn recent_cycles(&self, bot: &BotName) -> Vec<CycleRecord> {
        let recent = self.inner.recent.lock().unwrap_or_else(|poison| poison.into_inner());
        recent.get(bot).map(|cycles| cycles.iter().cloned().collect()).unwrap_or_default()
    }

    /// Remembers a finished cycle for the status API and counts it.
    pub(crate) fn remember(
        &self,
        bot: &BotName,
        trigger: &'static str,
        result: &Result<BotReport, CycleError>,
    ) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("drive_cycles_total", "trigger" => trigger, "outcome" => outcome)
            .increment(1);
        let record = CycleRecord {
            finished_at: self.inner.clock.now(),
            trigger,
            report: result.as_ref().ok().cloned(),
            error: result.as_ref().err().map(|err| cycle::error_chain(err)),
        };
        let mut recent = self.inner.recent.lock().unwrap_or_else(|poison| poison.into_inner());
        let cycles = recent.entry(bot.clone()).or_default();
        if cycles.len() == RECENT_CYCLES {
            cycles.pop_front();
        }
        cycles.push_back(record);
    }

    /// Returns the kinds that have a handler.
    pub fn handled_kinds(&self) -> &[Kind] {
        &self.inner.handled
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.inner.config
    }

    fn bot_state(&self, bot: &BotName) -> Arc<tokio::sync::Mutex<BotState>> {
        let mut bots = self.inner.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        bots.entry(bot.clone()).or_default().clone()
    }
}

/// What one cycle of one bot did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BotReport {
    pub bot: String,
    /// Changes found, by what happened to the object.
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    /// Changes a handler made live (or removed).
    pub processed: usize,
    /// Changes that failed, retryable or invalid; each has an entry in `errors`.
    pub failed: usize,
    /// Changes of kinds without a handler: tracked, waiting for one.
    pub unhandled: usize,
    /// Changes of ignored objects: tracked, never processed.
    pub ignored: usize,
    /// New versions whose content turned out identical to the live one.
    pub same_content: usize,
    /// Deletions held back by the deletion guard.
    pub held_deletions: usize,
    pub errors: Vec<ChangeError>,
}

impl BotReport {
    /// Returns the number of changes found.
    pub fn n_changes(&self) -> usize {
        self.added + self.modified + self.removed
    }
}

/// A change that failed, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeError {
    pub key: String,
    pub error: String,
    /// True when the change will be retried by itself; false when the object must change.
    pub retrying: bool,
}

/// The changes a cycle would process.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub bot: BotName,
    pub changes: Vec<Change>,
    pub held_deletions: usize,
}

/// Why a whole cycle could not run. Nothing of the cycle was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("listing the bucket failed")]
    Listing(#[source] StoreError),
    #[error("reading the known state failed")]
    LoadState(#[source] PersistError),
    #[error("recording the outcome failed")]
    CommitState(#[source] PersistError),
}

impl CycleError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CycleError::Listing(err) => err.is_retryable(),
            CycleError::LoadState(err) | CycleError::CommitState(err) => err.is_retryable(),
        }
    }
}

#[cfg(test)]
mod tests;
