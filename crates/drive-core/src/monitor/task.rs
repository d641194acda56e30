//! The per-bot tasks: when to run a cycle, storage hints, backoff when a cycle fails,
//! shutdown.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, debug, error, info, info_span, warn};

use super::Monitor;
use super::coalesce::Coalescer;
use super::cycle::{CycleOptions, error_chain};
use crate::{BotName, Kind, ObjectKey};

/// Hints waiting for a bot's task; when full, the task is woken for a full cycle instead,
/// which covers whatever the dropped hints named.
const HINT_QUEUE: usize = 1024;

/// Controls the tasks started by [`Monitor::start`].
#[derive(Debug)]
pub struct MonitorHandle {
    monitor: Monitor,
    cancel: CancellationToken,
    tracker: TaskTracker,
    bots: Mutex<HashMap<BotName, BotChannel>>,
    /// The runtime bot tasks run on, so `mount` works from any thread (a filesystem watcher
    /// calls it from its own).
    runtime: tokio::runtime::Handle,
}

/// How the handle reaches one bot's task.
#[derive(Debug)]
struct BotChannel {
    waker: std::sync::Arc<Notify>,
    hints: mpsc::Sender<ObjectKey>,
    cancel: CancellationToken,
}

impl Monitor {
    /// Starts one task per bot in `bots`; more can be added with [`MonitorHandle::mount`].
    ///
    /// Each task runs a first cycle at once, then one whenever a kind's interval (with
    /// jitter) has passed, or early when woken with [`MonitorHandle::wake`]; hinted keys
    /// ([`MonitorHandle::hint`]) get a targeted cycle once their events settle.
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    pub fn start(&self, bots: impl IntoIterator<Item = BotName>) -> MonitorHandle {
        let handle = MonitorHandle {
            monitor: self.clone(),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            bots: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        };
        for bot in bots {
            handle.mount(bot);
        }
        handle
    }
}

impl MonitorHandle {
    /// Starts the task of `bot` unless it runs already. Returns true when started.
    pub fn mount(&self, bot: BotName) -> bool {
        let mut bots = self.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        if bots.contains_key(&bot) || self.cancel.is_cancelled() {
            return false;
        }
        let (hints, hint_receiver) = mpsc::channel(HINT_QUEUE);
        let channel = BotChannel {
            waker: std::sync::Arc::new(Notify::new()),
            hints,
            cancel: self.cancel.child_token(),
        };
        let span = info_span!("bot", bot = %bot);
        let task = BotTask {
            monitor: self.monitor.clone(),
            bot: bot.clone(),
            waker: channel.waker.clone(),
            hints: hint_receiver,
            cancel: channel.cancel.clone(),
        };
        bots.insert(bot, channel);
        self.tracker.spawn_on(task.run().instrument(span), &self.runtime);
        true
    }

    /// Stops the task of `bot`; its state stays stored. Returns false for a bot without a
    /// task.
    pub fn unmount(&self, bot: &BotName) -> bool {
        let mut bots = self.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(channel) = bots.remove(bot) else { return false };
        channel.cancel.cancel();
        true
    }

    /// Returns the bots with a running task, sorted.
    pub fn bots(&self) -> Vec<BotName> {
        let bots = self.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        let mut names: Vec<BotName> = bots.keys().cloned().collect();
        names.sort();
        names
    }

    /// Makes the task of `bot` run a cycle for every kind now. Returns false for a bot
    /// without a task.
    pub fn wake(&self, bot: &BotName) -> bool {
        let bots = self.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(channel) = bots.get(bot) else { return false };
        channel.waker.notify_one();
        true
    }

    /// Tells the task of `bot` that `key` may have changed (a storage event). The task
    /// re-reads the key once its events settle and acts on what storage holds. Returns
    /// false for a bot without a task. Never blocks.
    pub fn hint(&self, bot: &BotName, key: ObjectKey) -> bool {
        let bots = self.bots.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(channel) = bots.get(bot) else { return false };
        if channel.hints.try_send(key).is_err() {
            // The queue is full: a full cycle covers every dropped hint.
            channel.waker.notify_one();
        }
        true
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Returns a token cancelled when the monitor shuts down.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops every task and waits for them up to `deadline`. A cycle in flight is dropped
    /// at its next await point; it acknowledged nothing it had not committed. Returns false
    /// when tasks were still running at the deadline.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait()).await.is_ok()
    }
}

/// The task of one bot.
struct BotTask {
    monitor: Monitor,
    bot: BotName,
    waker: std::sync::Arc<Notify>,
    hints: mpsc::Receiver<ObjectKey>,
    cancel: CancellationToken,
}

/// What woke the task.
enum Wake {
    Cancelled,
    Hint(ObjectKey),
    Timer,
    Woken,
}

impl BotTask {
    /// Waits for the next due kind, hint deadline or wake-up, and runs the cycle it calls
    /// for, until cancelled.
    async fn run(mut self) {
        let config = self.monitor.config().clone();
        let mut coalescer = Coalescer::new(config.hint_quiet, config.hint_max_wait);
        let mut next_due: BTreeMap<Kind, Instant> =
            Kind::ALL.into_iter().map(|kind| (kind, Instant::now())).collect();
        // While cycles fail, the next attempt waits for the backoff rather than the poll.
        let mut retry_at: Option<Instant> = None;
        let mut failures: u32 = 0;
        info!("bot mounted");

        loop {
            let poll_at = retry_at.or_else(|| next_due.values().min().copied());
            let hint_at = coalescer.next_deadline();
            let wake_at = [poll_at, hint_at].into_iter().flatten().min();
            match self.wait(wake_at).await {
                Wake::Cancelled => break,
                Wake::Hint(key) => {
                    coalescer.note(key, Instant::now());
                    continue;
                }
                Wake::Woken => next_due.values_mut().for_each(|at| *at = Instant::now()),
                Wake::Timer => {}
            }

            let now = Instant::now();
            let full_cycle_due = match retry_at {
                Some(at) => at <= now,
                None => next_due.values().any(|at| *at <= now),
            };
            let result = if full_cycle_due {
                let due: Vec<Kind> =
                    next_due.iter().filter(|(_, at)| **at <= now).map(|(kind, _)| *kind).collect();
                let result = self.full_cycle(&due).await;
                if result.is_ok() {
                    // A complete pass covers every pending hint of the kinds it processed.
                    if due.len() == Kind::ALL.len() {
                        coalescer.clear();
                    }
                    for kind in due {
                        next_due.insert(kind, now + config.jittered(config.interval_of(kind)));
                    }
                }
                result
            } else {
                let keys = coalescer.take_due(now);
                if keys.is_empty() {
                    continue;
                }
                debug!(keys = keys.len(), "storage hints settled");
                self.key_cycle(&keys).await
            };

            match result {
                Ok(()) => {
                    if failures > 0 {
                        info!(failures, "bot recovered");
                    }
                    failures = 0;
                    retry_at = None;
                    // Failed changes come due on their own clock, not the poll's.
                    if let Some(wait) = self.monitor.next_retry_in(&self.bot).await {
                        let at = Instant::now() + wait;
                        next_due.values_mut().for_each(|due| *due = (*due).min(at));
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    log_failure(&err, failures);
                    retry_at =
                        Some(Instant::now() + config.jittered(config.cycle_retry.delay(failures)));
                    // Everything pending is covered by the full cycle the retry runs.
                    next_due.values_mut().for_each(|at| *at = (*at).min(Instant::now()));
                }
            }
        }
        info!("bot unmounted");
    }

    async fn wait(&mut self, until: Option<Instant>) -> Wake {
        let sleep = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Wake::Cancelled,
            Some(key) = self.hints.recv() => Wake::Hint(key),
            () = self.waker.notified() => Wake::Woken,
            () = sleep => Wake::Timer,
        }
    }

    async fn full_cycle(&self, kinds: &[Kind]) -> Result<(), super::CycleError> {
        let options = CycleOptions { kinds: Some(kinds.to_vec()), allow_mass_deletion: false };
        let bot_state = self.monitor.bot_state(&self.bot);
        let cycle = async {
            let mut bot_state = bot_state.lock().await;
            let result = self.monitor.run_cycle(&self.bot, &mut bot_state, options).await;
            self.monitor.remember(&self.bot, "poll", &result);
            result.map(drop)
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Ok(()),
            result = cycle => result,
        }
    }

    async fn key_cycle(&self, keys: &[ObjectKey]) -> Result<(), super::CycleError> {
        let bot_state = self.monitor.bot_state(&self.bot);
        let cycle = async {
            let mut bot_state = bot_state.lock().await;
            let result = self.monitor.run_key_cycle(&self.bot, &mut bot_state, keys).await;
            self.monitor.remember(&self.bot, "events", &result);
            result.map(drop)
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Ok(()),
            result = cycle => result,
        }
    }
}

/// Warns on the first failure and then at powers of two, so an outage of hours logs a
/// handful of lines rather than thousands.
fn log_failure(err: &super::CycleError, failures: u32) {
    if !failures.is_power_of_two() {
        return;
    }
    let message = error_chain(err);
    if err.is_retryable() {
        warn!(failures, error = %message, "cycle failed, backing off");
    } else {
        error!(failures, error = %message, "cycle failed, check the configuration");
    }
}
