//! Turns an opendal listing into pages of [`ObjectMeta`] for the monitor.
//!
//! The listing is recursive and carries only what the storage's list call returned: ETag
//! (normalised), size and last-modified time, with no request per object. Keys are returned
//! relative to the bucket, exactly as the storage spells them. Folders come back as
//! zero-byte keys ending in `/` (S3 placeholders, or real folders on the filesystem), which
//! the monitor ignores.
//!
//! The first page is fetched when the listing starts, so that a missing bucket or a refused
//! request surfaces from `ObjectStore::list` rather than from the first page. An error at
//! any later point surfaces from [`Lister::next_page`], and the listing stays failed.
//!
//! Known limits: entries whose type opendal cannot tell even after a stat (sockets, FIFOs)
//! are skipped; file names that are not UTF-8 come back with replacement characters and
//! cannot be read back.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use tracing::{debug, trace};

use drive_core::{ETag, Lister, ObjectKey, ObjectMeta, StoreError, Timestamp};

use crate::error::StorageError;

/// Most entries one page carries; S3 returns at most as many per ListObjectsV2 call, and a
/// page this size keeps the monitor's memory per step small.
pub(crate) const PAGE_SIZE: usize = 1000;

/// Fills in metadata the backend's list call does not return (used by the memory backend).
pub(crate) type Enricher = Arc<dyn Fn(&mut ObjectMeta) + Send + Sync>;

/// A listing of one bucket in progress.
pub(crate) struct OpendalLister {
    bucket: String,
    prefix: String,
    entries: opendal::Lister,
    classify: fn(opendal::Error) -> StoreError,
    enrich: Option<Enricher>,
    first_page: Option<Vec<ObjectMeta>>,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Listing,
    Finished,
    Failed,
}

/// What a listing needs to know about where its bucket lives.
pub(crate) struct ListTarget<'a> {
    /// The bucket name, for logs.
    pub(crate) bucket: &'a str,
    /// The path of the bucket inside the operator (`crm.gbai/`), or empty for the root.
    pub(crate) prefix: &'a str,
    /// The folder to list inside the bucket (`crm.gbot/`), or empty for all of it.
    pub(crate) folder: &'a str,
    /// False to list one level only: subfolders come back as zero-byte `name/` entries.
    pub(crate) recursive: bool,
    pub(crate) classify: fn(opendal::Error) -> StoreError,
    pub(crate) enrich: Option<Enricher>,
}

impl OpendalLister {
    /// Starts a listing (recursive unless the target says otherwise) and fetches its first
    /// page.
    ///
    /// # Errors
    /// The classified error of the first list request.
    pub(crate) async fn start(
        op: &opendal::Operator,
        target: ListTarget<'_>,
    ) -> Result<Self, StoreError> {
        let path = format!("{}{}", target.prefix, target.folder);
        let path = if path.is_empty() { "/" } else { &path };
        let entries = op
            .lister_with(path)
            .recursive(target.recursive)
            .limit(PAGE_SIZE)
            .await
            .map_err(target.classify)?;

        let mut lister = Self {
            bucket: target.bucket.to_owned(),
            prefix: target.prefix.to_owned(),
            entries,
            classify: target.classify,
            enrich: target.enrich,
            first_page: None,
            state: State::Listing,
        };
        lister.first_page = Some(lister.fill_page().await?);
        Ok(lister)
    }

    /// Pulls entries until a page is full or the listing ends.
    async fn fill_page(&mut self) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut page = Vec::new();
        while page.len() < PAGE_SIZE {
            let Some(next) = self.entries.next().await else {
                self.state = State::Finished;
                break;
            };
            let entry = next.map_err(|err| {
                self.state = State::Failed;
                (self.classify)(err)
            })?;
            if let Some(mut meta) = self.to_meta(entry) {
                if let Some(enrich) = &self.enrich {
                    enrich(&mut meta);
                }
                page.push(meta);
            }
        }
        debug!(bucket = %self.bucket, page.entries = page.len(), "listed a page");
        Ok(page)
    }

    /// Returns the entry as the monitor sees it, or `None` for entries that are not objects.
    fn to_meta(&self, entry: opendal::Entry) -> Option<ObjectMeta> {
        let (path, metadata) = entry.into_parts();
        let Some(key) = path.strip_prefix(&self.prefix) else {
            trace!(bucket = %self.bucket, object.path = %path, "skipped entry outside the bucket");
            return None;
        };
        // The listing reports the bucket folder itself first on some backends.
        if key.is_empty() || key == "/" {
            return None;
        }

        let size = match metadata.mode() {
            opendal::EntryMode::FILE => metadata.content_length(),
            opendal::EntryMode::DIR => 0,
            _ => {
                trace!(bucket = %self.bucket, object.key = %key, "skipped entry of unknown type");
                return None;
            }
        };
        Some(ObjectMeta {
            key: ObjectKey::new(key),
            etag: metadata.etag().and_then(ETag::parse),
            size,
            last_modified: metadata.last_modified().and_then(to_timestamp),
            content_hash: None,
        })
    }
}

#[async_trait]
impl Lister for OpendalLister {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        if let Some(page) = self.first_page.take()
            && !page.is_empty()
        {
            return Ok(Some(page));
        }
        match self.state {
            State::Finished => Ok(None),
            State::Failed => Err(StoreError::Unavailable(Box::new(StorageError::ListingAborted))),
            State::Listing => {
                let page = self.fill_page().await?;
                Ok(if page.is_empty() && self.state == State::Finished { None } else { Some(page) })
            }
        }
    }
}

/// Returns the time in nanoseconds since the epoch, keeping full precision.
pub(crate) fn to_timestamp(time: opendal::raw::Timestamp) -> Option<Timestamp> {
    let time = SystemTime::from(time);
    let nanos = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).ok()?,
        Err(before) => i64::try_from(before.duration().as_nanos()).ok()?.checked_neg()?,
    };
    Some(Timestamp::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_keep_nanoseconds_on_both_sides_of_the_epoch() {
        let after = opendal::raw::Timestamp::new(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(to_timestamp(after), Some(Timestamp::from_nanos(1_700_000_000_123_456_789)));

        let before = SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500);
        let before = opendal::raw::Timestamp::try_from(before).unwrap();
        assert_eq!(to_timestamp(before), Some(Timestamp::from_nanos(-1_500)));
    }
}
