//! The script registry on both backends: one `scripts` row per script with its live
//! version and the diagnostics of a newer version that failed.
//!
//! JSON documents are stored as text; schedules and webhooks as JSON arrays in the row, so
//! publishing a version is one upsert and removing a script takes its manifest entries
//! with it by construction.
//!
//! Known limits: looking up schedules or webhooks reads every live script row of the bot
//! (fine for the tens of scripts a bot has; an index table would serve thousands).

mod postgres;
mod sqlite;

use diesel::prelude::*;

use drive_core::{
    BotName, CompiledScript, ContentHash, Diagnostic, ObjectKey, PersistError, RegisteredTool,
    ScriptState, ToolDefinition,
};

use crate::plan::now;
use crate::schema::scripts;

/// One row of `scripts`.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = scripts)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ScriptRow {
    bot: String,
    key: String,
    live_hash: Option<String>,
    tree: Option<String>,
    warnings: Option<String>,
    tool_name: Option<String>,
    tool_openai: Option<String>,
    tool_mcp: Option<String>,
    manifest: Option<String>,
    schedules: Option<String>,
    webhooks: Option<String>,
    failed_hash: Option<String>,
    failure: Option<String>,
    updated_at: i64,
}

impl ScriptRow {
    pub(super) fn published(bot: &BotName, script: &CompiledScript) -> Self {
        let tool = script.tool.as_ref();
        Self {
            bot: bot.as_str().to_owned(),
            key: script.key.as_str().to_owned(),
            live_hash: Some(script.content_hash.to_hex()),
            tree: Some(script.tree.clone()),
            warnings: Some(to_json(&script.warnings)),
            tool_name: tool.map(|t| t.name.clone()),
            tool_openai: tool.map(|t| t.openai.clone()),
            tool_mcp: tool.map(|t| t.mcp.clone()),
            manifest: Some(script.manifest.clone()),
            schedules: Some(to_json(&script.schedules)),
            webhooks: Some(to_json(&script.webhooks)),
            failed_hash: None,
            failure: None,
            updated_at: now().as_nanos(),
        }
    }

    pub(super) fn failed(
        bot: &BotName,
        key: &ObjectKey,
        hash: &ContentHash,
        diags: &[Diagnostic],
    ) -> Self {
        Self {
            bot: bot.as_str().to_owned(),
            key: key.as_str().to_owned(),
            live_hash: None,
            tree: None,
            warnings: None,
            tool_name: None,
            tool_openai: None,
            tool_mcp: None,
            manifest: None,
            schedules: None,
            webhooks: None,
            failed_hash: Some(hash.to_hex()),
            failure: Some(to_json(diags)),
            updated_at: now().as_nanos(),
        }
    }

    pub(super) fn decode(self) -> Result<ScriptState, PersistError> {
        let key = ObjectKey::new(self.key);
        let corrupt = |what: &str| PersistError::Corrupt(format!("script {key:?}: bad {what}"));
        let live = match self.live_hash {
            None => None,
            Some(hash) => Some(CompiledScript {
                key: key.clone(),
                content_hash: ContentHash::from_hex(&hash).ok_or_else(|| corrupt("hash"))?,
                tree: self.tree.ok_or_else(|| corrupt("tree"))?,
                warnings: from_json(self.warnings.as_deref()).ok_or_else(|| corrupt("warnings"))?,
                tool: match (self.tool_name, self.tool_openai, self.tool_mcp) {
                    (Some(name), Some(openai), Some(mcp)) => {
                        Some(ToolDefinition { name, openai, mcp })
                    }
                    (None, None, None) => None,
                    _ => return Err(corrupt("tool")),
                },
                manifest: self.manifest.ok_or_else(|| corrupt("manifest"))?,
                schedules: from_json(self.schedules.as_deref())
                    .ok_or_else(|| corrupt("schedules"))?,
                webhooks: from_json(self.webhooks.as_deref()).ok_or_else(|| corrupt("webhooks"))?,
            }),
        };
        let failure = match (self.failed_hash, self.failure) {
            (Some(hash), Some(diagnostics)) => Some((
                ContentHash::from_hex(&hash).ok_or_else(|| corrupt("failed hash"))?,
                from_json(Some(&diagnostics)).ok_or_else(|| corrupt("diagnostics"))?,
            )),
            (None, None) => None,
            _ => return Err(corrupt("failure")),
        };
        Ok(ScriptState { live, failure })
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Serialising plain strings and diagnostics to JSON cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Option<T> {
    serde_json::from_str(text?).ok()
}

/// Returns the `(key, entry)` pairs of one JSON list column over live rows, sorted.
pub(super) fn flatten_entries(rows: Vec<(String, Option<String>)>) -> Vec<(ObjectKey, String)> {
    let mut out: Vec<(ObjectKey, String)> = rows
        .into_iter()
        .flat_map(|(key, list)| {
            let entries: Vec<String> = from_json(list.as_deref()).unwrap_or_default();
            entries.into_iter().map(move |entry| (ObjectKey::new(key.clone()), entry))
        })
        .collect();
    out.sort();
    out
}

pub(super) fn decode_tools(rows: Vec<ScriptRow>) -> Vec<RegisteredTool> {
    let mut tools: Vec<RegisteredTool> = rows
        .into_iter()
        .filter_map(|row| {
            let tool = ToolDefinition {
                name: row.tool_name?,
                openai: row.tool_openai?,
                mcp: row.tool_mcp?,
            };
            Some(RegisteredTool { key: ObjectKey::new(row.key), tool })
        })
        .collect();
    tools.sort_by(|a, b| (&a.tool.name, &a.key).cmp(&(&b.tool.name, &b.key)));
    tools
}

/// Defines the `SET` of a failure upsert: only the failure columns change.
macro_rules! failure_columns {
    () => {
        (
            scripts::failed_hash.eq(diesel::upsert::excluded(scripts::failed_hash)),
            scripts::failure.eq(diesel::upsert::excluded(scripts::failure)),
            scripts::updated_at.eq(diesel::upsert::excluded(scripts::updated_at)),
        )
    };
}

/// Returns a filter for one script's row.
macro_rules! one_script {
    ($bot:expr, $key:expr) => {
        scripts::bot.eq($bot).and(scripts::key.eq($key))
    };
}

pub(super) use {failure_columns, one_script};
