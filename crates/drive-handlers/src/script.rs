//! The script handler: compiles changed `*.gbdialog/**/*.bas` files and keeps the bot's
//! script registry (trees, tools, schedules, webhooks) in step with the bucket.
//!
//! A script with errors is recorded with its diagnostics and reported as invalid; the last
//! version that compiled stays live, tool and schedules included. A removed script leaves
//! the registry with its manifest entries. Scripts are identified by their key, so two
//! `deal.bas` in different folders are two scripts; their shared tool name is reported as a
//! warning on the later one.
//!
//! Compiling runs on the blocking pool: a large script takes milliseconds.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drive_core::{
    BotEvent, BotName, ChangeHandler, ChangeInput, CompiledScript as StoredScript, ContentHash,
    Diagnostic, EventBus, Kind, NoEventBus, ObjectKey, Outcome, ScriptRegistry,
};
use tracing::{Instrument as _, debug, info, info_span};

use crate::basic::{CompiledScript, compile_bytes};
use crate::outcome::{content_missing, parse_interrupted, sink_failed};

/// Applies changes of [`Kind::Script`] objects.
///
/// Idempotent: compiling and publishing the same version again changes nothing.
pub struct ScriptHandler {
    registry: Arc<dyn ScriptRegistry>,
    events: Arc<dyn EventBus>,
}

impl ScriptHandler {
    /// Returns a handler that writes to `registry`.
    pub fn new(registry: Arc<dyn ScriptRegistry>) -> Self {
        Self { registry, events: Arc::new(NoEventBus) }
    }

    /// Returns this handler announcing compiled and failed scripts on `events`.
    pub fn with_events(mut self, events: Arc<dyn EventBus>) -> Self {
        self.events = events;
        self
    }
}

impl fmt::Debug for ScriptHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptHandler").finish_non_exhaustive()
    }
}

#[async_trait]
impl ChangeHandler for ScriptHandler {
    fn kind(&self) -> Kind {
        Kind::Script
    }

    /// Applies the changes one after another, in order.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(changes.len());
        for input in changes {
            let span = info_span!(
                "script_change",
                bot = %bot,
                object.key = %input.change.key(),
                change.op = input.change.op_name(),
            );
            outcomes.push(self.apply_one(bot, input).instrument(span).await);
        }
        outcomes
    }

    /// Returns the hash of each script's live version in the registry (written in the
    /// same transaction as its tree, tool and manifest); a version that failed to compile
    /// is not one.
    async fn stored_hashes(&self, bot: &BotName, keys: &[ObjectKey]) -> Vec<Option<ContentHash>> {
        let mut hashes = Vec::with_capacity(keys.len());
        for key in keys {
            let hash = match self.registry.script(bot, key).await {
                Ok(state) => state.and_then(|state| Some(state.live?.content_hash)),
                Err(err) => {
                    debug!(object.key = %key, error = %err, "stored script unreadable");
                    None
                }
            };
            hashes.push(hash);
        }
        hashes
    }
}

impl ScriptHandler {
    async fn apply_one(&self, bot: &BotName, input: &ChangeInput) -> Outcome {
        let key = input.change.key();
        if input.change.is_removal() {
            return match self.registry.remove(bot, key).await {
                Ok(()) => {
                    info!("script removed with its tool and manifest entries");
                    Outcome::applied()
                }
                Err(err) => sink_failed(&err),
            };
        }
        let Some(content) = &input.content else {
            return content_missing();
        };

        let stem = file_stem(key);
        let bytes = content.bytes.clone();
        let compiled = match tokio::task::spawn_blocking(move || compile_bytes(&stem, &bytes)).await
        {
            Ok(Ok(compiled)) => compiled,
            Ok(Err(err)) => {
                let diagnostics = vec![Diagnostic::error(0, format!("{err}; save it as text"))];
                return self.fail(bot, key, content.hash, diagnostics).await;
            }
            Err(err) => return parse_interrupted(&err),
        };
        if compiled.has_errors() {
            return self.fail(bot, key, content.hash, compiled.diagnostics).await;
        }
        self.publish(bot, key, content.hash, &compiled).await
    }

    /// Makes a compiled version live and announces it.
    async fn publish(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        hash: drive_core::ContentHash,
        compiled: &CompiledScript,
    ) -> Outcome {
        let stored = to_stored(key, hash, compiled);
        let tool = stored.tool.as_ref().map(|tool| tool.name.clone());
        let mut warnings = compiled.warnings();
        match self.registry.publish(bot, &stored).await {
            Ok(same_name) => {
                if let (Some(name), false) = (&tool, same_name.is_empty()) {
                    let others: Vec<&str> = same_name.iter().map(ObjectKey::as_str).collect();
                    let message = format!(
                        "tool name {name:?} is also declared by {}; callers cannot tell them apart",
                        others.join(", ")
                    );
                    warnings.push(Diagnostic::warning(0, message));
                }
                info!(
                    tool = tool.as_deref().unwrap_or("-"),
                    warnings = warnings.len(),
                    "script compiled"
                );
                let event = BotEvent::ScriptCompiled { key: key.to_string(), tool };
                self.events.publish(bot, event);
                Outcome::Applied { warnings }
            }
            Err(err) => sink_failed(&err),
        }
    }

    /// Records a version that does not compile; the live one stays.
    async fn fail(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        hash: drive_core::ContentHash,
        diagnostics: Vec<Diagnostic>,
    ) -> Outcome {
        if let Err(err) = self.registry.record_failure(bot, key, &hash, &diagnostics).await {
            return sink_failed(&err);
        }
        info!(diagnostics = diagnostics.len(), "script has errors, last good version stays live");
        let event =
            BotEvent::ScriptFailed { key: key.to_string(), diagnostics: diagnostics.clone() };
        self.events.publish(bot, event);
        Outcome::Invalid { diagnostics }
    }
}

/// Returns the tool name a script's key gives: its file name without `.bas`.
fn file_stem(key: &ObjectKey) -> String {
    let name = key.file_name();
    match name.len().checked_sub(4) {
        Some(cut) if name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(".bas") => {
            name[..cut].to_owned()
        }
        _ => name.to_owned(),
    }
}

/// Returns what the registry stores of a compiled script.
fn to_stored(
    key: &ObjectKey,
    hash: drive_core::ContentHash,
    compiled: &CompiledScript,
) -> StoredScript {
    StoredScript {
        key: key.clone(),
        content_hash: hash,
        tree: compiled.tree_json(),
        warnings: compiled.warnings(),
        tool: compiled.tool.as_ref().map(|tool| tool.to_core()),
        manifest: compiled.manifest_json(),
        schedules: compiled.manifest.crons(),
        webhooks: compiled.manifest.webhook_names(),
    }
}

#[cfg(test)]
mod tests {
    use drive_core::testing::MemoryScriptRegistryForTests;
    use drive_core::{Change, Content, ObjectMeta, Severity};

    use super::*;
    use crate::theme::tests::RecordingBusForTests;

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn added(key: &str, text: &str) -> ChangeInput {
        let new = ObjectMeta::new(key, text.len() as u64);
        ChangeInput {
            change: Change::Added { kind: Kind::Script, new },
            content: Some(Content::new(text.as_bytes().to_vec())),
        }
    }

    fn removed(key: &str) -> ChangeInput {
        ChangeInput {
            change: Change::Removed { kind: Kind::Script, old: ObjectMeta::new(key, 1) },
            content: None,
        }
    }

    const TOOL: &str = "PARAM name AS string DESCRIPTION \"who\"\nPARAM age AS integer OPTIONAL\n\
                        DESCRIPTION \"Greets someone\"\nSET SCHEDULE \"0 9 * * 1\"\nWEBHOOK \"greet\"\n\
                        TALK \"Hello \" + name\n";

    fn handler() -> (ScriptHandler, Arc<MemoryScriptRegistryForTests>, Arc<RecordingBusForTests>) {
        let registry = Arc::new(MemoryScriptRegistryForTests::new());
        let bus = Arc::new(RecordingBusForTests::default());
        (ScriptHandler::new(registry.clone()).with_events(bus.clone()), registry, bus)
    }

    #[tokio::test]
    async fn compiled_tool_script_registers_its_tool_schedule_and_webhook() {
        let (handler, registry, bus) = handler();
        let outcomes = handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", TOOL)]).await;
        assert!(matches!(&outcomes[0], Outcome::Applied { .. }), "{outcomes:?}");

        let tools = registry.tools(&bot()).await.unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].tool.name, "greet");
        let openai: serde_json::Value = serde_json::from_str(&tools[0].tool.openai).unwrap();
        assert_eq!(openai["function"]["parameters"]["required"], serde_json::json!(["name"]));
        let mcp: serde_json::Value = serde_json::from_str(&tools[0].tool.mcp).unwrap();
        assert_eq!(mcp["inputSchema"]["properties"]["age"]["type"], "integer");
        assert_eq!(registry.schedules(&bot()).await.unwrap()[0].1, "0 9 * * 1");
        assert_eq!(registry.webhooks(&bot()).await.unwrap()[0].1, "greet");
        assert!(
            matches!(&bus.take()[0].1, BotEvent::ScriptCompiled { tool: Some(t), .. } if t == "greet")
        );
    }

    #[tokio::test]
    async fn broken_script_is_invalid_and_the_last_good_version_stays_live() {
        let (handler, registry, bus) = handler();
        handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", TOOL)]).await;
        bus.take();

        let broken = "IF x THEN\nTALK \"never closed\"\n";
        let outcomes = handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", broken)]).await;
        let Outcome::Invalid { diagnostics } = &outcomes[0] else { panic!("{outcomes:?}") };
        assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
        let state = registry
            .script(&bot(), &ObjectKey::new("crm.gbdialog/greet.bas"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.live.unwrap().tool.unwrap().name, "greet", "the live tool stays");
        assert!(state.failure.is_some());
        assert!(matches!(&bus.take()[0].1, BotEvent::ScriptFailed { .. }));
    }

    #[tokio::test]
    async fn removed_script_leaves_the_registry_with_its_schedules() {
        let (handler, registry, _bus) = handler();
        handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", TOOL)]).await;
        let outcomes = handler.apply(&bot(), &[removed("crm.gbdialog/greet.bas")]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert!(registry.tools(&bot()).await.unwrap().is_empty());
        assert!(registry.schedules(&bot()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn same_stem_in_two_folders_is_two_scripts_and_the_collision_is_reported() {
        let (handler, registry, _bus) = handler();
        let outcomes = handler
            .apply(
                &bot(),
                &[added("crm.gbdialog/a/greet.bas", TOOL), added("crm.gbdialog/b/greet.bas", TOOL)],
            )
            .await;
        assert_eq!(outcomes[0], Outcome::applied());
        let Outcome::Applied { warnings } = &outcomes[1] else { panic!("{outcomes:?}") };
        assert!(warnings[0].message.contains("crm.gbdialog/a/greet.bas"), "{warnings:?}");
        assert_eq!(registry.tools(&bot()).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn binary_script_is_invalid_and_registry_failures_are_retried() {
        let (handler, registry, _bus) = handler();
        let binary = ChangeInput {
            change: Change::Added {
                kind: Kind::Script,
                new: ObjectMeta::new("crm.gbdialog/x.bas", 4),
            },
            content: Some(Content::new(vec![0u8, 1, 2, 0])),
        };
        assert!(matches!(handler.apply(&bot(), &[binary]).await[0], Outcome::Invalid { .. }));

        registry.fail_next_writes(1);
        let outcomes = handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", TOOL)]).await;
        assert!(matches!(outcomes[0], Outcome::Retry { .. }), "{outcomes:?}");
    }

    #[test]
    fn tool_names_come_from_the_file_stem() {
        assert_eq!(file_stem(&ObjectKey::new("crm.gbdialog/tools/create-deal.bas")), "create-deal");
        assert_eq!(file_stem(&ObjectKey::new("crm.gbdialog/Start.BAS")), "Start");
        assert_eq!(file_stem(&ObjectKey::new("crm.gbdialog/ação.bas")), "ação");
    }

    #[tokio::test]
    async fn stored_hashes_name_the_live_version_only() {
        let (handler, _registry, _bus) = handler();
        handler.apply(&bot(), &[added("crm.gbdialog/greet.bas", TOOL)]).await;
        handler.apply(&bot(), &[added("crm.gbdialog/broken.bas", "IF x THEN\n")]).await;

        let keys = ["crm.gbdialog/greet.bas", "crm.gbdialog/broken.bas", "crm.gbdialog/new.bas"]
            .map(ObjectKey::new);
        let hashes = handler.stored_hashes(&bot(), &keys).await;
        assert_eq!(hashes, [Some(ContentHash::of(TOOL.as_bytes())), None, None]);
    }
}
