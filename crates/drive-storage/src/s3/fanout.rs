//! Lists an S3 bucket one top-level folder at a time, several folders at once.
//!
//! ListObjectsV2 returns at most 1 000 keys per request and each next page needs the
//! continuation token of the one before, so one recursive listing of a bucket is a chain of
//! round trips that only gets as fast as the server answers one page. A bot package splits
//! naturally into top-level folders (`crm.gbkb/`, `crm.gbdialog/`, ...): the listing asks
//! for the top level first (delimiter `/`), which returns the objects at the root and the
//! folder names, then lists each folder recursively, up to [`FOLDER_CONCURRENCY`] chains at
//! once. Each folder costs the ceiling of its size over 1 000 requests, so the whole bucket
//! costs at most one request per folder more than a single recursive listing.
//!
//! The [`Lister`] contract stands: the first top-level request is made before the listing is
//! returned,
//! so a missing bucket fails [`ObjectStore::list`](drive_core::ObjectStore::list); an error
//! in any folder fails the listing from [`Lister::next_page`] and it stays failed, never a
//! silently shorter listing. Pages come in the order folders answer, not in key order.
//!
//! Known limits: a top-level folder whose name opendal would rewrite (empty, `.` or `..`)
//! makes the folders fall back to one recursive listing of the bucket; a bucket whose objects sit in
//! one folder lists no faster than one chain of requests.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use drive_core::{Lister, ObjectMeta, StoreError};

use crate::error::{StorageError, classify_s3};
use crate::lister::{ListTarget, OpendalLister};

/// Folders listed at once: enough to hide a server's latency per page, few enough that one
/// bot's listing does not crowd out the others on a shared server.
pub(crate) const FOLDER_CONCURRENCY: usize = 8;

/// A listing of one bucket, folder by folder.
pub(crate) struct FolderFanOutLister {
    op: opendal::Operator,
    bucket: Arc<str>,
    /// The top-level listing, until it has been read to its end.
    top: Option<OpendalLister>,
    folders: Vec<String>,
    /// The folders' pages, once the top level is known.
    pages: Option<BoxStream<'static, Result<Vec<ObjectMeta>, StoreError>>>,
    failed: bool,
}

impl FolderFanOutLister {
    /// Starts the listing with the first request for the bucket's top level.
    ///
    /// # Errors
    /// The classified error of that request.
    pub(crate) async fn start(op: opendal::Operator, bucket: &str) -> Result<Self, StoreError> {
        let top = OpendalLister::start(&op, folder_target(bucket, "", false)).await?;
        Ok(Self {
            op,
            bucket: Arc::from(bucket),
            top: Some(top),
            folders: Vec::new(),
            pages: None,
            failed: false,
        })
    }

    /// Returns the next page of objects at the top level, `None` once it is read.
    async fn next_top_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        while let Some(top) = &mut self.top {
            let Some(page) = top.next_page().await? else {
                self.top = None;
                break;
            };
            // Below the delimiter every key ending in `/` is a folder: an object named like
            // one (a placeholder) is listed with the folder's contents.
            let (folders, objects): (Vec<ObjectMeta>, Vec<ObjectMeta>) =
                page.into_iter().partition(|meta| meta.key.as_str().ends_with('/'));
            self.folders.extend(folders.into_iter().map(|meta| meta.key.as_str().to_owned()));
            if !objects.is_empty() {
                return Ok(Some(objects));
            }
        }
        Ok(None)
    }

    /// Returns the pages of every folder, listed concurrently.
    fn folder_pages(&mut self) -> BoxStream<'static, Result<Vec<ObjectMeta>, StoreError>> {
        let folders = std::mem::take(&mut self.folders);
        let (op, bucket) = (self.op.clone(), self.bucket.clone());
        if folders.iter().all(|folder| addressable(folder)) {
            return stream::iter(folders)
                .map(move |folder| folder_pages(op.clone(), bucket.clone(), folder))
                .flatten_unordered(FOLDER_CONCURRENCY)
                .boxed();
        }
        // The objects at the top level were listed already.
        folder_pages(op, bucket, String::new())
            .map_ok(|page| {
                page.into_iter().filter(|meta| meta.key.as_str().contains('/')).collect()
            })
            .boxed()
    }

    async fn next_page_or_fail(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        if let Some(page) = self.next_top_page().await? {
            return Ok(Some(page));
        }
        if self.pages.is_none() {
            self.pages = Some(self.folder_pages());
        }
        let Some(pages) = &mut self.pages else { return Ok(None) };
        loop {
            match pages.next().await.transpose()? {
                Some(page) if page.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }
}

#[async_trait]
impl Lister for FolderFanOutLister {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        if self.failed {
            return Err(StoreError::Unavailable(Box::new(StorageError::ListingAborted)));
        }
        let page = self.next_page_or_fail().await;
        self.failed = page.is_err();
        page
    }
}

/// Returns the pages of a recursive listing of `folder` (the whole bucket when empty).
fn folder_pages(
    op: opendal::Operator,
    bucket: Arc<str>,
    folder: String,
) -> BoxStream<'static, Result<Vec<ObjectMeta>, StoreError>> {
    stream::try_unfold(None::<OpendalLister>, move |lister| {
        let (op, bucket, folder) = (op.clone(), bucket.clone(), folder.clone());
        async move {
            let mut lister = match lister {
                Some(lister) => lister,
                None => OpendalLister::start(&op, folder_target(&bucket, &folder, true)).await?,
            };
            Ok(lister.next_page().await?.map(|page| (page, Some(lister))))
        }
    })
    .boxed()
}

fn folder_target<'a>(bucket: &'a str, folder: &'a str, recursive: bool) -> ListTarget<'a> {
    ListTarget { bucket, prefix: "", folder, recursive, classify: classify_s3, enrich: None }
}

/// Returns true when opendal passes `folder` (`name/`) to the server unchanged.
fn addressable(folder: &str) -> bool {
    let name = folder.strip_suffix('/').unwrap_or(folder);
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_folder_names_are_listed_on_their_own() {
        assert!(addressable("crm.gbkb/"));
        assert!(addressable("with space/"));
        for odd in ["/", "./", "../", "a/b/"] {
            assert!(!addressable(odd), "{odd}");
        }
    }
}
