//! The errors ports return, classified so the monitor decides retries without reading text.

/// A boxed cause, as adapters carry them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of an [`ObjectStore`](crate::ObjectStore).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object or bucket does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The storage could not be reached or failed temporarily: retry later.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// The storage refused the request (bad credentials, forbidden, malformed request);
    /// retrying the same request will not help until an operator acts.
    #[error("storage refused the request")]
    Refused(#[source] BoxError),
    /// The object is larger than the configured limit for its kind.
    #[error("object is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// The key cannot be addressed safely by this backend (`..` segments, backslashes or
    /// control characters on a filesystem, ...); it is tracked but never read.
    #[error("the key {key:?} cannot be read safely: {reason}")]
    UnsafeKey { key: String, reason: &'static str },
}

impl StoreError {
    /// Returns true when the same request may succeed later without anyone acting.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A failure of a persistence port ([`FileStateStore`](crate::FileStateStore),
/// [`ConfigSink`](crate::ConfigSink), [`PromptSink`](crate::PromptSink)).
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The database could not be reached or the transaction failed: retry later.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// Stored data could not be read back; a rescan rebuilds it.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
}

impl PersistError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PersistError::Unavailable(_))
    }
}
