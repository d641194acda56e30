//! The per-bot tasks: when to run a cycle, backoff when a cycle fails, shutdown.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, error, info, info_span, warn};

use super::Monitor;
use super::cycle::{CycleOptions, error_chain};
use crate::{BotName, Kind};

/// Controls the tasks started by [`Monitor::start`].
#[derive(Debug)]
pub struct MonitorHandle {
    monitor: Monitor,
    cancel: CancellationToken,
    tracker: TaskTracker,
    wakers: Mutex<HashMap<BotName, Arc<Notify>>>,
}

impl Monitor {
    /// Starts one task per bot in `bots`; more can be added with [`MonitorHandle::mount`].
    ///
    /// Each task runs a first cycle at once, then one whenever a kind's interval (with
    /// jitter) has passed, or early when woken with [`MonitorHandle::wake`].
    pub fn start(&self, bots: impl IntoIterator<Item = BotName>) -> MonitorHandle {
        let handle = MonitorHandle {
            monitor: self.clone(),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            wakers: Mutex::new(HashMap::new()),
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
        let mut wakers = self.wakers.lock().unwrap_or_else(|poison| poison.into_inner());
        if wakers.contains_key(&bot) || self.cancel.is_cancelled() {
            return false;
        }
        let waker = Arc::new(Notify::new());
        wakers.insert(bot.clone(), waker.clone());
        let span = info_span!("bot", bot = %bot);
        let task = run_bot(self.monitor.clone(), bot, waker, self.cancel.child_token());
        self.tracker.spawn(task.instrument(span));
        true
    }

    /// Returns the bots with a running task, sorted.
    pub fn bots(&self) -> Vec<BotName> {
        let wakers = self.wakers.lock().unwrap_or_else(|poison| poison.into_inner());
        let mut bots: Vec<BotName> = wakers.keys().cloned().collect();
        bots.sort();
        bots
    }

    /// Makes the task of `bot` run a cycle for every kind now. Returns false for a bot
    /// without a task.
    pub fn wake(&self, bot: &BotName) -> bool {
        let wakers = self.wakers.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(waker) = wakers.get(bot) else { return false };
        waker.notify_one();
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

/// The loop of one bot: a cycle, then wait for the next due kind, a wake-up or shutdown.
async fn run_bot(monitor: Monitor, bot: BotName, waker: Arc<Notify>, cancel: CancellationToken) {
    let config = monitor.config().clone();
    let mut next_due: BTreeMap<Kind, Instant> =
        Kind::ALL.into_iter().map(|kind| (kind, Instant::now())).collect();
    let mut failures: u32 = 0;
    info!("bot mounted");

    loop {
        let now = Instant::now();
        let due: Vec<Kind> =
            next_due.iter().filter(|(_, at)| **at <= now).map(|(kind, _)| *kind).collect();
        let options = CycleOptions { kinds: Some(due.clone()), allow_mass_deletion: false };
        let bot_state = monitor.bot_state(&bot);

        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            result = async {
                let mut bot_state = bot_state.lock().await;
                monitor.run_cycle(&bot, &mut bot_state, options).await
            } => result,
        };

        let wait = match result {
            Ok(_) => {
                if failures > 0 {
                    info!(failures, "bot recovered");
                }
                failures = 0;
                for kind in due {
                    next_due.insert(kind, now + config.jittered(config.interval_of(kind)));
                }
                next_due
                    .values()
                    .min()
                    .map_or(config.interval, |at| at.duration_since(Instant::now()))
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                // Warn on the first failure and then at powers of two, so an outage of
                // hours logs a handful of lines rather than thousands.
                if failures.is_power_of_two() {
                    let message = error_chain(&err);
                    if err.is_retryable() {
                        warn!(failures, error = %message, "cycle failed, backing off");
                    } else {
                        error!(failures, error = %message, "cycle failed, check the configuration");
                    }
                }
                config.jittered(config.cycle_retry.delay(failures))
            }
        };

        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            () = waker.notified() => {
                let now = Instant::now();
                next_due.values_mut().for_each(|at| *at = now);
            }
        }
    }
    info!("bot unmounted");
}
