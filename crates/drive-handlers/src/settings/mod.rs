//! The settings handler: makes a bot's `*.gbot/config.csv` live through a [`ConfigSink`].
//!
//! A valid file replaces, in one call to the sink, every setting that file provided; an
//! invalid one leaves the sink untouched, so the last good settings stay live, and comes back
//! as [`Outcome::Invalid`] with the reasons; a removed file takes its settings with it.
//! Setting names are logged, values never, since they hold passwords and keys.
//!
//! The reader lives in [`reader`] (rules) and [`rows`] (splitting into rows). This module
//! does not decide what a setting means; subscribers of the sink do.

mod reader;
mod rows;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod reader_tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drive_core::{BotName, ChangeHandler, ChangeInput, ConfigSink, Kind, ObjectKey, Outcome};
use tracing::{Instrument, debug, info, info_span};

pub use reader::{ConfigFile, InvalidConfig, read_config};

use crate::offload::parse_off_runtime;
use crate::outcome::{content_missing, parse_interrupted, sink_failed};

/// Applies changes of [`Kind::Settings`] objects.
///
/// Idempotent: applying the same file twice leaves the same settings and reports no change
/// the second time, provided the sink compares values as [`ConfigSink`] requires.
pub struct SettingsHandler {
    sink: Arc<dyn ConfigSink>,
}

impl SettingsHandler {
    /// Returns a handler that writes to `sink`.
    pub fn new(sink: Arc<dyn ConfigSink>) -> Self {
        Self { sink }
    }
}

impl fmt::Debug for SettingsHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsHandler").finish_non_exhaustive()
    }
}

#[async_trait]
impl ChangeHandler for SettingsHandler {
    fn kind(&self) -> Kind {
        Kind::Settings
    }

    /// Applies the changes one after another, so that two files of one bot never race.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(changes.len());
        for input in changes {
            let span = info_span!(
                "settings_change",
                bot = %bot,
                object.key = %input.change.key(),
                change.op = input.change.op_name(),
            );
            outcomes.push(self.apply_one(bot, input).instrument(span).await);
        }
        outcomes
    }
}

impl SettingsHandler {
    async fn apply_one(&self, bot: &BotName, input: &ChangeInput) -> Outcome {
        let key = input.change.key();
        if input.change.is_removal() {
            return self.remove(bot, key).await;
        }
        let Some(content) = &input.content else {
            return content_missing();
        };

        let file = match parse_off_runtime(&content.bytes, read_config).await {
            Ok(Ok(file)) => file,
            Ok(Err(invalid)) => {
                debug!(n_diagnostics = invalid.diagnostics.len(), "settings file invalid");
                return Outcome::Invalid { diagnostics: invalid.diagnostics };
            }
            Err(err) => return parse_interrupted(&err),
        };

        match self.sink.replace_settings(bot, key, &file.settings).await {
            Ok(changed) => {
                let n_warnings = file.warnings.len();
                if changed.is_empty() {
                    debug!(n_warnings, "settings applied, none changed");
                } else {
                    info!(settings.changed = ?changed, n_warnings, "settings applied");
                }
                Outcome::Applied { warnings: file.warnings }
            }
            Err(err) => sink_failed(&err),
        }
    }

    async fn remove(&self, bot: &BotName, key: &ObjectKey) -> Outcome {
        match self.sink.remove_settings(bot, key).await {
            Ok(removed) => {
                info!(settings.removed = ?removed, "settings removed");
                Outcome::applied()
            }
            Err(err) => sink_failed(&err),
        }
    }
}
