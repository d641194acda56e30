//! The outcomes handlers share: failures that are not the content's fault.

use std::error::Error;

use drive_core::{Outcome, PersistError};
use tokio::task::JoinError;

/// Returns the outcome for a sink failure: a retry, with the whole cause chain as its error.
///
/// Every sink failure is retried, including the non-retryable ones: none of them is the
/// content's fault, so [`Outcome::Invalid`] would blame the author for an operator's
/// problem, and a retry with backoff costs little while someone fixes the database.
pub(crate) fn sink_failed(err: &PersistError) -> Outcome {
    Outcome::Retry { error: error_chain(err) }
}

/// Returns the outcome for a change that should carry content but does not, which only a
/// bug in the caller causes; retrying reads the object again.
pub(crate) fn content_missing() -> Outcome {
    Outcome::Retry { error: "no content was read for this change".to_owned() }
}

/// Returns the outcome for a parse that did not finish (the runtime is shutting down).
pub(crate) fn parse_interrupted(err: &JoinError) -> Outcome {
    Outcome::Retry { error: format!("parsing did not finish: {err}") }
}

/// Returns `err` and its sources joined by `: `.
fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
