//! What a bot looks like from outside: files tracked per kind and status, failing changes
//! with their errors, recent cycles, and its knowledge (documents, chunks, vectors per model,
//! search mode, indexing and re-embedding progress). Shared by the `status` command and the
//! status API.

use std::collections::BTreeMap;

use serde::Serialize;

use drive_core::{
    BotName, CycleProgress, CycleRecord, FileStateStore, FileStatus, Kind, Monitor, PersistError,
};
use drive_handlers::KnowledgeHandler;
use drive_handlers::knowledge::KnowledgeStatus;

/// The status of one bot.
#[derive(Debug, Serialize)]
pub struct BotStatus {
    pub bot: BotName,
    pub tracked: usize,
    pub files: BTreeMap<Kind, KindCounts>,
    pub failing: Vec<Failing>,
    /// The last cycles this process ran, oldest first (empty in one-shot commands).
    pub recent_cycles: Vec<CycleRecord>,
    /// How far the running cycle has come, while one runs.
    pub progress: Option<CycleProgress>,
    pub knowledge: KnowledgeStatus,
}

/// Files of one kind by status.
#[derive(Debug, Default, Serialize)]
pub struct KindCounts {
    pub total: usize,
    pub live: usize,
    pub unhandled: usize,
    pub retrying: usize,
    pub invalid: usize,
}

/// A change that is not live, with why.
#[derive(Debug, Serialize)]
pub struct Failing {
    pub key: String,
    pub kind: Kind,
    pub status: &'static str,
    pub attempts: u32,
    pub error: String,
}

/// Returns the status of `bot` from its stored state and the monitor's memory.
///
/// # Errors
/// When the state cannot be read.
pub async fn bot_status(
    state: &dyn FileStateStore,
    monitor: &Monitor,
    knowledge: &KnowledgeHandler,
    bot: &BotName,
) -> Result<BotStatus, PersistError> {
    let records = state.load(bot).await?;
    let mut files: BTreeMap<Kind, KindCounts> = BTreeMap::new();
    let mut failing = Vec::new();
    for record in &records {
        let counts = files.entry(record.kind).or_default();
        counts.total += 1;
        match &record.status {
            FileStatus::Live => counts.live += 1,
            FileStatus::Unhandled => counts.unhandled += 1,
            FileStatus::Retrying { .. } => counts.retrying += 1,
            FileStatus::Invalid { .. } => counts.invalid += 1,
        }
        if let Some(error) = record.status.error() {
            let attempts = match record.status {
                FileStatus::Retrying { attempts, .. } => attempts,
                _ => 0,
            };
            failing.push(Failing {
                key: record.key().to_string(),
                kind: record.kind,
                status: record.status.name(),
                attempts,
                error: error.to_owned(),
            });
        }
    }
    failing.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(BotStatus {
        bot: bot.clone(),
        tracked: records.len(),
        files,
        failing,
        recent_cycles: monitor.recent_cycles(bot),
        progress: monitor.progress(bot),
        knowledge: knowledge.status(bot).await?,
    })
}
