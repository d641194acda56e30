//! The theme handler: makes the files of a bot's `*.gbtheme/` folders live through a
//! [`ThemeAssetStore`] and tells the bot's live clients with one `theme.changed` per batch.
//!
//! A theme file's path is its key inside the `*.gbtheme/` folder. Content is stored as it is
//! (CSS, scripts, images, fonts: nothing is parsed), under its content hash, which the
//! server turns into a URL that may be cached for good. Every `theme.changed` carries the
//! changed files and the theme settings whole (read from the [`ConfigSink`]), so a client
//! never has to merge settings.
//!
//! # Zero-byte replacements
//!
//! Editors often save by truncating a file and then writing it, and a poll that lands in
//! between sees an empty file. Publishing it would strip every browser of the theme for a
//! moment, so a zero-byte replacement of a file whose live version has content is held: the
//! handler answers [`Outcome::Retry`] until the file has stayed empty for
//! [`ThemeHandlerConfig::empty_file_quiet`], and only then stores and publishes it. The
//! monitor's own retry machinery brings the change back, re-reading the object each time,
//! so a write that lands meanwhile simply replaces the held change and is published at
//! once. Nothing is acknowledged while held: a restart re-reads the object and starts the
//! quiet period again. New files that start empty are not held, since no live content is
//! lost. The cost is that a file emptied on purpose goes live only at the first retry after
//! the quiet period, which the monitor's retry delay and poll interval may stretch, and
//! shows meanwhile as retrying in the status output.
//!
//! Known limits: a theme settings read that fails right after the settings handler wrote
//! them is logged there and not retried (see the settings handler); files are not checked
//! for being valid CSS or images.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use drive_core::{
    BotEvent, BotName, Change, ChangeHandler, ChangeInput, ConfigSink, Content, ContentHash,
    Diagnostic, EventBus, Kind, ObjectKey, Outcome, ThemeAssetStore, ThemeFile, ThemePath,
    theme_settings,
};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span};

use crate::outcome::{content_missing, sink_failed};

/// How the theme handler paces what it publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThemeHandlerConfig {
    /// How long a zero-byte replacement of a file with content must stay empty before it is
    /// published (see the module docs).
    pub empty_file_quiet: Duration,
}

impl Default for ThemeHandlerConfig {
    fn default() -> Self {
        Self { empty_file_quiet: Duration::from_secs(2) }
    }
}

/// Applies changes of [`Kind::Theme`] objects.
///
/// Idempotent: storing the same version again changes nothing but publishes it again, which
/// clients take as a no-op.
pub struct ThemeHandler {
    assets: Arc<dyn ThemeAssetStore>,
    settings: Arc<dyn ConfigSink>,
    events: Arc<dyn EventBus>,
    config: ThemeHandlerConfig,
    /// When each zero-byte replacement now held was first seen.
    held: Mutex<HashMap<(BotName, ObjectKey), Instant>>,
}

impl ThemeHandler {
    /// Returns a handler that stores files in `assets`, reads theme settings from
    /// `settings` and publishes to `events`.
    pub fn new(
        assets: Arc<dyn ThemeAssetStore>,
        settings: Arc<dyn ConfigSink>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        let config = ThemeHandlerConfig::default();
        Self { assets, settings, events, config, held: Mutex::default() }
    }

    pub fn with_config(mut self, config: ThemeHandlerConfig) -> Self {
        self.config = config;
        self
    }
}

impl fmt::Debug for ThemeHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThemeHandler").field("config", &self.config).finish_non_exhaustive()
    }
}

#[async_trait]
impl ChangeHandler for ThemeHandler {
    fn kind(&self) -> Kind {
        Kind::Theme
    }

    /// Applies the changes one after another, in order, then publishes one `theme.changed`
    /// listing every file that went live or was removed.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        // Read first: a database that cannot answer would refuse the writes as well, and
        // every event must carry the settings whole.
        let settings = match self.settings.settings(bot).await {
            Ok(all) => theme_settings(&all),
            Err(err) => return changes.iter().map(|_| sink_failed(&err)).collect(),
        };

        let mut outcomes = Vec::with_capacity(changes.len());
        let mut files = Vec::new();
        for input in changes {
            let span = info_span!(
                "theme_change",
                bot = %bot,
                object.key = %input.change.key(),
                change.op = input.change.op_name(),
            );
            let (outcome, file) = self.apply_one(bot, input).instrument(span).await;
            outcomes.push(outcome);
            files.extend(file);
        }

        if !files.is_empty() {
            debug!(bot = %bot, theme.files = files.len(), "theme change published");
            self.events.publish(bot, BotEvent::ThemeChanged { files, settings });
        }
        outcomes
    }

    /// Returns the hash of the stored file at each key's theme path (stored with its bytes
    /// in one transaction). Two `*.gbtheme/` folders that hold the same path share one
    /// file, so the hash may be of the other folder's copy: its bytes are then the same.
    async fn stored_hashes(&self, bot: &BotName, keys: &[ObjectKey]) -> Vec<Option<ContentHash>> {
        let stored: HashMap<ThemePath, ContentHash> = match self.assets.assets(bot).await {
            Ok(assets) => assets.into_iter().map(|info| (info.path, info.hash)).collect(),
            Err(err) => {
                debug!(bot = %bot, error = %err, "stored theme files unreadable");
                HashMap::new()
            }
        };
        keys.iter()
            .map(|key| ThemePath::from_key(key).and_then(|path| stored.get(&path).copied()))
            .collect()
    }
}

impl ThemeHandler {
    /// Applies one change; returns its outcome and, when it went live, the file to publish.
    async fn apply_one(&self, bot: &BotName, input: &ChangeInput) -> (Outcome, Option<ThemeFile>) {
        let key = input.change.key();
        if input.change.is_removal() {
            self.release(bot, key);
            return match self.assets.remove_asset(bot, key).await {
                Ok(Some(path)) => {
                    info!(theme.path = %path, "theme file removed");
                    (Outcome::applied(), Some(ThemeFile::removed(&path)))
                }
                Ok(None) => (Outcome::applied(), None),
                Err(err) => (sink_failed(&err), None),
            };
        }
        let Some(content) = &input.content else {
            return (content_missing(), None);
        };
        let Some(path) = ThemePath::from_key(key) else {
            let message = "the file's path inside the theme folder has an empty, `.` or `..` \
                           segment or a control character, so no URL can name it; rename it";
            return (Outcome::Invalid { diagnostics: vec![Diagnostic::error(0, message)] }, None);
        };
        if let Some(held) = self.hold_empty_replacement(bot, &input.change, content) {
            return (held, None);
        }

        match self.assets.put_asset(bot, key, &path, &content.bytes, &content.hash).await {
            Ok(()) => {
                info!(theme.path = %path, theme.bytes = content.bytes.len(), "theme file stored");
                (Outcome::applied(), Some(ThemeFile::live(bot, &path, &content.hash)))
            }
            Err(err) => (sink_failed(&err), None),
        }
    }

    /// Returns a retry while `change` is a zero-byte replacement of a file with content
    /// that has not stayed empty for the quiet period yet; `None` when it may go live.
    fn hold_empty_replacement(
        &self,
        bot: &BotName,
        change: &Change,
        content: &Content,
    ) -> Option<Outcome> {
        let replaces_content = matches!(change, Change::Modified { old, .. } if old.size > 0);
        if !content.bytes.is_empty() || !replaces_content {
            self.release(bot, change.key());
            return None;
        }

        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|poison| poison.into_inner());
        let entry = (bot.clone(), change.key().clone());
        let first_seen = *held.entry(entry.clone()).or_insert(now);
        let quiet = self.config.empty_file_quiet;
        if now.duration_since(first_seen) >= quiet {
            held.remove(&entry);
            return None;
        }
        debug!(object.key = %change.key(), "empty replacement held");
        let error = format!(
            "the file became empty; held for {} s in case an editor is still writing it",
            quiet.as_secs_f64()
        );
        Some(Outcome::Retry { error })
    }

    /// Forgets a held zero-byte replacement of `key`, if any.
    fn release(&self, bot: &BotName, key: &ObjectKey) {
        let mut held = self.held.lock().unwrap_or_else(|poison| poison.into_inner());
        if !held.is_empty() {
            held.remove(&(bot.clone(), key.clone()));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use drive_core::ports::MockConfigSink;
    use drive_core::testing::MemorySinkForTests;
    use drive_core::theme::MemoryThemeStoreForTests;
    use drive_core::{ContentHash, ObjectMeta, Setting};

    use super::*;

    /// An event bus that keeps what was published, for assertions.
    #[derive(Debug, Default)]
    pub(crate) struct RecordingBusForTests {
        events: Mutex<Vec<(BotName, BotEvent)>>,
    }

    impl RecordingBusForTests {
        /// Returns and forgets the events published so far.
        pub(crate) fn take(&self) -> Vec<(BotName, BotEvent)> {
            std::mem::take(&mut *self.events.lock().unwrap())
        }
    }

    impl EventBus for RecordingBusForTests {
        fn publish(&self, bot: &BotName, event: BotEvent) {
            self.events.lock().unwrap().push((bot.clone(), event));
        }
    }

    struct Fixture {
        handler: ThemeHandler,
        assets: Arc<MemoryThemeStoreForTests>,
        settings: Arc<MemorySinkForTests>,
        bus: Arc<RecordingBusForTests>,
    }

    fn fixture() -> Fixture {
        let assets = Arc::new(MemoryThemeStoreForTests::new());
        let settings = Arc::new(MemorySinkForTests::new());
        let bus = Arc::new(RecordingBusForTests::default());
        let handler = ThemeHandler::new(assets.clone(), settings.clone(), bus.clone());
        Fixture { handler, assets, settings, bus }
    }

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn added(key: &str, content: &[u8]) -> ChangeInput {
        let new = ObjectMeta::new(key, content.len() as u64);
        let change = Change::Added { kind: Kind::Theme, new };
        ChangeInput { change, content: Some(Content::new(content.to_vec())) }
    }

    fn modified(key: &str, old_size: u64, content: &[u8]) -> ChangeInput {
        let old = ObjectMeta::new(key, old_size);
        let new = ObjectMeta::new(key, content.len() as u64);
        let change = Change::Modified { kind: Kind::Theme, old, new };
        ChangeInput { change, content: Some(Content::new(content.to_vec())) }
    }

    fn removed(key: &str) -> ChangeInput {
        let old = ObjectMeta::new(key, 3);
        ChangeInput { change: Change::Removed { kind: Kind::Theme, old }, content: None }
    }

    async fn stored(assets: &MemoryThemeStoreForTests, path: &str) -> Option<Vec<u8>> {
        let path = ThemePath::new(path).unwrap();
        let asset = assets.asset(&bot(), &path).await.unwrap()?;
        Some(asset.bytes.to_vec())
    }

    fn theme_event(events: &[(BotName, BotEvent)]) -> (&[ThemeFile], Vec<(&str, &str)>) {
        let [(_, BotEvent::ThemeChanged { files, settings })] = events else {
            panic!("expected one theme.changed, got {events:?}");
        };
        (files, settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
    }

    #[tokio::test]
    async fn files_are_stored_and_published_in_one_event_with_the_settings() {
        let fx = fixture();
        let source = ObjectKey::new("crm.gbot/config.csv");
        let theme = [Setting::new("theme-color1", "#123456"), Setting::new("llm-key", "sk-1")];
        fx.settings.replace_settings(&bot(), &source, &theme).await.unwrap();
        let batch = [
            added("crm.gbtheme/default.css", b"body{}"),
            added("crm.gbtheme/img/a.png", b"\x89PNG"),
        ];

        let outcomes = fx.handler.apply(&bot(), &batch).await;

        assert_eq!(outcomes, [Outcome::applied(), Outcome::applied()]);
        assert_eq!(stored(&fx.assets, "default.css").await.as_deref(), Some(&b"body{}"[..]));
        let events = fx.bus.take();
        let (files, settings) = theme_event(&events);
        let hash = ContentHash::of(b"body{}").to_hex();
        assert_eq!(files[0].path, "default.css");
        assert_eq!(files[0].url.as_deref(), Some(&*format!("/themes/crm/default.css?v={hash}")));
        assert_eq!(files[0].hash.as_deref(), Some(&*hash));
        assert_eq!(files[1].path, "img/a.png");
        assert_eq!(settings, [("theme-color1", "#123456")], "only theme settings, no secrets");
    }

    #[tokio::test]
    async fn removal_withdraws_the_file_and_publishes_it_without_url() {
        let fx = fixture();
        fx.handler.apply(&bot(), &[added("crm.gbtheme/a.css", b"a{}")]).await;
        fx.bus.take();

        let outcomes = fx.handler.apply(&bot(), &[removed("crm.gbtheme/a.css")]).await;

        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(stored(&fx.assets, "a.css").await, None);
        let events = fx.bus.take();
        let (files, _) = theme_event(&events);
        assert_eq!(files, [ThemeFile { path: "a.css".into(), url: None, hash: None }]);
    }

    #[tokio::test]
    async fn removing_a_file_never_stored_publishes_nothing() {
        let fx = fixture();
        let outcomes = fx.handler.apply(&bot(), &[removed("crm.gbtheme/ghost.css")]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert!(fx.bus.take().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn empty_replacement_is_held_until_it_stays_empty_for_the_quiet_period() {
        let fx = fixture();
        fx.handler.apply(&bot(), &[added("crm.gbtheme/a.css", b"a{color:red}")]).await;
        fx.bus.take();

        let truncated = modified("crm.gbtheme/a.css", 12, b"");
        let outcomes = fx.handler.apply(&bot(), std::slice::from_ref(&truncated)).await;
        assert!(matches!(&outcomes[..], [Outcome::Retry { error }] if error.contains("empty")));
        tokio::time::advance(Duration::from_millis(1_500)).await;
        let outcomes = fx.handler.apply(&bot(), std::slice::from_ref(&truncated)).await;
        assert!(matches!(&outcomes[..], [Outcome::Retry { .. }]), "{outcomes:?}");
        assert!(fx.bus.take().is_empty(), "clients never see the empty file while held");
        assert_eq!(stored(&fx.assets, "a.css").await.as_deref(), Some(&b"a{color:red}"[..]));

        tokio::time::advance(Duration::from_millis(500)).await;
        let outcomes = fx.handler.apply(&bot(), &[truncated]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(stored(&fx.assets, "a.css").await.as_deref(), Some(&b""[..]));
        assert_eq!(theme_event(&fx.bus.take()).0.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn content_written_after_a_truncation_goes_live_at_once() {
        let fx = fixture();
        let truncated = modified("crm.gbtheme/a.css", 12, b"");
        fx.handler.apply(&bot(), std::slice::from_ref(&truncated)).await;

        let rewritten = modified("crm.gbtheme/a.css", 12, b"a{color:blue}");
        assert_eq!(fx.handler.apply(&bot(), &[rewritten]).await, [Outcome::applied()]);
        assert_eq!(theme_event(&fx.bus.take()).0.len(), 1);

        // The hold starts over for a later truncation instead of reusing the old start.
        tokio::time::advance(Duration::from_secs(10)).await;
        let outcomes = fx.handler.apply(&bot(), &[truncated]).await;
        assert!(matches!(&outcomes[..], [Outcome::Retry { .. }]), "{outcomes:?}");
    }

    #[tokio::test]
    async fn new_empty_files_and_empty_files_becoming_empty_are_not_held() {
        let fx = fixture();
        let batch =
            [added("crm.gbtheme/new.css", b""), modified("crm.gbtheme/was-empty.css", 0, b"")];
        let outcomes = fx.handler.apply(&bot(), &batch).await;
        assert_eq!(outcomes, [Outcome::applied(), Outcome::applied()]);
    }

    #[tokio::test]
    async fn store_failures_are_retried_and_spare_the_rest_of_the_batch() {
        let fx = fixture();
        fx.assets.fail_next_writes(1);
        let batch = [added("crm.gbtheme/a.css", b"a{}"), added("crm.gbtheme/b.css", b"b{}")];

        let outcomes = fx.handler.apply(&bot(), &batch).await;

        assert!(matches!(&outcomes[..], [Outcome::Retry { .. }, Outcome::Applied { .. }]));
        let events = fx.bus.take();
        let (files, _) = theme_event(&events);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["b.css"], "only what went live is published");
    }

    #[tokio::test]
    async fn unreadable_settings_retry_the_whole_batch_before_writing() {
        let fx = fixture();
        let mut failing = MockConfigSink::new();
        failing
            .expect_settings()
            .times(1)
            .returning(|_| Err(drive_core::PersistError::Unavailable("down".into())));
        let handler = ThemeHandler::new(fx.assets.clone(), Arc::new(failing), fx.bus.clone());

        let outcomes = handler.apply(&bot(), &[added("crm.gbtheme/a.css", b"a{}")]).await;

        assert!(matches!(&outcomes[..], [Outcome::Retry { .. }]));
        assert_eq!(fx.assets.writes(), 0);
        assert!(fx.bus.take().is_empty());
    }

    #[tokio::test]
    async fn paths_no_url_can_name_are_invalid() {
        let fx = fixture();
        let outcomes = fx.handler.apply(&bot(), &[added("crm.gbtheme/a/../b.css", b"b{}")]).await;
        assert!(matches!(&outcomes[..], [Outcome::Invalid { .. }]), "{outcomes:?}");
        let outcomes = fx.handler.apply(&bot(), &[removed("crm.gbtheme/a/../b.css")]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
    }

    #[tokio::test]
    async fn a_change_without_content_is_retried() {
        let fx = fixture();
        let mut input = added("crm.gbtheme/a.css", b"a{}");
        input.content = None;
        let outcomes = fx.handler.apply(&bot(), &[input]).await;
        assert!(matches!(&outcomes[..], [Outcome::Retry { .. }]));
    }

    #[test]
    fn handler_takes_theme_changes() {
        assert_eq!(fixture().handler.kind(), Kind::Theme);
    }

    #[tokio::test]
    async fn stored_hashes_name_the_stored_version_of_each_theme_file() {
        let fx = fixture();
        fx.handler.apply(&bot(), &[added("crm.gbtheme/css/main.css", b"body{}")]).await;
        fx.handler.apply(&bot(), &[added("crm.gbtheme/gone.css", b"p{}")]).await;
        fx.handler.apply(&bot(), &[removed("crm.gbtheme/gone.css")]).await;

        let keys = ["crm.gbtheme/css/main.css", "crm.gbtheme/gone.css", "crm.gbtheme/new.css"]
            .map(ObjectKey::new);
        let hashes = fx.handler.stored_hashes(&bot(), &keys).await;
        assert_eq!(hashes, [Some(ContentHash::of(b"body{}")), None, None]);
    }
}
