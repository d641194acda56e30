//! The operations every backend shares once it knows where a bucket lives in an opendal
//! operator: bounded reads, stats and listings.
//!
//! A [`BucketPath`] is an operator plus the path of one bucket inside it (`crm.gbai/` on the
//! filesystem and in memory, the operator root on S3, where each bucket has its own
//! operator). Keys are checked with the backend's [`KeyPolicy`] before they are joined onto
//! that path.
//!
//! Reads stream the object and stop as soon as more than `limit` bytes arrived, so an
//! oversized object costs one chunk, not its whole size; only then is it stat'ed to report
//! its real size.
//!
//! Known limits: folder placeholder keys (`docs/`) cannot be read; a stat of one reports
//! whatever the backend says about the folder.

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use tracing::trace;

use drive_core::{ETag, ObjectKey, ObjectMeta, StoreError};

use crate::keys::{KeyPolicy, check_key, check_readable_key};
use crate::lister::{Enricher, ListTarget, OpendalLister, to_timestamp};

/// One bucket inside an opendal operator.
pub(crate) struct BucketPath<'a> {
    pub(crate) op: &'a opendal::Operator,
    /// The bucket name, for logs and errors.
    pub(crate) bucket: &'a str,
    /// The bucket's folder inside the operator, with a trailing `/`, or empty for the root.
    pub(crate) prefix: String,
    pub(crate) policy: KeyPolicy,
    pub(crate) classify: fn(opendal::Error) -> StoreError,
}

impl BucketPath<'_> {
    /// Returns the content of `key`, refusing objects over `limit` bytes.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] over the limit, [`StoreError::NotFound`] when the object is
    /// gone, [`StoreError::Refused`] for keys the backend cannot address.
    pub(crate) async fn read(&self, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        check_readable_key(key.as_str(), self.policy)?;
        let path = self.path(key);

        let reader = self.op.reader(&path).await.map_err(|err| self.classify_read(err))?;
        let mut chunks = reader.into_stream(..).await.map_err(|err| self.classify_read(err))?;
        let mut content = BytesMut::new();
        while let Some(chunk) = chunks.try_next().await.map_err(|err| self.classify_read(err))? {
            content.extend_from_slice(&chunk.to_bytes());
            if content.len() as u64 > limit {
                // Dropping the stream abandons the rest of the object.
                drop(chunks);
                return Err(self.too_large(key, content.len() as u64, limit).await);
            }
        }
        trace!(bucket = %self.bucket, object.key = %key, object.size = content.len(), "read object");
        Ok(content.freeze())
    }

    /// Returns the metadata of `key`, `None` when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Refused`] for keys the backend cannot address; the classified error of
    /// the request otherwise.
    pub(crate) async fn stat(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        check_key(key.as_str(), self.policy)?;
        let metadata = match self.op.stat(&self.path(key)).await {
            Ok(metadata) => metadata,
            Err(err) if names_a_folder(&err) => return Ok(None),
            Err(err) => {
                return match (self.classify)(err) {
                    StoreError::NotFound => Ok(None),
                    other => Err(other),
                };
            }
        };

        // A folder is not an object of a key without a trailing slash, nor the reverse.
        if metadata.is_dir() != key.as_str().ends_with('/') {
            return Ok(None);
        }
        Ok(Some(ObjectMeta {
            key: key.clone(),
            etag: metadata.etag().and_then(ETag::parse),
            size: if metadata.is_dir() { 0 } else { metadata.content_length() },
            last_modified: metadata.last_modified().and_then(to_timestamp),
            content_hash: None,
        }))
    }

    /// Starts a recursive listing of the bucket.
    ///
    /// # Errors
    /// The classified error of the first list request.
    pub(crate) async fn list(&self, enrich: Option<Enricher>) -> Result<OpendalLister, StoreError> {
        let target = ListTarget {
            bucket: self.bucket,
            prefix: &self.prefix,
            folder: "",
            recursive: true,
            classify: self.classify,
            enrich,
        };
        OpendalLister::start(self.op, target).await
    }

    /// Returns the operator path of `key`.
    pub(crate) fn path(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// Returns the error for a read failure: a folder where an object was expected is a
    /// missing object, as [`BucketPath::stat`] reports it.
    fn classify_read(&self, err: opendal::Error) -> StoreError {
        if names_a_folder(&err) { StoreError::NotFound } else { (self.classify)(err) }
    }

    /// Returns the TooLarge error, with the object's real size when a stat can tell it.
    async fn too_large(&self, key: &ObjectKey, seen: u64, limit: u64) -> StoreError {
        let size = match self.stat(key).await {
            Ok(Some(meta)) => meta.size.max(seen),
            _ => seen,
        };
        StoreError::TooLarge { size, limit }
    }
}

/// Returns true when `err` says the path is a folder, or runs through a file as if it were
/// one (`a.txt/b`): no object has that key.
///
/// opendal's filesystem service reports these as generic temporary errors, so the kind of
/// the underlying I/O error is consulted too.
fn names_a_folder(err: &opendal::Error) -> bool {
    use std::io::ErrorKind as Io;

    if matches!(err.kind(), opendal::ErrorKind::IsADirectory | opendal::ErrorKind::NotADirectory) {
        return true;
    }
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), Io::IsADirectory | Io::NotADirectory);
        }
        cause = current.source();
    }
    false
}
