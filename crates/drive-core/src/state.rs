//! What the monitor remembers about each object of a bot, between cycles and restarts.

use serde::{Deserialize, Serialize};

use crate::{Kind, ObjectKey, ObjectMeta, Timestamp};

/// The monitor's record of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub kind: Kind,
    /// The latest version seen in storage: the live one when `status` is
    /// [`FileStatus::Live`], otherwise the one that failed or awaits a handler.
    pub current: ObjectMeta,
    /// The version whose effects are live, if any ever was.
    pub live: Option<ObjectMeta>,
    pub status: FileStatus,
}

impl FileRecord {
    pub fn key(&self) -> &ObjectKey {
        &self.current.key
    }
}

/// Where an object stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum FileStatus {
    /// `current` is live (or, for ignored objects, tracked).
    Live,
    /// No handler for this kind is installed; `current` waits for one.
    Unhandled,
    /// The last attempt failed for a reason that may pass; retried once `next_retry` is due.
    Retrying { attempts: u32, error: String, next_retry: Timestamp },
    /// `current` is invalid; not retried until the object changes.
    Invalid { error: String },
}

impl FileStatus {
    pub fn name(&self) -> &'static str {
        match self {
            FileStatus::Live => "live",
            FileStatus::Unhandled => "unhandled",
            FileStatus::Retrying { .. } => "retrying",
            FileStatus::Invalid { .. } => "invalid",
        }
    }

    /// Returns the error that keeps this object from being live, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            FileStatus::Retrying { error, .. } | FileStatus::Invalid { error } => Some(error),
            FileStatus::Live | FileStatus::Unhandled => None,
        }
    }
}
