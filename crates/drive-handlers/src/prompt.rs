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
/// Idempotent: storing the same text again under the same key changes nothing. It keeps
/// [`ChangeHandler::stored_hashes`]'s default (no hash held): after a lost file state each
/// prompt is stored again, one small write that changes nothing.
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

#[cfg(test)]
mod tests {
    use drive_core::testing::MemorySinkForTests;
    use drive_core::{Change, Content, ObjectMeta};

    use super::*;

    const KEY: &str = "crm.gbot/system-prompt.md";

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn written(content: &[u8]) -> ChangeInput {
        let new = ObjectMeta::new(KEY, content.len() as u64);
        let change = Change::Added { kind: Kind::Prompt, new };
        ChangeInput { change, content: Some(Content::new(content.to_vec())) }
    }

    fn handler() -> (PromptHandler, Arc<MemorySinkForTests>) {
        let sink = Arc::new(MemorySinkForTests::new());
        (PromptHandler::new(sink.clone()), sink)
    }

    #[track_caller]
    fn check(bytes: &[u8], expected_text: &str, expected_warnings: &[&str]) {
        let prompt = read_prompt(bytes).unwrap();
        let warnings: Vec<String> = prompt.warnings.iter().map(ToString::to_string).collect();
        let warnings: Vec<&str> = warnings.iter().map(String::as_str).collect();
        assert_eq!((prompt.text.as_str(), warnings), (expected_text, expected_warnings.to_vec()));
    }

    #[test]
    fn prompt_text_is_kept_as_written_but_with_lf_line_breaks() {
        check(
            b"  You are *Acme*.\r\n\r\nBe brief.  \r\n",
            "  You are *Acme*.\n\nBe brief.  \n",
            &[],
        );
        check("\u{feff}Olá!\rTchau.".as_bytes(), "Olá!\nTchau.", &[]);
    }

    #[test]
    fn windows_1252_prompt_is_decoded_with_a_warning() {
        check(
            b"Voc\xEA \x93ajuda\x94.",
            "Você “ajuda”.",
            &[&format!("warning: {GUESSED_ENCODING_WARNING}")],
        );
    }

    #[test]
    fn empty_prompt_is_stored_with_a_warning() {
        check(b" \r\n", " \n", &["warning: the prompt file is empty"]);
    }

    #[tokio::test]
    async fn prompt_is_stored_and_removed() {
        let (handler, sink) = handler();

        let outcomes = handler.apply(&bot(), &[written(b"Be kind.\r\n")]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(sink.prompt(&bot()).await.unwrap().as_deref(), Some("Be kind.\n"));

        let old = ObjectMeta::new(KEY, 10);
        let removal =
            ChangeInput { change: Change::Removed { kind: Kind::Prompt, old }, content: None };
        let outcomes = handler.apply(&bot(), &[removal]).await;
        assert_eq!(outcomes, [Outcome::applied()]);
        assert_eq!(sink.prompt(&bot()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn binary_prompt_is_invalid_and_keeps_the_previous_one() {
        let (handler, sink) = handler();
        handler.apply(&bot(), &[written(b"Be kind.")]).await;

        let outcomes = handler.apply(&bot(), &[written(b"%PDF-1.7\n\x00\x01\x02")]).await;

        let [Outcome::Invalid { diagnostics }] = outcomes.as_slice() else {
            panic!("expected one invalid outcome, got {outcomes:?}");
        };
        assert!(diagnostics[0].message.starts_with("the file is binary, not text"));
        assert_eq!(sink.prompt(&bot()).await.unwrap().as_deref(), Some("Be kind."));
    }

    #[tokio::test]
    async fn sink_failure_is_retried() {
        let (handler, sink) = handler();
        sink.fail_next_writes(1);

        let outcomes = handler.apply(&bot(), &[written(b"Be kind."), written(b"Be brief.")]).await;

        assert!(matches!(outcomes.as_slice(), [Outcome::Retry { .. }, Outcome::Applied { .. }]));
        assert_eq!(sink.prompt(&bot()).await.unwrap().as_deref(), Some("Be brief."));
    }

    #[test]
    fn handler_takes_prompt_changes() {
        assert_eq!(handler().0.kind(), Kind::Prompt);
    }
}
