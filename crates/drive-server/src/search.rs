//! Knowledge search from outside: `GET /api/bots/{bot}/kb/search?q=...&collection=...&k=...`
//! (also at `/api/bots/{bot}/search`, with `limit` as another name for `k`) and the `search`
//! command, both answered by the [`KnowledgeHandler`]. Both give
//! `{"mode", "model", "note", "results": [{"key", "collection", "score", "text", ...}]}`.
//!
//! Both show how the search ran (`hybrid`, or `lexical` with the reason), so a bot without
//! an embedder is visible as such.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use drive_core::BotName;
use drive_handlers::KnowledgeHandler;
use drive_handlers::knowledge::SearchResults;

use crate::http::{ApiError, ApiState};

/// Hits returned when the caller names no limit.
pub const DEFAULT_LIMIT: usize = 5;

/// Characters of a hit's text shown by the text output.
const SNIPPET_CHARS: usize = 240;

/// The query string of the search endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    collection: Option<String>,
    k: Option<usize>,
    limit: Option<usize>,
}

/// Returns the best chunks of a bot's knowledge for `q`.
pub(crate) async fn search_bot(
    State(state): State<Arc<ApiState>>,
    Path(bot): Path<String>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let text = params.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("the query parameter q is empty".to_owned()));
    }
    let limit = params.k.or(params.limit).unwrap_or(DEFAULT_LIMIT);
    let collection = params.collection.as_deref().filter(|c| !c.is_empty());
    let results = state.knowledge.search(&bot, &text, collection, limit).await.map_err(|err| {
        ApiError::Unavailable(anyhow::Error::from(err).context(format!("search of bot {bot}")))
    })?;
    Ok(Json(results))
}

/// Runs a search for the command line and writes it as text or JSON.
///
/// # Errors
/// When the bot name is invalid, the index cannot be read or `out` fails.
pub async fn print_search(
    knowledge: &KnowledgeHandler,
    bot: &str,
    collection: Option<&str>,
    text: &str,
    limit: usize,
    json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let bot = BotName::new(bot)?;
    let results = knowledge
        .search(&bot, text, collection, limit)
        .await
        .context("searching the knowledge index")?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &results)?;
        writeln!(out)?;
        return Ok(());
    }
    match (&results.model, &results.note) {
        (Some(model), _) => writeln!(out, "search: {} ({model})", results.mode)?,
        (None, Some(note)) => writeln!(out, "search: {} ({note})", results.mode)?,
        (None, None) => writeln!(out, "search: {}", results.mode)?,
    }
    if results.results.is_empty() {
        writeln!(out, "no match")?;
    }
    for (rank, hit) in results.results.iter().enumerate() {
        let heading =
            if hit.heading.is_empty() { String::new() } else { format!(" {}", hit.heading) };
        writeln!(out, "{}. {} [{}]{heading}", rank + 1, hit.key.as_str(), hit.collection)?;
        let snippet: String = hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut shown: String = snippet.chars().take(SNIPPET_CHARS).collect();
        if shown.len() < snippet.len() {
            shown.push('…');
        }
        writeln!(out, "   {shown}")?;
    }
    Ok(())
}
