//! The crate's error type and the one place where storage failures are classified.
//!
//! [`StorageError`] covers what can go wrong while opening a store (a bad spec, a missing
//! root folder, missing credentials) and the causes this crate produces itself (an unsafe
//! key, a failed bucket listing). Every failure that reaches the monitor goes through
//! [`classify`] (or [`classify_s3`]) and comes out as a [`StoreError`] whose variant alone
//! decides retries: nothing downstream reads error text.
//!
//! Known limits: opendal reports some permanent local failures (a full disk, too many open
//! files) as temporary because it cannot tell them apart from passing ones; they are
//! classified as [`StoreError::Unavailable`] and retried with backoff until an operator
//! fixes the machine.

use std::path::PathBuf;

use drive_core::StoreError;
use opendal::ErrorKind;

/// A failure of this crate: opening a store, or a cause carried inside a [`StoreError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage URL is not `fs:PATH`, `s3:http(s)://HOST[:PORT]` or `memory:`.
    #[error("invalid storage url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The filesystem root does not exist or is not a folder.
    #[error("storage root {} is not a readable folder", path.display())]
    MissingRoot {
        path: PathBuf,
        #[source]
        source: Option<std::io::Error>,
    },
    /// The filesystem root cannot be used.
    #[error("storage root {} cannot be used: {reason}", path.display())]
    InvalidRoot { path: PathBuf, reason: &'static str },
    /// The S3 settings lack an access key or a secret key.
    #[error("s3 storage needs both an access key id and a secret access key")]
    MissingCredentials,
    /// A setting was rejected while building a backend.
    #[error("invalid {backend} storage settings")]
    InvalidSettings {
        backend: &'static str,
        #[source]
        source: BoxedCause,
    },
    /// A key that this backend cannot address safely or faithfully.
    #[error("object key {key:?} refused: {reason}")]
    UnsafeKey { key: String, reason: &'static str },
    /// The S3 server answered a bucket-level request with an error status.
    #[error("s3 {operation} failed with status {status}{}", code_suffix(code.as_deref()))]
    S3Status { operation: &'static str, status: u16, code: Option<String> },
    /// The S3 server sent a body this crate could not understand.
    #[error("s3 {operation} returned an unreadable body")]
    S3Body {
        operation: &'static str,
        #[source]
        source: BoxedCause,
    },
    /// A request to the S3 server failed before an answer arrived.
    #[error("s3 {operation} request failed")]
    S3Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// A listing was used again after it had failed.
    #[error("listing already failed; start a new one")]
    ListingAborted,
}

/// A boxed cause, as [`StorageError`] variants carry them.
pub type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

fn code_suffix(code: Option<&str>) -> String {
    code.map(|code| format!(" ({code})")).unwrap_or_default()
}

/// Returns the port-level error for an opendal failure.
///
/// Missing objects are [`StoreError::NotFound`]; anything opendal marks temporary, and rate
/// limiting, is [`StoreError::Unavailable`]; the rest (permission denied, invalid
/// configuration, unsupported operation, a permanent server error) is
/// [`StoreError::Refused`].
pub(crate) fn classify(err: opendal::Error) -> StoreError {
    match err.kind() {
        ErrorKind::NotFound => StoreError::NotFound,
        _ if err.is_temporary() => StoreError::Unavailable(Box::new(err)),
        ErrorKind::RateLimited => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Refused(Box::new(err)),
    }
}

/// Returns the port-level error for an opendal failure of a request to an S3 server.
///
/// opendal reports the S3 error code `NoSuchBucket` as [`ErrorKind::ConfigInvalid`]. The
/// store validated its settings when it built the operator, so a request that fails with
/// `ConfigInvalid` afterwards means the bucket is gone: [`StoreError::NotFound`].
pub(crate) fn classify_s3(err: opendal::Error) -> StoreError {
    if err.kind() == ErrorKind::ConfigInvalid && !err.is_temporary() {
        return StoreError::NotFound;
    }
    classify(err)
}

/// Returns the port-level error for an HTTP status of a bucket-level S3 request.
pub(crate) fn classify_s3_status(
    operation: &'static str,
    status: u16,
    code: Option<String>,
) -> StoreError {
    let err = Box::new(StorageError::S3Status { operation, status, code });
    match status {
        404 => StoreError::NotFound,
        408 | 429 | 499 | 500..=599 => StoreError::Unavailable(err),
        _ => StoreError::Refused(err),
    }
}

/// Returns the port-level error for a transport failure of a bucket-level S3 request.
pub(crate) fn classify_s3_transport(operation: &'static str, source: reqwest::Error) -> StoreError {
    // A request that could not even be built will fail the same way next time; everything
    // else (refused connection, timeout, reset) may pass later.
    let permanent = source.is_builder();
    let err = Box::new(StorageError::S3Transport { operation, source });
    if permanent { StoreError::Refused(err) } else { StoreError::Unavailable(err) }
}

/// Returns the error for a key this backend refuses.
pub(crate) fn unsafe_key(key: &str, reason: &'static str) -> StoreError {
    StoreError::UnsafeKey { key: key.to_owned(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opendal_error(kind: ErrorKind) -> opendal::Error {
        opendal::Error::new(kind, "test failure")
    }

    #[test]
    fn missing_objects_are_not_found() {
        assert!(matches!(classify(opendal_error(ErrorKind::NotFound)), StoreError::NotFound));
    }

    #[test]
    fn temporary_failures_are_unavailable() {
        // Refused connections, timeouts and 5xx answers all reach us as temporary errors.
        let refused = opendal_error(ErrorKind::Unexpected).set_temporary();
        assert!(matches!(classify(refused), StoreError::Unavailable(_)));
        let rate_limited = opendal_error(ErrorKind::RateLimited);
        assert!(matches!(classify(rate_limited), StoreError::Unavailable(_)));
    }

    #[test]
    fn permission_config_and_unsupported_failures_are_refused() {
        for kind in [
            ErrorKind::PermissionDenied,
            ErrorKind::ConfigInvalid,
            ErrorKind::Unsupported,
            ErrorKind::Unexpected,
        ] {
            let err = classify(opendal_error(kind));
            assert!(matches!(err, StoreError::Refused(_)), "{kind:?} gave {err:?}");
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn s3_missing_bucket_is_not_found_but_denial_stays_refused() {
        assert!(matches!(
            classify_s3(opendal_error(ErrorKind::ConfigInvalid)),
            StoreError::NotFound
        ));
        assert!(matches!(
            classify_s3(opendal_error(ErrorKind::PermissionDenied)),
            StoreError::Refused(_)
        ));
    }

    #[test]
    fn bucket_request_statuses_split_into_transient_and_permanent() {
        assert!(matches!(classify_s3_status("ListBuckets", 503, None), StoreError::Unavailable(_)));
        assert!(matches!(classify_s3_status("ListBuckets", 429, None), StoreError::Unavailable(_)));
        assert!(matches!(classify_s3_status("ListBuckets", 403, None), StoreError::Refused(_)));
        assert!(matches!(classify_s3_status("ListBuckets", 404, None), StoreError::NotFound));
    }

    #[test]
    fn status_errors_name_the_s3_code() {
        let err = StorageError::S3Status {
            operation: "ListBuckets",
            status: 403,
            code: Some("AccessDenied".into()),
        };
        assert_eq!(err.to_string(), "s3 ListBuckets failed with status 403 (AccessDenied)");
    }
}
