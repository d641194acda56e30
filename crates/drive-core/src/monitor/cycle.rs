//! One cycle of one bot: list, diff, read, hand over, record.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use futures::StreamExt as _;
use tracing::{Instrument as _, debug, debug_span, info, info_span, warn};

use super::{BotReport, ChangeError, CycleError, Monitor};
use crate::diff::{Diff, DiffContext, RunningDiff, diff};
use crate::{
    BotName, Change, ChangeInput, Content, Diagnostic, FileRecord, FileStatus, Kind, KnownObjects,
    ObjectKey, ObjectMeta, Outcome, Severity, StateUpdate, StoreError,
};

/// What the monitor holds in memory for one bot between cycles.
#[derive(Debug, Default)]
pub(crate) struct BotState {
    /// Known records, loaded from the state store on the first cycle.
    records: Option<KnownObjects>,
}

impl BotState {
    /// Returns the earliest retry time among failed changes, if any.
    pub(crate) fn earliest_retry(&self) -> Option<crate::Timestamp> {
        self.records.as_ref()?.iter().filter_map(|record| record.next_retry()).min()
    }
}

/// Most changes handed to one handler call, so that long first runs report progress and a
/// timeout cuts off a bounded amount of work.
const BATCH_CHANGES: usize = 256;

/// Changes of one cycle at which progress is worth logging.
const PROGRESS_LOG_THRESHOLD: usize = 1000;

/// Reports how far a cycle with many changes has come, in the log (every tenth) and in
/// [`Monitor::progress`]; cleared when dropped.
pub(crate) struct Progress<'a> {
    monitor: &'a Monitor,
    bot: &'a BotName,
    total: usize,
    logged_tenths: std::sync::atomic::AtomicUsize,
}

impl<'a> Progress<'a> {
    fn start(monitor: &'a Monitor, bot: &'a BotName, total: usize) -> Self {
        let logged_tenths = std::sync::atomic::AtomicUsize::new(0);
        let progress = Self { monitor, bot, total, logged_tenths };
        progress.advance(0);
        progress
    }

    fn advance(&self, done: usize) {
        self.monitor.set_progress(self.bot, Some(super::CycleProgress { done, total: self.total }));
        if self.total < PROGRESS_LOG_THRESHOLD {
            return;
        }
        let tenths = done * 10 / self.total.max(1);
        let logged = self.logged_tenths.fetch_max(tenths, std::sync::atomic::Ordering::Relaxed);
        if tenths > logged {
            info!(done, total = self.total, "cycle progress");
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.monitor.set_progress(self.bot, None);
    }
}

/// What a cycle is asked to do.
#[derive(Clone, Debug)]
pub(crate) struct CycleOptions {
    /// Kinds to process; `None` for all. Changes of other kinds wait for a later cycle.
    pub(crate) kinds: Option<Vec<Kind>>,
    pub(crate) allow_mass_deletion: bool,
}

/// How one change ended.
enum Resolution {
    /// The handler made it live (or removed it).
    Applied {
        warnings: Vec<Diagnostic>,
    },
    /// Same content as the live version under a new ETag: recorded, not re-processed.
    SameContent,
    /// No handler for the kind: tracked as waiting.
    Unhandled,
    /// Ignored kind: tracked, never processed.
    Ignored,
    Invalid {
        error: String,
    },
    Retry {
        error: String,
    },
    /// The object vanished between listing and reading; the next listing settles it.
    Vanished,
}

impl Monitor {
    /// Runs one cycle with `bot_state` locked by the caller.
    pub(crate) async fn run_cycle(
        &self,
        bot: &BotName,
        bot_state: &mut BotState,
        options: CycleOptions,
    ) -> Result<BotReport, CycleError> {
        let span = info_span!("cycle", bot = %bot);
        async {
            let (found, held) = self
                .plan_cycle(bot, bot_state, options.kinds.as_deref(), options.allow_mass_deletion)
                .await?;
            let mut report = BotReport { bot: bot.to_string(), ..BotReport::default() };
            report.held_deletions = held;
            self.execute(bot, bot_state, found, report).await
        }
        .instrument(span)
        .await
    }

    /// Runs a cycle over `keys` only, reading their state with one stat each instead of a
    /// listing: what storage events lead to. A key that no longer exists is removed; one
    /// that never existed is nothing.
    pub(crate) async fn run_key_cycle(
        &self,
        bot: &BotName,
        bot_state: &mut BotState,
        keys: &[ObjectKey],
    ) -> Result<BotReport, CycleError> {
        let span = info_span!("cycle", bot = %bot, keys = keys.len());
        async {
            self.ensure_loaded(bot, bot_state).await?;
            let mut listing = Vec::with_capacity(keys.len());
            for key in keys {
                metrics::counter!("drive_storage_requests_total", "op" => "stat").increment(1);
                match self.inner.store.stat(bot, key).await {
                    Ok(stat) => listing.extend(stat),
                    // A key no backend call can address is left to the next full listing,
                    // which tracks it without reading it.
                    Err(err @ StoreError::UnsafeKey { .. }) => {
                        warn!(object.key = %key, error = %err, "hint for an unsafe key ignored");
                    }
                    Err(err) => return Err(CycleError::Listing(err)),
                }
            }
            let records = bot_state.records.get_or_insert_with(KnownObjects::new);
            let subset: KnownObjects = keys
                .iter()
                .filter_map(|key| Some(records.get(key.as_str())?.to_record()))
                .collect();
            let ctx = DiffContext { now: self.inner.clock.now(), handled: &self.inner.handled };
            let found = diff(&subset, &listing, ctx);
            let report = BotReport { bot: bot.to_string(), ..BotReport::default() };
            self.execute(bot, bot_state, found, report).await
        }
        .instrument(span)
        .await
    }

    /// Processes the changes of `found`, commits their outcomes and logs the summary.
    async fn execute(
        &self,
        bot: &BotName,
        bot_state: &mut BotState,
        found: Diff,
        mut report: BotReport,
    ) -> Result<BotReport, CycleError> {
        if found.changes.is_empty() {
            debug!(unchanged = found.unchanged.len(), "quiet cycle");
            return Ok(report);
        }

        let records = bot_state.records.get_or_insert_with(KnownObjects::new);
        let resolved = self.process(bot, records, found.changes).await;
        let updates = self.record_outcomes(records, &resolved, &mut report);
        self.inner.state.commit(bot, &updates).await.map_err(CycleError::CommitState)?;
        records.apply(updates);
        let failing = records.iter().filter(|r| r.status().error().is_some()).count();
        metrics::gauge!("drive_failing_changes", "bot" => bot.to_string()).set(failing as f64);

        info!(
            added = report.added,
            modified = report.modified,
            removed = report.removed,
            processed = report.processed,
            failed = report.failed,
            unhandled = report.unhandled,
            "cycle applied changes"
        );
        Ok(report)
    }

    async fn ensure_loaded(
        &self,
        bot: &BotName,
        bot_state: &mut BotState,
    ) -> Result<(), CycleError> {
        if bot_state.records.is_none() {
            let loaded = self.inner.state.load(bot).await.map_err(CycleError::LoadState)?;
            bot_state.records = Some(KnownObjects::from(loaded));
        }
        Ok(())
    }

    /// Loads the state if needed, lists the bot and returns the changes to process with
    /// the number of deletions held by the guard.
    pub(crate) async fn plan_cycle(
        &self,
        bot: &BotName,
        bot_state: &mut BotState,
        kinds: Option<&[Kind]>,
        allow_mass_deletion: bool,
    ) -> Result<(Diff, usize), CycleError> {
        self.ensure_loaded(bot, bot_state).await?;
        let records = bot_state.records.get_or_insert_with(KnownObjects::new);
        let mut found = self.list_and_diff(bot, records).await.map_err(CycleError::Listing)?;
        if let Some(kinds) = kinds {
            found.changes.retain(|change| kinds.contains(&change.kind()));
        }

        let n_removed = found.n_removed();
        let guard = self.inner.config.deletion_guard;
        let mut held = 0;
        if !allow_mass_deletion && guard.holds(n_removed, records.len()) {
            held = n_removed;
            found.changes.retain(|change| !change.is_removal());
            warn!(
                deletions = n_removed,
                tracked = records.len(),
                "deletions held: the cycle would remove too much of the bot at once"
            );
        }
        Ok((found, held))
    }

    /// Lists a bot and diffs each page against `records` as it arrives, so the listing is
    /// never held whole. Returns the diff of the complete listing, or the error that cut it
    /// short, in which case nothing of the partial diff survives.
    async fn list_and_diff(
        &self,
        bot: &BotName,
        records: &KnownObjects,
    ) -> Result<Diff, StoreError> {
        let started = std::time::Instant::now();
        metrics::counter!("drive_storage_requests_total", "op" => "list").increment(1);
        let ctx = DiffContext { now: self.inner.clock.now(), handled: &self.inner.handled };
        let mut running = RunningDiff::new(records, ctx);
        let mut lister = self.inner.store.list(bot).await?;
        let mut n_listed = 0;
        while let Some(page) = lister.next_page().await? {
            n_listed += page.len();
            running.extend(page);
        }
        metrics::histogram!("drive_listing_seconds").record(started.elapsed().as_secs_f64());
        debug!(objects = n_listed, "listed");
        Ok(running.finish())
    }

    /// Reads and hands over every change, kind by kind, and returns how each ended.
    async fn process(
        &self,
        bot: &BotName,
        records: &KnownObjects,
        changes: Vec<Change>,
    ) -> Vec<(Change, Option<ObjectMeta>, Resolution)> {
        let progress = Progress::start(self, bot, changes.len());
        let mut by_kind: BTreeMap<Kind, Vec<Change>> = BTreeMap::new();
        for change in changes {
            by_kind.entry(change.kind()).or_default().push(change);
        }

        let mut resolved = Vec::new();
        for (kind, changes) in by_kind {
            if kind == Kind::Ignored {
                resolved.extend(changes.into_iter().map(|c| (c, None, Resolution::Ignored)));
                progress.advance(resolved.len());
                continue;
            }
            let Some(handler) = self.inner.handlers.get(&kind) else {
                resolved.extend(changes.into_iter().map(|c| (c, None, Resolution::Unhandled)));
                progress.advance(resolved.len());
                continue;
            };
            let span = debug_span!("batch", kind = %kind, changes = changes.len());
            let done_before = resolved.len();
            let batch =
                self.process_kind(bot, records, handler.as_ref(), changes, &progress, done_before);
            resolved.extend(batch.instrument(span).await);
            progress.advance(resolved.len());
        }
        resolved
    }

    /// Reads the content of one kind's changes and calls its handler in batches bounded
    /// by `max_batch_bytes`.
    async fn process_kind(
        &self,
        bot: &BotName,
        records: &KnownObjects,
        handler: &dyn crate::ChangeHandler,
        changes: Vec<Change>,
        progress: &Progress<'_>,
        done_before: usize,
    ) -> Vec<(Change, Option<ObjectMeta>, Resolution)> {
        let config = &self.inner.config;
        let limit = config.size_limits.limit(handler.kind());
        let reads = futures::stream::iter(changes)
            .map(|change| {
                let span =
                    debug_span!("change", object.key = %change.key(), change.op = change.op_name());
                self.read_change(bot, records, change, limit).instrument(span)
            })
            .buffered(config.read_concurrency.max(1));
        let mut reads = std::pin::pin!(reads);

        let mut resolved = Vec::new();
        let mut batch: Vec<(ChangeInput, Option<ObjectMeta>)> = Vec::new();
        let mut batch_bytes = 0u64;
        while let Some(read) = reads.next().await {
            match read {
                Ok((input, meta)) => {
                    batch_bytes += input.content.as_ref().map_or(0, |c| c.bytes.len() as u64);
                    batch.push((input, meta));
                    if batch_bytes >= config.max_batch_bytes || batch.len() >= BATCH_CHANGES {
                        let full = std::mem::take(&mut batch);
                        resolved.extend(self.hand_over(bot, records, handler, full).await);
                        batch_bytes = 0;
                        progress.advance(done_before + resolved.len());
                    }
                }
                Err(done) => resolved.push(done),
            }
        }
        if !batch.is_empty() {
            resolved.extend(self.hand_over(bot, records, handler, batch).await);
        }
        resolved
    }

    /// Hands `batch` to the handler, except the objects of which no record exists whose
    /// result the handler already holds for the same content hash
    /// ([`crate::ChangeHandler::stored_hashes`]): those are resolved as same content,
    /// without a call, so that a lost file state is rebuilt without re-running handlers.
    async fn hand_over(
        &self,
        bot: &BotName,
        records: &KnownObjects,
        handler: &dyn crate::ChangeHandler,
        batch: Vec<(ChangeInput, Option<ObjectMeta>)>,
    ) -> Vec<(Change, Option<ObjectMeta>, Resolution)> {
        let unknown: Vec<ObjectKey> = batch
            .iter()
            .map(|(input, _)| &input.change)
            .filter(|change| matches!(change, Change::Added { .. }))
            .filter(|change| !records.contains(change.key().as_str()))
            .map(|change| change.key().clone())
            .collect();
        if unknown.is_empty() {
            return self.call_handler(bot, handler, batch).await;
        }

        let hashes = handler.stored_hashes(bot, &unknown).await;
        let stored: HashMap<ObjectKey, crate::ContentHash> =
            unknown.into_iter().zip(hashes).filter_map(|(key, hash)| Some((key, hash?))).collect();
        let (held, to_apply): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(input, _)| {
            let content_hash = input.content.as_ref().map(|content| content.hash);
            content_hash.is_some() && stored.get(input.change.key()) == content_hash.as_ref()
        });
        if !held.is_empty() {
            debug!(objects = held.len(), "results already held by the handler, not applied again");
        }

        let mut resolved: Vec<_> = held
            .into_iter()
            .map(|(input, meta)| (input.change, meta, Resolution::SameContent))
            .collect();
        if !to_apply.is_empty() {
            resolved.extend(self.call_handler(bot, handler, to_apply).await);
        }
        resolved
    }

    /// Reads the content of a change. Returns the input for the handler with the metadata
    /// to record (content hash filled in), or the change already resolved without one.
    async fn read_change(
        &self,
        bot: &BotName,
        records: &KnownObjects,
        change: Change,
        limit: u64,
    ) -> Result<(ChangeInput, Option<ObjectMeta>), (Change, Option<ObjectMeta>, Resolution)> {
        let Some(new) = change.new_meta() else {
            return Ok((ChangeInput { change, content: None }, None));
        };
        if new.size > limit {
            let error = format!("file is {} bytes, over the limit of {limit} bytes", new.size);
            return Err((change, None, Resolution::Invalid { error }));
        }
        metrics::counter!("drive_storage_requests_total", "op" => "read").increment(1);
        let bytes = match self.inner.store.read(bot, &new.key, limit).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound) => return Err((change, None, Resolution::Vanished)),
            Err(StoreError::TooLarge { size, limit }) => {
                let error = format!("file is {size} bytes, over the limit of {limit} bytes");
                return Err((change, None, Resolution::Invalid { error }));
            }
            Err(err @ StoreError::UnsafeKey { .. }) => {
                let error = err.to_string();
                return Err((change, None, Resolution::Invalid { error }));
            }
            Err(err) => {
                let error = format!("reading failed: {}", error_chain(&err));
                return Err((change, None, Resolution::Retry { error }));
            }
        };

        let content = Content::new(bytes);
        let mut meta = new.clone();
        meta.content_hash = Some(content.hash);
        let live_hash = records.get(meta.key.as_str()).and_then(|r| r.live_content_hash());
        if live_hash == Some(content.hash) {
            return Err((change, Some(meta), Resolution::SameContent));
        }
        Ok((ChangeInput { change, content: Some(content) }, Some(meta)))
    }

    /// Calls the handler once for `batch`, cut off after the configured timeout.
    async fn call_handler(
        &self,
        bot: &BotName,
        handler: &dyn crate::ChangeHandler,
        batch: Vec<(ChangeInput, Option<ObjectMeta>)>,
    ) -> Vec<(Change, Option<ObjectMeta>, Resolution)> {
        let (inputs, metas): (Vec<ChangeInput>, Vec<Option<ObjectMeta>>) =
            batch.into_iter().unzip();
        // The timeout starts once the batch may run, not while it waits for its turn.
        let _permit = match &self.inner.batch_permits {
            Some(permits) => permits.acquire().await.ok(),
            None => None,
        };
        let timeout = self.inner.config.handler_timeout;
        let started = std::time::Instant::now();
        let applied = tokio::time::timeout(timeout, handler.apply(bot, &inputs)).await;
        metrics::histogram!("drive_handler_seconds", "kind" => handler.kind().as_str())
            .record(started.elapsed().as_secs_f64());
        let outcomes = match applied {
            Ok(outcomes) => outcomes,
            Err(_) => {
                let error = format!("handler timed out after {} s", timeout.as_secs_f64());
                vec![Outcome::Retry { error }; inputs.len()]
            }
        };

        let mut outcomes = outcomes.into_iter();
        inputs
            .into_iter()
            .zip(metas)
            .map(|(input, meta)| {
                let resolution = match outcomes.next() {
                    Some(Outcome::Applied { warnings }) => Resolution::Applied { warnings },
                    Some(Outcome::Invalid { diagnostics }) => {
                        Resolution::Invalid { error: summarise(&diagnostics) }
                    }
                    Some(Outcome::Retry { error }) => Resolution::Retry { error },
                    None => Resolution::Retry { error: "handler returned no outcome".into() },
                };
                (input.change, meta, resolution)
            })
            .collect()
    }

    /// Turns resolutions into state updates and counts them in `report`.
    fn record_outcomes(
        &self,
        records: &KnownObjects,
        resolved: &[(Change, Option<ObjectMeta>, Resolution)],
        report: &mut BotReport,
    ) -> Vec<StateUpdate> {
        let now = self.inner.clock.now();
        let mut updates = Vec::with_capacity(resolved.len());
        for (change, read_meta, resolution) in resolved {
            match change {
                Change::Added { .. } => report.added += 1,
                Change::Modified { .. } => report.modified += 1,
                Change::Removed { .. } => report.removed += 1,
            }
            let key = change.key();
            let outcome = match resolution {
                Resolution::Applied { .. } => "applied",
                Resolution::SameContent => "same_content",
                Resolution::Unhandled => "unhandled",
                Resolution::Ignored => "ignored",
                Resolution::Invalid { .. } => "invalid",
                Resolution::Retry { .. } => "retry",
                Resolution::Vanished => "vanished",
            };
            metrics::counter!(
                "drive_changes_total",
                "kind" => change.kind().as_str(),
                "outcome" => outcome
            )
            .increment(1);
            let previous = records.get(key.as_str()).map(|record| record.to_record());
            let current = read_meta.clone().or_else(|| change.new_meta().cloned());
            let live = previous.as_ref().and_then(|r| r.live.clone());
            let kind = change.kind();

            let update = match resolution {
                Resolution::Vanished => continue,
                Resolution::Applied { warnings } => {
                    report.processed += 1;
                    for warning in warnings {
                        warn!(object.key = %key, warning = %warning, "applied with a warning");
                    }
                    match current {
                        Some(current) => StateUpdate::Upsert(FileRecord {
                            kind,
                            live: Some(current.clone()),
                            current,
                            status: FileStatus::Live,
                        }),
                        None => StateUpdate::Remove(key.clone()),
                    }
                }
                Resolution::SameContent | Resolution::Ignored | Resolution::Unhandled => {
                    match resolution {
                        Resolution::SameContent => report.same_content += 1,
                        Resolution::Ignored => report.ignored += 1,
                        _ => report.unhandled += 1,
                    }
                    match current {
                        Some(current) => {
                            let (status, live) = match resolution {
                                Resolution::Unhandled => (FileStatus::Unhandled, live),
                                _ => (FileStatus::Live, Some(current.clone())),
                            };
                            StateUpdate::Upsert(FileRecord { kind, current, live, status })
                        }
                        None => StateUpdate::Remove(key.clone()),
                    }
                }
                Resolution::Invalid { error } => {
                    report.failed += 1;
                    report.errors.push(ChangeError {
                        key: key.to_string(),
                        error: error.clone(),
                        retrying: false,
                    });
                    warn!(object.key = %key, error = %error, "change is invalid, last good version stays live");
                    let current = current.unwrap_or_else(|| change_meta(change));
                    let status = FileStatus::Invalid { error: error.clone() };
                    StateUpdate::Upsert(FileRecord { kind, current, live, status })
                }
                Resolution::Retry { error } => {
                    report.failed += 1;
                    report.errors.push(ChangeError {
                        key: key.to_string(),
                        error: error.clone(),
                        retrying: true,
                    });
                    let current = current.unwrap_or_else(|| change_meta(change));
                    let attempts = match previous.as_ref().map(|r| (&r.status, &r.current)) {
                        Some((FileStatus::Retrying { attempts, .. }, seen))
                            if seen.same_version(&current) =>
                        {
                            attempts.saturating_add(1)
                        }
                        _ => 1,
                    };
                    let delay = self.inner.config.change_retry.delay(attempts);
                    let next_retry = now.plus(self.inner.config.jittered(delay));
                    warn!(object.key = %key, error = %error, attempts, "change failed, will retry");
                    let status =
                        FileStatus::Retrying { attempts, error: error.clone(), next_retry };
                    StateUpdate::Upsert(FileRecord { kind, current, live, status })
                }
            };
            updates.push(update);
        }
        updates
    }
}

/// Returns the metadata a change is about: the new version, or the removed one.
fn change_meta(change: &Change) -> ObjectMeta {
    match change {
        Change::Added { new, .. } | Change::Modified { new, .. } => new.clone(),
        Change::Removed { old, .. } => old.clone(),
    }
}

/// Returns the errors of `diagnostics` (or all of them when none is an error) on one line
/// each, at most five, for status output.
fn summarise(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> =
        diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
    let shown: Vec<&Diagnostic> =
        if errors.is_empty() { diagnostics.iter().collect() } else { errors };
    let mut text = String::new();
    for diagnostic in shown.iter().take(5) {
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = write!(text, "{diagnostic}");
    }
    if shown.len() > 5 {
        let _ = write!(text, "\n(and {} more)", shown.len() - 5);
    }
    if text.is_empty() { "invalid content".to_owned() } else { text }
}

/// Renders an error with its causes, for the state and the logs.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
