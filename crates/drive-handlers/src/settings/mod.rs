//! The settings handler: makes a bot's `*.gbot/config.csv` live through a [`ConfigSink`].
//!
//! A valid file replaces, in one call to the sink, every setting that file provided; an
//! invalid one leaves the sink untouched, so the last good settings stay live, and comes back
//! as [`Outcome::Invalid`] with the reasons; a removed file takes its settings with it.
//! Setting names are logged, values never, since they hold passwords and keys.
//!
//! Every change is announced on an [`EventBus`]: changed theme settings
//! ([`drive_core::THEME_SETTINGS`]) as a `theme.changed` carrying the theme settings whole,
//! with their values (read back through [`drive_core::theme_settings`], which lets no
//! secret-looking name through); every other changed name in a `settings.changed`, names
//! only. Values of other settings never leave through an event.
//!
//! The reader lives in [`reader`] (rules) and [`rows`] (splitting into rows). This module
//! does not decide what a setting means; subscribers of the sink and of the bus do.
//!
//! Known limits: when reading the theme settings back fails right after a successful write,
//! the `theme.changed` is not sent (the write is not repeated, so a retry would find nothing
//! changed); it is logged, and live clients keep the previous theme settings until the next
//! theme change or until they reconnect after every client of the bot has left.

mod reader;
mod rows;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod reader_tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drive_core::{
    BotEvent, BotName, ChangeHandler, ChangeInput, ConfigSink, EventBus, Kind, NoEventBus,
    ObjectKey, Outcome, is_theme_setting, theme_settings,
};
use tracing::{Instrument, debug, info, info_span, warn};

pub use reader::{ConfigFile, InvalidConfig, read_config};

use crate::offload::parse_off_runtime;
use crate::outcome::{content_missing, parse_interrupted, sink_failed};

/// Applies changes of [`Kind::Settings`] objects.
///
/// Idempotent: applying the same file twice leaves the same settings and reports no change
/// the second time, provided the sink compares values as [`ConfigSink`] requires. It keeps
/// [`ChangeHandler::stored_hashes`]'s default (no hash held): after a lost file state the
/// files are read and applied again, a cheap transaction that changes nothing.
pub struct SettingsHandler {
    sink: Arc<dyn ConfigSink>,
    events: Arc<dyn EventBus>,
}

impl SettingsHandler {
    /// Returns a handler that writes to `sink` and announces nothing.
    pub fn new(sink: Arc<dyn ConfigSink>) -> Self {
        Self { sink, events: Arc::new(NoEventBus) }
    }

    /// Returns this handler announcing every change on `events`.
    pub fn with_events(mut self, events: Arc<dyn EventBus>) -> Self {
        self.events = events;
        self
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
                    self.announce(bot, &changed).await;
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
                self.announce(bot, &removed).await;
                Outcome::applied()
            }
            Err(err) => sink_failed(&err),
        }
    }

    /// Tells live clients about `changed` names: theme settings with their current values,
    /// the others by name only.
    async fn announce(&self, bot: &BotName, changed: &[String]) {
        let (theme, other): (Vec<&String>, Vec<&String>) =
            changed.iter().partition(|name| is_theme_setting(name));
        if !other.is_empty() {
            let keys = other.into_iter().cloned().collect();
            self.events.publish(bot, BotEvent::SettingsChanged { keys });
        }
        if theme.is_empty() {
            return;
        }
        match self.sink.settings(bot).await {
            Ok(all) => {
                let event =
                    BotEvent::ThemeChanged { files: Vec::new(), settings: theme_settings(&all) };
                self.events.publish(bot, event);
            }
            Err(err) => warn!(
                error = &err as &(dyn std::error::Error + 'static),
                "theme settings changed but could not be read back; live clients keep the old ones"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use drive_core::testing::MemorySinkForTests;
    use drive_core::{Change, Content, ObjectMeta, Setting};

    use super::*;
    use crate::theme::tests::RecordingBusForTests;

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn written(key: &str, content: &[u8]) -> ChangeInput {
        let new = ObjectMeta::new(key, content.len() as u64);
        let change = Change::Added { kind: Kind::Settings, new };
        ChangeInput { change, content: Some(Content::new(content.to_vec())) }
    }

    fn removed(key: &str) -> ChangeInput {
        let old = ObjectMeta::new(key, 1);
        ChangeInput { change: Change::Removed { kind: Kind::Settings, old }, content: None }
    }

    fn handler() -> (SettingsHandler, Arc<MemorySinkForTests>) {
        let sink = Arc::new(MemorySinkForTests::new());
        (SettingsHandler::new(sink.clone()), sink)
    }

    async fn settings(sink: &MemorySinkForTests) -> Vec<(String, String)> {
        let settings = sink.settings(&bot()).await.unwrap();
        settings.into_iter().map(|Setting { name, value }| (name, value)).collect()
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    #[tokio::test]
    async fn valid_file_makes_its_settings_live() {
        let (handler, sink) = handler();
        let input = written("crm.gbot/config.csv", b"name,value\r\nbot-name,CRM\r\ncolor,red\r\n");

        let outcomes = handler.apply(&bot(), &[input]).await;

        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(settings(&sink).await, pairs(&[("bot-name", "CRM"), ("color", "red")]));
    }

    #[tokio::test]
    async fn invalid_file_keeps_the_previous_settings() {
        let (handler, sink) = handler();
        handler.apply(&bot(), &[written("crm.gbot/config.csv", b"color,red\n")]).await;

        let broken = written("crm.gbot/config.csv", b"color,blue\nwelcome,\"Hi\n");
        let outcomes = handler.apply(&bot(), &[broken]).await;

        let [Outcome::Invalid { diagnostics }] = outcomes.as_slice() else {
            panic!("expected one invalid outcome, got {outcomes:?}");
        };
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (2, 9));
        assert_eq!(settings(&sink).await, pairs(&[("color", "red")]));
    }

    #[tokio::test]
    async fn removal_removes_only_the_settings_of_its_file() {
        let (handler, sink) = handler();
        let first = written("crm.gbot/config.csv", b"color,red\n");
        let second = written("extra.gbot/config.csv", b"size,2\n");
        handler.apply(&bot(), &[first, second]).await;

        let outcomes = handler.apply(&bot(), &[removed("crm.gbot/config.csv")]).await;

        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(settings(&sink).await, pairs(&[("size", "2")]));
    }

    #[tokio::test]
    async fn sink_failure_is_retried_and_a_later_attempt_applies() {
        let (handler, sink) = handler();
        let input = written("crm.gbot/config.csv", b"color,red\n");
        sink.fail_next_writes(1);

        let outcomes = handler.apply(&bot(), std::slice::from_ref(&input)).await;
        let retry =
            Outcome::Retry { error: "database unavailable: write refused by the fake".into() };
        assert_eq!(outcomes, [retry]);
        assert_eq!(settings(&sink).await, []);

        let outcomes = handler.apply(&bot(), &[input]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(settings(&sink).await, pairs(&[("color", "red")]));
    }

    #[tokio::test]
    async fn outcomes_align_with_inputs_in_a_mixed_batch() {
        let (handler, sink) = handler();
        handler.apply(&bot(), &[written("old.gbot/config.csv", b"old,1\n")]).await;
        sink.fail_next_writes(1);
        let mut without_content = written("d.gbot/config.csv", b"d,1\n");
        without_content.content = None;
        let batch = [
            written("a.gbot/config.csv", b"\x00\x01binary"),
            written("b.gbot/config.csv", b"b,1\n"),
            written("c.gbot/config.csv", b"c,1\nc,2\n"),
            removed("old.gbot/config.csv"),
            without_content,
        ];

        let outcomes = handler.apply(&bot(), &batch).await;

        let shapes: Vec<String> = outcomes.iter().map(shape).collect();
        assert_eq!(shapes, ["invalid 1", "retry", "applied 1", "applied 0", "retry"]);
        assert_eq!(settings(&sink).await, pairs(&[("c", "2")]));
    }

    #[tokio::test]
    async fn warnings_come_back_with_an_applied_file() {
        let (handler, _sink) = handler();
        let input = written("crm.gbot/config.csv", b"color,red\nstray\n");

        let outcomes = handler.apply(&bot(), &[input]).await;

        let [Outcome::Applied { warnings }] = outcomes.as_slice() else {
            panic!("expected one applied outcome, got {outcomes:?}");
        };
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 2);
    }

    #[tokio::test]
    async fn large_file_applies_like_a_small_one() {
        let (handler, sink) = handler();
        let rows: String = (0..5_000).map(|row| format!("setting-{row},value {row}\n")).collect();

        let outcomes =
            handler.apply(&bot(), &[written("crm.gbot/config.csv", rows.as_bytes())]).await;

        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(settings(&sink).await.len(), 5_000);
    }

    #[tokio::test]
    async fn changes_are_announced_theme_values_whole_and_other_names_only() {
        let sink = Arc::new(MemorySinkForTests::new());
        let bus = Arc::new(RecordingBusForTests::default());
        let handler = SettingsHandler::new(sink.clone()).with_events(bus.clone());
        let other = written("crm.gbot/config.csv", b"theme-color2,#222\n");
        handler.apply(&bot(), &[other]).await;
        bus.take();

        let file = b"theme-color1,#111\ntheme-title,Shop\nllm-key,sk-live-123\n\
                     smtp-password,hunter2\nmax-history,5\n";
        let outcomes = handler.apply(&bot(), &[written("extra.gbot/config.csv", file)]).await;

        assert_eq!(outcomes, [Outcome::applied()]);
        let events: Vec<BotEvent> = bus.take().into_iter().map(|(_, event)| event).collect();
        let keys = ["llm-key", "max-history", "smtp-password"].map(String::from).to_vec();
        let theme = [("theme-color1", "#111"), ("theme-color2", "#222"), ("theme-title", "Shop")];
        let settings = theme.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(
            events,
            [
                BotEvent::SettingsChanged { keys },
                BotEvent::ThemeChanged { files: Vec::new(), settings },
            ]
        );
        let shown = format!("{events:?}");
        assert!(!shown.contains("sk-live") && !shown.contains("hunter2"), "{shown}");
    }

    #[tokio::test]
    async fn nothing_is_announced_when_nothing_changed_or_the_file_is_invalid() {
        let sink = Arc::new(MemorySinkForTests::new());
        let bus = Arc::new(RecordingBusForTests::default());
        let handler = SettingsHandler::new(sink.clone()).with_events(bus.clone());
        let input = written("crm.gbot/config.csv", b"theme-color1,#111\n");
        handler.apply(&bot(), std::slice::from_ref(&input)).await;
        bus.take();

        handler.apply(&bot(), &[input]).await;
        handler.apply(&bot(), &[written("crm.gbot/config.csv", b"theme-color1,\"#2\n")]).await;

        assert_eq!(bus.take(), []);
    }

    #[tokio::test]
    async fn removing_a_file_announces_its_theme_settings_gone() {
        let sink = Arc::new(MemorySinkForTests::new());
        let bus = Arc::new(RecordingBusForTests::default());
        let handler = SettingsHandler::new(sink.clone()).with_events(bus.clone());
        let input = written("crm.gbot/config.csv", b"theme-logo,https://x/logo.svg\n");
        handler.apply(&bot(), &[input]).await;
        bus.take();

        handler.apply(&bot(), &[removed("crm.gbot/config.csv")]).await;

        let events: Vec<BotEvent> = bus.take().into_iter().map(|(_, event)| event).collect();
        let cleared = BotEvent::ThemeChanged { files: Vec::new(), settings: Default::default() };
        assert_eq!(events, [cleared]);
    }

    #[test]
    fn handler_takes_settings_changes() {
        let (handler, _sink) = handler();
        assert_eq!(handler.kind(), Kind::Settings);
    }

    fn shape(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Applied { warnings } => format!("applied {}", warnings.len()),
            Outcome::Invalid { diagnostics } => format!("invalid {}", diagnostics.len()),
            Outcome::Retry { .. } => "retry".to_owned(),
        }
    }
}
