//! Changes found by the diff, what handlers receive for them, and what handlers answer.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{ContentHash, Kind, ObjectKey, ObjectMeta};

/// One difference between the known state and a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// An object never made live before.
    Added { kind: Kind, new: ObjectMeta },
    /// A new version of an object whose `old` version is live.
    Modified { kind: Kind, old: ObjectMeta, new: ObjectMeta },
    /// An object gone from storage.
    Removed { kind: Kind, old: ObjectMeta },
}

impl Change {
    pub fn key(&self) -> &ObjectKey {
        match self {
            Change::Added { new, .. } | Change::Modified { new, .. } => &new.key,
            Change::Removed { old, .. } => &old.key,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Change::Added { kind, .. }
            | Change::Modified { kind, .. }
            | Change::Removed { kind, .. } => *kind,
        }
    }

    /// Returns the metadata of the version to make live, `None` for a removal.
    pub fn new_meta(&self) -> Option<&ObjectMeta> {
        match self {
            Change::Added { new, .. } | Change::Modified { new, .. } => Some(new),
            Change::Removed { .. } => None,
        }
    }

    pub fn is_removal(&self) -> bool {
        matches!(self, Change::Removed { .. })
    }

    pub fn op_name(&self) -> &'static str {
        match self {
            Change::Added { .. } => "added",
            Change::Modified { .. } => "modified",
            Change::Removed { .. } => "removed",
        }
    }
}

/// The content of the new version of an object, read by the monitor.
#[derive(Clone, Debug)]
pub struct Content {
    pub bytes: Bytes,
    pub hash: ContentHash,
}

impl Content {
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let hash = ContentHash::of(&bytes);
        Self { bytes, hash }
    }
}

/// A change as a handler receives it: with content for additions and modifications.
#[derive(Clone, Debug)]
pub struct ChangeInput {
    pub change: Change,
    /// `Some` for additions and modifications, `None` for removals.
    pub content: Option<Content>,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A message about a place in an object's content, for the bot author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based line, 0 when the message concerns the whole file.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn error(line: u32, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, line, column: 0, message: message.into() }
    }

    pub fn warning(line: u32, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, line, column: 0, message: message.into() }
    }

    /// Returns this diagnostic placed at `column` of its line.
    pub fn at_column(mut self, column: u32) -> Self {
        self.column = column;
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (self.line, self.column) {
            (0, _) => write!(f, "{severity}: {}", self.message),
            (line, 0) => write!(f, "line {line}: {severity}: {}", self.message),
            (line, column) => {
                write!(f, "line {line}, column {column}: {severity}: {}", self.message)
            }
        }
    }
}

/// What a handler made of one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The change is live. Warnings, if any, are logged and kept with the file's state.
    Applied { warnings: Vec<Diagnostic> },
    /// The content is invalid; the last good version stays live and the change is not
    /// retried until the object changes again.
    Invalid { diagnostics: Vec<Diagnostic> },
    /// The change failed for a reason that may pass (database, network, timeout); it is
    /// retried on later cycles with backoff.
    Retry { error: String },
}

impl Outcome {
    pub fn applied() -> Self {
        Outcome::Applied { warnings: Vec::new() }
    }
}
