//! The script registry port: where compiled scripts, their tools and their manifest
//! entries (schedules, webhooks) live, per bot.
//!
//! The core does not know the shape of a syntax tree, a tool definition or a manifest: they
//! travel as JSON text produced by the compiler, so that storage stays a plain table and the
//! compiler can evolve its formats (each carries its own version field).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{BotName, ContentHash, Diagnostic, ObjectKey, PersistError};

/// A version of a script that compiled without errors, ready to become live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledScript {
    pub key: ObjectKey,
    pub content_hash: ContentHash,
    /// The syntax tree, as JSON.
    pub tree: String,
    /// Warnings of this version.
    pub warnings: Vec<Diagnostic>,
    /// The tool this script declares, if any.
    pub tool: Option<ToolDefinition>,
    /// The manifest, as JSON.
    pub manifest: String,
    /// Cron expressions from `SET SCHEDULE`, part of the manifest, kept apart for lookups.
    pub schedules: Vec<String>,
    /// Webhook names from `WEBHOOK`, likewise.
    pub webhooks: Vec<String>,
}

/// An LLM tool declared by a script, in the two shapes callers use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    /// The OpenAI function-calling form, as JSON.
    pub openai: String,
    /// The MCP tool form, as JSON.
    pub mcp: String,
}

/// One entry of a bot's tool registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredTool {
    /// The script that declares the tool.
    pub key: ObjectKey,
    pub tool: ToolDefinition,
}

/// What the registry holds about one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptState {
    /// The live version, `None` when no version ever compiled.
    pub live: Option<CompiledScript>,
    /// The diagnostics of the newest version when it failed to compile, with its hash.
    pub failure: Option<(ContentHash, Vec<Diagnostic>)>,
}

/// A bot's compiled scripts and tool registry.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ScriptRegistry: Send + Sync + 'static {
    /// Makes `script` the live version of its key in one transaction: its tool replaces
    /// the previous version's, its schedules and webhooks replace the previous ones, and any
    /// recorded failure is cleared. Returns the other scripts of the bot whose tool has the
    /// same name, sorted.
    async fn publish(
        &self,
        bot: &BotName,
        script: &CompiledScript,
    ) -> Result<Vec<ObjectKey>, PersistError>;

    /// Records that the version `content_hash` of `key` failed to compile; the live
    /// version, if any, stays live.
    async fn record_failure(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        content_hash: &ContentHash,
        diagnostics: &[Diagnostic],
    ) -> Result<(), PersistError>;

    /// Removes a script with its tool, schedules and webhooks.
    async fn remove(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError>;

    /// Returns the bot's tools sorted by name, then key.
    async fn tools(&self, bot: &BotName) -> Result<Vec<RegisteredTool>, PersistError>;

    /// Returns what the registry holds about one script, `None` when nothing.
    async fn script(
        &self,
        bot: &BotName,
        key: &ObjectKey,
    ) -> Result<Option<ScriptState>, PersistError>;

    /// Returns the live schedules of the bot as `(script, cron)` pairs, sorted.
    async fn schedules(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError>;

    /// Returns the live webhooks of the bot as `(script, name)` pairs, sorted.
    async fn webhooks(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError>;
}

impl std::fmt::Debug for dyn ScriptRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScriptRegistry")
    }
}
