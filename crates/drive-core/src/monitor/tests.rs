//! Tests of the monitor's protocol with its ports, on in-memory fakes and mocks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::ports::MockChangeHandler;
use crate::testing::{MemoryObjectStoreForTests, MemoryStateStoreForTests};
use crate::{ChangeInput, FileStatus, ObjectKey, Outcome};

fn bot() -> BotName {
    BotName::new("crm").unwrap()
}

/// A handler that records what it was given and answers from a script of outcomes
/// (`Applied` once the script runs out).
#[derive(Debug)]
struct ScriptedHandlerForTests {
    kind: Kind,
    answers: Mutex<VecDeque<Outcome>>,
    seen: Mutex<Vec<String>>,
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl ScriptedHandlerForTests {
    fn new(kind: Kind) -> Arc<Self> {
        Self::with_delay(kind, Duration::ZERO)
    }

    fn with_delay(kind: Kind, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            kind,
            answers: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            delay,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    fn answer(&self, outcome: Outcome) {
        self.answers.lock().unwrap().push_back(outcome);
    }

    /// Returns and clears the changes seen, as `op key` lines.
    fn take_seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

#[async_trait]
impl ChangeHandler for ScriptedHandlerForTests {
    fn kind(&self) -> Kind {
        self.kind
    }

    async fn apply(&self, _bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let mut outcomes = Vec::new();
        for input in changes {
            let line = format!("{} {}", input.change.op_name(), input.change.key());
            self.seen.lock().unwrap().push(line);
            let answer = self.answers.lock().unwrap().pop_front();
            outcomes.push(answer.unwrap_or_else(Outcome::applied));
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        outcomes
    }
}

struct Fixture {
    store: Arc<MemoryObjectStoreForTests>,
    state: Arc<MemoryStateStoreForTests>,
    handler: Arc<ScriptedHandlerForTests>,
    monitor: Monitor,
}

fn fixture(config: MonitorConfig) -> Fixture {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    store.add_bot(&bot());
    let state = Arc::new(MemoryStateStoreForTests::new());
    let handler = ScriptedHandlerForTests::new(Kind::Settings);
    let monitor = monitor_over(&store, &state, handler.clone(), config);
    Fixture { store, state, handler, monitor }
}

fn monitor_over(
    store: &Arc<MemoryObjectStoreForTests>,
    state: &Arc<MemoryStateStoreForTests>,
    handler: Arc<dyn ChangeHandler>,
    config: MonitorConfig,
) -> Monitor {
    MonitorBuilder::new(store.clone(), state.clone())
        .handler(handler)
        .config(config)
        .clock(Arc::new(TokioClock::new()))
        .build()
}

#[tokio::test]
async fn handler_is_called_once_per_change_and_never_for_unchanged_objects() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    store.put(&bot(), "crm.gbot/config.csv", "a,1");
    store.put(&bot(), "other.gbot/config.csv", "b,2");

    let mut handler = MockChangeHandler::new();
    handler.expect_kind().return_const(Kind::Settings);
    handler.expect_stored_hashes().returning(|_, keys| vec![None; keys.len()]);
    handler
        .expect_apply()
        .withf(|bot, changes| bot.as_str() == "crm" && changes.len() == 2)
        .times(1)
        .returning(|_, changes| changes.iter().map(|_| Outcome::applied()).collect());
    let monitor = monitor_over(&store, &state, Arc::new(handler), MonitorConfig::default());

    let first = monitor.sync(&bot()).await.unwrap();
    assert_eq!((first.added, first.processed, first.failed), (2, 2, 0));
    let second = monitor.sync(&bot()).await.unwrap();
    assert_eq!(second.n_changes(), 0);
}

#[tokio::test]
async fn state_survives_a_restart_so_an_unchanged_bucket_calls_no_handler() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.monitor.sync(&bot()).await.unwrap();

    let mut handler = MockChangeHandler::new();
    handler.expect_kind().return_const(Kind::Settings);
    handler.expect_apply().times(0);
    let restarted = monitor_over(&fx.store, &fx.state, Arc::new(handler), MonitorConfig::default());
    let report = restarted.sync(&bot()).await.unwrap();
    assert_eq!(report.n_changes(), 0);
}

#[tokio::test]
async fn failed_or_truncated_listing_never_deletes_state() {
    let fx = fixture(MonitorConfig::default());
    for n in 0..10 {
        fx.store.put(&bot(), &format!("crm.gbot/f{n}-prompt.md"), "x");
    }
    fx.monitor.sync(&bot()).await.unwrap();

    fx.store.fail_next_lists(1);
    assert!(matches!(fx.monitor.sync(&bot()).await, Err(CycleError::Listing(_))));
    fx.store.set_page_size(3);
    fx.store.fail_listings_after(Some(2));
    assert!(matches!(fx.monitor.sync(&bot()).await, Err(CycleError::Listing(_))));
    assert!(fx.state.record(&bot(), "crm.gbot/f9-prompt.md").is_some());

    fx.store.fail_listings_after(None);
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0);
}

#[tokio::test(start_paused = true)]
async fn transient_failure_is_retried_with_backoff_and_keeps_its_error() {
    let fx = fixture(MonitorConfig { jitter: 0.0, ..MonitorConfig::default() });
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.handler.answer(Outcome::Retry { error: "database unavailable".into() });

    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!(report.failed, 1);
    assert!(report.errors[0].retrying);
    let record = fx.state.record(&bot(), "crm.gbot/config.csv").unwrap();
    assert!(
        matches!(&record.status, FileStatus::Retrying { attempts: 1, error, .. } if error == "database unavailable")
    );
    assert_eq!(record.live, None, "nothing is live before the handler succeeded");

    // Not due yet: the default backoff starts at 5 s.
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0);
    fx.handler.answer(Outcome::Retry { error: "still down".into() });
    tokio::time::advance(Duration::from_secs(5)).await;
    fx.monitor.sync(&bot()).await.unwrap();
    let record = fx.state.record(&bot(), "crm.gbot/config.csv").unwrap();
    assert!(matches!(record.status, FileStatus::Retrying { attempts: 2, .. }));

    // The second delay is twice the first.
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().processed, 1);
    let record = fx.state.record(&bot(), "crm.gbot/config.csv").unwrap();
    assert_eq!(record.status, FileStatus::Live);
    assert_eq!(fx.handler.take_seen().len(), 3);
}

#[tokio::test]
async fn invalid_content_is_not_retried_until_the_object_changes() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.monitor.sync(&bot()).await.unwrap();
    fx.store.put(&bot(), "crm.gbot/config.csv", "\0\0junk");
    fx.handler.answer(Outcome::Invalid {
        diagnostics: vec![crate::Diagnostic::error(1, "binary content")],
    });

    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!(report.errors[0].error, "line 1: error: binary content");
    assert!(!report.errors[0].retrying);
    let record = fx.state.record(&bot(), "crm.gbot/config.csv").unwrap();
    assert_eq!(record.live.as_ref().unwrap().size, 3, "the last good version stays live");
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0);

    fx.store.put(&bot(), "crm.gbot/config.csv", "a,2");
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().processed, 1);
    assert_eq!(
        fx.handler.take_seen(),
        [
            "added crm.gbot/config.csv",
            "modified crm.gbot/config.csv",
            "modified crm.gbot/config.csv"
        ]
    );
}

#[tokio::test]
async fn new_etag_with_same_content_is_recorded_without_the_handler() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.monitor.sync(&bot()).await.unwrap();
    fx.handler.take_seen();

    fx.store.retag(&bot(), "crm.gbot/config.csv");
    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!((report.modified, report.same_content, report.processed), (1, 1, 0));
    assert!(fx.handler.take_seen().is_empty());
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0, "new etag recorded");
}

#[tokio::test]
async fn one_failing_change_does_not_stop_the_others() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "a.gbot/config.csv", "a,1");
    fx.store.put(&bot(), "b.gbot/config.csv", "b,1");
    fx.handler.answer(Outcome::Retry { error: "boom".into() });

    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!((report.processed, report.failed), (1, 1));
    assert_eq!(fx.state.record(&bot(), "b.gbot/config.csv").unwrap().status, FileStatus::Live);
}

#[tokio::test]
async fn mass_deletion_is_held_until_allowed() {
    let fx = fixture(MonitorConfig::default());
    for n in 0..10 {
        fx.store.put(&bot(), &format!("crm.gbot/p{n}-prompt.md"), "x");
    }
    fx.monitor.sync(&bot()).await.unwrap();
    for n in 0..8 {
        fx.store.delete(&bot(), &format!("crm.gbot/p{n}-prompt.md"));
    }

    let held = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!((held.removed, held.held_deletions), (0, 8));
    assert!(fx.state.record(&bot(), "crm.gbot/p0-prompt.md").is_some());

    let allowed = fx.monitor.sync_with(&bot(), true).await.unwrap();
    assert_eq!(allowed.removed, 8);
    assert!(fx.state.record(&bot(), "crm.gbot/p0-prompt.md").is_none());
}

#[tokio::test]
async fn failed_state_commit_acknowledges_nothing() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.state.fail_next_commits(1);

    assert!(matches!(fx.monitor.sync(&bot()).await, Err(CycleError::CommitState(_))));
    assert!(fx.state.record(&bot(), "crm.gbot/config.csv").is_none());
    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!(report.processed, 1, "the change is applied again, handlers being idempotent");
}

#[tokio::test]
async fn kinds_without_a_handler_are_tracked_and_reported_as_unhandled() {
    let fx = fixture(MonitorConfig::default());
    fx.store.put(&bot(), "crm.gbdialog/start.bas", "TALK \"hi\"");
    fx.store.put(&bot(), "crm.gbdata/table.csv", "x");

    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!((report.unhandled, report.ignored, report.processed), (1, 1, 0));
    let record = fx.state.record(&bot(), "crm.gbdialog/start.bas").unwrap();
    assert_eq!(record.status, FileStatus::Unhandled);
    assert_eq!(fx.monitor.sync(&bot()).await.unwrap().n_changes(), 0);
    assert_eq!(fx.store.reads(), 0, "objects without a handler are never read");
}

#[tokio::test]
async fn oversized_object_is_refused_without_being_read() {
    let mut config = MonitorConfig::default();
    config.size_limits.settings = 4;
    let fx = fixture(config);
    fx.store.put(&bot(), "crm.gbot/config.csv", "name,value");

    let report = fx.monitor.sync(&bot()).await.unwrap();
    assert_eq!(report.errors[0].error, "file is 10 bytes, over the limit of 4 bytes");
    assert_eq!(fx.store.reads(), 0);
}

#[tokio::test(start_paused = true)]
async fn hanging_handler_is_cut_off_and_retried_later() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    store.put(&bot(), "crm.gbot/config.csv", "a,1");
    let handler = ScriptedHandlerForTests::with_delay(Kind::Settings, Duration::from_secs(3600));
    let config = MonitorConfig { handler_timeout: Duration::from_secs(10), ..Default::default() };
    let monitor = monitor_over(&store, &state, handler, config);

    let report = monitor.sync(&bot()).await.unwrap();
    assert_eq!(report.errors[0].error, "handler timed out after 10 s");
    assert!(report.errors[0].retrying);
}

#[tokio::test(start_paused = true)]
async fn bot_task_polls_each_kind_on_its_own_interval() {
    let mut config = MonitorConfig { jitter: 0.0, ..MonitorConfig::default() };
    config.interval = Duration::from_secs(300);
    config.kind_intervals.insert(Kind::Settings, Duration::from_secs(10));
    let fx = fixture(config);
    let prompts = ScriptedHandlerForTests::new(Kind::Prompt);
    let monitor = MonitorBuilder::new(fx.store.clone(), fx.state.clone())
        .handler(fx.handler.clone())
        .handler(prompts.clone())
        .config(fx.monitor.config().clone())
        .clock(Arc::new(TokioClock::new()))
        .build();
    let handle = monitor.start([bot()]);
    tokio::time::sleep(Duration::from_millis(10)).await;

    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.store.put(&bot(), "crm.gbot/prompt.md", "be nice");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);
    assert!(prompts.take_seen().is_empty(), "prompts wait for their own interval");

    tokio::time::sleep(Duration::from_secs(290)).await;
    assert_eq!(prompts.take_seen(), ["added crm.gbot/prompt.md"]);

    assert!(handle.wake(&bot()));
    fx.store.put(&bot(), "crm.gbot/prompt.md", "be kind");
    handle.wake(&bot());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(prompts.take_seen(), ["modified crm.gbot/prompt.md"]);
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn bot_task_backs_off_while_storage_fails_and_recovers_alone() {
    let fx = fixture(MonitorConfig { jitter: 0.0, ..MonitorConfig::default() });
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.store.fail_next_lists(4);
    let handle = fx.monitor.start([bot()]);

    // Backoff of 1, 2, 4 and 8 s after the four failures: nothing before 15 s.
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert!(fx.handler.take_seen().is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn cycles_of_one_bot_never_overlap() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    let handler = ScriptedHandlerForTests::with_delay(Kind::Settings, Duration::from_secs(1));
    let monitor = monitor_over(&store, &state, handler.clone(), MonitorConfig::default());
    let handle = monitor.start([bot()]);

    let mut syncs = tokio::task::JoinSet::new();
    for n in 0..5 {
        store.put(&bot(), &format!("c{n}.gbot/config.csv"), "a,1");
        let monitor = monitor.clone();
        syncs.spawn(async move { monitor.sync(&bot()).await.map(|r| r.processed) });
        handle.wake(&bot());
    }
    let processed: usize = syncs.join_all().await.into_iter().map(Result::unwrap).sum();
    assert!(processed <= 5);
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 1);
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_bot_in_the_middle_of_a_slow_cycle() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    store.put(&bot(), "crm.gbot/config.csv", "a,1");
    let handler = ScriptedHandlerForTests::with_delay(Kind::Settings, Duration::from_secs(60));
    let monitor = monitor_over(&store, &state, handler, MonitorConfig::default());
    let handle = monitor.start([bot()]);
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert!(handle.shutdown(Duration::from_secs(5)).await);
    assert!(state.record(&bot(), "crm.gbot/config.csv").is_none(), "nothing acknowledged");
}

#[tokio::test]
async fn state_is_loaded_once_and_committed_once_per_cycle_that_changed_something() {
    use crate::ports::MockFileStateStore;

    let store = Arc::new(MemoryObjectStoreForTests::new());
    store.put(&bot(), "crm.gbot/config.csv", "a,1");
    store.put(&bot(), "crm.gbot/prompt.md", "hi");
    let mut state = MockFileStateStore::new();
    state.expect_load().times(1).returning(|_| Ok(Vec::new()));
    state
        .expect_commit()
        .withf(|bot, updates| {
            bot.as_str() == "crm"
                && updates.len() == 2
                && updates.iter().all(|u| matches!(u, crate::StateUpdate::Upsert(r) if r.status == FileStatus::Live || r.status == FileStatus::Unhandled))
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let monitor = MonitorBuilder::new(store.clone(), Arc::new(state))
        .handler(ScriptedHandlerForTests::new(Kind::Settings))
        .build();

    assert_eq!(monitor.sync(&bot()).await.unwrap().processed, 1);
    // A quiet cycle reads nothing and writes nothing.
    assert_eq!(monitor.sync(&bot()).await.unwrap().n_changes(), 0);
    assert_eq!(store.reads(), 1);
}

/// Starts a bot task with a long poll interval, after its first cycle has run.
async fn started_with_long_poll(fx: &Fixture) -> MonitorHandle {
    let handle = fx.monitor.start([bot()]);
    tokio::time::sleep(Duration::from_millis(1)).await;
    handle
}

fn long_poll() -> MonitorConfig {
    MonitorConfig { interval: Duration::from_secs(300), jitter: 0.0, ..MonitorConfig::default() }
}

#[tokio::test(start_paused = true)]
async fn hinted_change_is_applied_after_its_quiet_period_not_the_next_poll() {
    let fx = fixture(long_poll());
    let handle = started_with_long_poll(&fx).await;

    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    assert!(handle.hint(&bot(), ObjectKey::new("crm.gbot/config.csv")));
    tokio::time::sleep(Duration::from_millis(290)).await;
    assert!(fx.handler.take_seen().is_empty(), "events settle first");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);
    assert!(!handle.hint(&BotName::new("nobody").unwrap(), ObjectKey::new("x")));
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn the_same_event_three_times_is_applied_once() {
    let fx = fixture(long_poll());
    let handle = started_with_long_poll(&fx).await;

    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    for _ in 0..3 {
        handle.hint(&bot(), ObjectKey::new("crm.gbot/config.csv"));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn a_to_b_to_a_inside_the_quiet_period_causes_no_work() {
    let fx = fixture(long_poll());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    let handle = started_with_long_poll(&fx).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);

    let key = ObjectKey::new("crm.gbot/config.csv");
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,2");
    handle.hint(&bot(), key.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    handle.hint(&bot(), key);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fx.handler.take_seen().is_empty());
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn a_key_rewritten_continuously_is_still_applied_within_the_maximum_wait() {
    let fx = fixture(long_poll());
    let handle = started_with_long_poll(&fx).await;

    for n in 0..60 {
        fx.store.put(&bot(), "crm.gbot/config.csv", format!("a,{n}"));
        handle.hint(&bot(), ObjectKey::new("crm.gbot/config.csv"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = fx.handler.take_seen();
    assert!(
        (1..=2).contains(&seen.len()),
        "applied at the maximum wait, not at every write: {seen:?}"
    );
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn an_event_for_a_deleted_object_removes_it_and_a_late_put_event_changes_nothing() {
    let fx = fixture(long_poll());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    let handle = started_with_long_poll(&fx).await;
    fx.handler.take_seen();

    // The put event arrives after the object was deleted: storage says it is gone.
    fx.store.delete(&bot(), "crm.gbot/config.csv");
    handle.hint(&bot(), ObjectKey::new("crm.gbot/config.csv"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fx.handler.take_seen(), ["removed crm.gbot/config.csv"]);
    assert!(fx.state.record(&bot(), "crm.gbot/config.csv").is_none());

    handle.hint(&bot(), ObjectKey::new("crm.gbot/config.csv"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fx.handler.take_seen().is_empty());
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn unmounted_bot_stops_polling() {
    let fx = fixture(MonitorConfig { interval: Duration::from_secs(10), ..long_poll() });
    let handle = started_with_long_poll(&fx).await;
    assert!(handle.unmount(&bot()));
    assert!(!handle.unmount(&bot()));
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(fx.handler.take_seen().is_empty());
    assert!(handle.bots().is_empty());
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn a_failed_change_is_retried_when_due_not_at_the_next_poll() {
    let fx = fixture(long_poll());
    fx.store.put(&bot(), "crm.gbot/config.csv", "a,1");
    fx.handler.answer(Outcome::Retry { error: "database unavailable".into() });
    let handle = started_with_long_poll(&fx).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);

    // The first retry is due 5 s later, long before the 300 s poll.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(fx.handler.take_seen(), ["added crm.gbot/config.csv"]);
    assert_eq!(fx.state.record(&bot(), "crm.gbot/config.csv").unwrap().status, FileStatus::Live);
    assert!(handle.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(start_paused = true)]
async fn a_long_cycle_reports_its_progress_batch_by_batch() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    for n in 0..300 {
        store.put(&bot(), &format!("c{n}.gbot/config.csv"), "a,1");
    }
    let handler = ScriptedHandlerForTests::with_delay(Kind::Settings, Duration::from_secs(1));
    let monitor = monitor_over(&store, &state, handler, MonitorConfig::default());

    let running = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.sync(&bot()).await.map(|report| report.processed) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(monitor.progress(&bot()), Some(CycleProgress { done: 0, total: 300 }));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(monitor.progress(&bot()), Some(CycleProgress { done: 256, total: 300 }));
    assert_eq!(running.await.unwrap().unwrap(), 300);
    assert_eq!(monitor.progress(&bot()), None);
}

#[tokio::test]
async fn lost_state_is_rebuilt_without_applying_what_the_handler_already_holds() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let state = Arc::new(MemoryStateStoreForTests::new());
    store.put(&bot(), "crm.gbot/a-prompt.md", "kept");
    store.put(&bot(), "crm.gbot/b-prompt.md", "also kept");
    store.put(&bot(), "crm.gbot/c-prompt.md", "edited while the state was lost");
    let held: std::collections::HashMap<&str, crate::ContentHash> = [
        ("crm.gbot/a-prompt.md", crate::ContentHash::of(b"kept")),
        ("crm.gbot/b-prompt.md", crate::ContentHash::of(b"also kept")),
        ("crm.gbot/c-prompt.md", crate::ContentHash::of(b"before the edit")),
    ]
    .into();

    let mut handler = MockChangeHandler::new();
    handler.expect_kind().return_const(Kind::Prompt);
    handler
        .expect_stored_hashes()
        .times(1)
        .returning(move |_, keys| keys.iter().map(|key| held.get(key.as_str()).copied()).collect());
    handler
        .expect_apply()
        .withf(|_, changes| {
            let keys: Vec<&str> = changes.iter().map(|c| c.change.key().as_str()).collect();
            keys == ["crm.gbot/c-prompt.md"]
        })
        .times(1)
        .returning(|_, changes| changes.iter().map(|_| Outcome::applied()).collect());
    let monitor = monitor_over(&store, &state, Arc::new(handler), MonitorConfig::default());

    let report = monitor.sync(&bot()).await.unwrap();
    assert_eq!((report.added, report.processed, report.same_content), (3, 1, 2));
    for (key, text) in [
        ("crm.gbot/a-prompt.md", "kept"),
        ("crm.gbot/b-prompt.md", "also kept"),
        ("crm.gbot/c-prompt.md", "edited while the state was lost"),
    ] {
        let record = state.record(&bot(), key).unwrap();
        assert_eq!(record.status, FileStatus::Live, "{key}");
        let live_hash = record.live.and_then(|live| live.content_hash);
        assert_eq!(live_hash, Some(crate::ContentHash::of(text.as_bytes())), "{key}");
    }
    assert_eq!(monitor.sync(&bot()).await.unwrap().n_changes(), 0);
}

#[tokio::test(start_paused = true)]
async fn handler_batches_of_all_bots_wait_for_the_shared_cap() {
    let store = Arc::new(MemoryObjectStoreForTests::new());
    let bots: Vec<BotName> = ["crm", "hr", "ops"].map(|name| BotName::new(name).unwrap()).into();
    for bot in &bots {
        store.put(bot, &format!("{}.gbkb/a.md", bot.as_str()), "doc");
    }
    let handler = ScriptedHandlerForTests::with_delay(Kind::Knowledge, Duration::from_secs(1));
    let monitor = MonitorBuilder::new(store, Arc::new(MemoryStateStoreForTests::new()))
        .handler(handler.clone())
        .batch_permits(Arc::new(tokio::sync::Semaphore::new(2)))
        .build();

    let started = tokio::time::Instant::now();
    let syncs = bots.iter().map(|bot| monitor.sync(bot));
    let reports = futures::future::join_all(syncs).await;
    assert!(reports.iter().all(|report| report.as_ref().unwrap().processed == 1));
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 2);
    // Three one-second batches, two at a time.
    assert!(started.elapsed() >= Duration::from_secs(2));
}
