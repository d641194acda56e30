//! The prompt handler: stores the text of a bot's `*.gbot/*prompt*.md|txt` as its system
//! prompt through a [`PromptSink`].
//!
//! The text is decoded like every author file (see [`crate::text`]), line breaks become LF,
//! and nothing else changes: no trimming, no Markdown processing. A binary file is refused as
//! [`Outcome::Invalid`] and the previous prompt stays live. The prompt text is never logged.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drive_core::{BotName, ChangeHandler, ChangeInput, Diagnostic, Kind, Outcome, PromptSink};
use tracing::{Instrument, debug, info, info_span};

use crate::offload::parse_off_runtime;
use crate::outcome::{content_missing, parse_interrupted, sink_failed};
use crate::text::{DecodeError, GUESSED_ENCODING_WARNING, decode_text, normalize_line_breaks};

/// Applies changes of [`Kind::Prompt`] objects.
///
/// Idempotent: storing the same text again under the same key changes nothing.
pub struct PromptHandler {
    sink: Arc<dyn PromptSink>,
}

impl PromptHandler {
    /// Returns a handler that writes to `sink`.
    pub fn new(sink: Arc<dyn PromptSink>) -> Self {
        Self { sink }
    }
}

impl fmt::Debug for PromptHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptHandler").finish_non_exhaustive()
    }
}

#[async_trait]
impl ChangeHandler for PromptHandler {
    fn kind(&self) -> Kind {
        Kind::Prompt
    }

    /// Applies the changes one after another, in order.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(changes.len());
        for input in changes {
            let span = info_span!(
                "prompt_change",
                bot = %bot,
                object.key = %input.change.key(),
                change.op = input.change.op_name(),
            );
            outcomes.push(self.apply_one(bot, input).instrument(span).await);
        }
        outcomes
    }
}

impl PromptHandler {
    async fn apply_one(&self, bot: &BotName, input: &ChangeInput) -> Outcome {
        let key = input.change.key();
        if input.change.is_removal() {
            return match self.sink.remove_prompt(bot, key).await {
                Ok(()) => {
                    info!("prompt removed");
                    Outcome::applied()
                }
                Err(err) => sink_failed(&err),
            };
        }
        let Some(content) = &input.content else {
            return content_missing();
        };

        let prompt = match parse_off_runtime(&content.bytes, read_prompt).await {
            Ok(Ok(prompt)) => prompt,
            Ok(Err(err)) => {
                debug!(error = %err, "prompt file invalid");
                let message = format!("{err}; save the prompt as plain text");
                return Outcome::Invalid { diagnostics: vec![Diagnostic::error(0, message)] };
            }
            Err(err) => return parse_interrupted(&err),
        };

        match self.sink.set_prompt(bot, key, &prompt.text).await {
            Ok(()) => {
                info!(prompt.chars = prompt.text.chars().count(), "prompt stored");
                Outcome::Applied { warnings: prompt.warnings }
            }
            Err(err) => sink_failed(&err),
        }
    }
}

/// The text of a prompt file and what its author should know about it.
#[derive(Debug, PartialEq, Eq)]
struct PromptFile {
    text: String,
    warnings: Vec<Diagnostic>,
}

/// Returns the prompt held in `bytes`: decoded text with LF line breaks.
fn read_prompt(bytes: &[u8]) -> Result<PromptFile, DecodeError> {
    let decoded = decode_text(bytes)?;
    let mut warnings = Vec::new();
    if decoded.encoding.is_guess() {
        warnings.push(Diagnostic::warning(0, GUESSED_ENCODING_WARNING));
    }
    let text = normalize_line_breaks(&decoded.text).into_owned();
    if text.trim().is_empty() {
        warnings.push(Diagnostic::warning(0, "the prompt file is empty"));
    }
    Ok(PromptFile { text, warnings })
}
