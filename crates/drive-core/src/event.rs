//! Events about a bot that its live clients care about (theme, settings, scripts,
//! knowledge), and the port they are published through.
//!
//! Handlers publish after their change is stored; the bus numbers, fans out and delivers.
//! Publishing never blocks and never fails the change: a bus that cannot keep up drops or
//! coalesces on its side, and says so there.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{BotName, Diagnostic};

/// Something that happened to one bot.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "payload")]
pub enum BotEvent {
    /// Theme files or theme settings changed.
    #[serde(rename = "theme.changed")]
    ThemeChanged {
        files: Vec<ThemeFile>,
        /// Theme settings (`theme-color1`, ...) with their new values; removed ones absent.
        settings: BTreeMap<String, String>,
    },
    /// Settings changed; names only, never values.
    #[serde(rename = "settings.changed")]
    SettingsChanged { keys: Vec<String> },
    /// A script compiled and is live.
    #[serde(rename = "script.compiled")]
    ScriptCompiled { key: String, tool: Option<String> },
    /// A script failed to compile; its last good version stays live.
    #[serde(rename = "script.failed")]
    ScriptFailed { key: String, diagnostics: Vec<Diagnostic> },
    /// Documents of a knowledge collection were indexed.
    #[serde(rename = "kb.indexed")]
    KbIndexed { collection: String, documents: usize, chunks: usize },
}

impl BotEvent {
    /// Returns the event's type as sent to clients (`theme.changed`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            BotEvent::ThemeChanged { .. } => "theme.changed",
            BotEvent::SettingsChanged { .. } => "settings.changed",
            BotEvent::ScriptCompiled { .. } => "script.compiled",
            BotEvent::ScriptFailed { .. } => "script.failed",
            BotEvent::KbIndexed { .. } => "kb.indexed",
        }
    }
}

/// One theme file as clients load it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThemeFile {
    /// Path inside the theme folder (`default.css`).
    pub path: String,
    /// URL that serves exactly this version; `None` when the file was removed.
    pub url: Option<String>,
    /// Content hash of this version; `None` when removed.
    pub hash: Option<String>,
}

/// Where handlers publish [`BotEvent`]s.
///
/// `publish` must return at once: it is called from handlers inside a cycle.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, bot: &BotName, event: BotEvent);
}

/// A bus that drops every event, for hosts without live clients.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEventBus;

impl EventBus for NoEventBus {
    fn publish(&self, _bot: &BotName, _event: BotEvent) {}
}

impl std::fmt::Debug for dyn EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventBus")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_type_and_payload() {
        let event = BotEvent::SettingsChanged { keys: vec!["bot-title".into()] };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.type_name());
        assert_eq!(json["payload"]["keys"][0], "bot-title");
    }
}
