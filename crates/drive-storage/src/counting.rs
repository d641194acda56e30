//! Request counting: how many LIST, GET and HEAD requests a scan cost.
//!
//! Two views share one [`RequestCounter`]:
//!
//! - on S3, [`S3ObjectStore::with_request_counter`](crate::S3ObjectStore::with_request_counter)
//!   counts at the HTTP transport, so every request opendal sends is seen exactly as it goes
//!   on the wire (a `list-type` or `delimiter` query is a LIST, other GETs are object reads);
//! - on any backend, [`CountingObjectStore`] counts at the [`ObjectStore`] port: one LIST
//!   per page of a listing (and one for a listing that comes back empty), one GET per read,
//!   one HEAD per stat. On the memory and filesystem backends these are the requests an S3
//!   server would have seen for the same calls.
//!
//! Counting costs one relaxed atomic increment per request. This module does not time
//! requests or count bytes; metrics do that.
//!
//! Known limits: bucket discovery (ListBuckets) is signed and sent outside opendal and is not
//! counted by the transport view; the port view counts it as `other`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use opendal::{Buffer, HttpBody, HttpTransport};
use opendal_http_transport_reqwest::ReqwestTransport;

use drive_core::{BotName, Lister, ObjectKey, ObjectMeta, ObjectStore, StoreError};

/// Request totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Listing requests (ListObjectsV2 pages).
    pub list: u64,
    /// Object reads.
    pub get: u64,
    /// Object stats.
    pub head: u64,
    /// Everything else (writes, deletes, bucket calls).
    pub other: u64,
}

impl RequestCounts {
    /// Returns the number of requests of every type.
    pub fn total(&self) -> u64 {
        self.list + self.get + self.head + self.other
    }
}

/// Shared request counters; clones count into the same totals.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    list: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    other: AtomicU64,
}

/// The type of one request, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestType {
    List,
    Get,
    Head,
    Other,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the totals counted so far.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            list: self.0.list.load(Ordering::Relaxed),
            get: self.0.get.load(Ordering::Relaxed),
            head: self.0.head.load(Ordering::Relaxed),
            other: self.0.other.load(Ordering::Relaxed),
        }
    }

    /// Sets every total back to zero.
    pub fn reset(&self) {
        for counter in [&self.0.list, &self.0.get, &self.0.head, &self.0.other] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub(crate) fn count(&self, request: RequestType) {
        let counter = match request {
            RequestType::List => &self.0.list,
            RequestType::Get => &self.0.get,
            RequestType::Head => &self.0.head,
            RequestType::Other => &self.0.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// An HTTP transport that counts each request by type before sending it.
#[derive(Debug)]
pub(crate) struct CountingTransport {
    pub(crate) inner: ReqwestTransport,
    pub(crate) counter: RequestCounter,
}

impl HttpTransport for CountingTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        self.counter.count(request_type(req.method(), req.uri().query()));
        self.inner.fetch(req).await
    }
}

/// Returns the S3 request type of a method and query string.
pub(crate) fn request_type(method: &http::Method, query: Option<&str>) -> RequestType {
    let is_listing = query.is_some_and(|query| {
        query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            name == "list-type" || name == "delimiter"
        })
    });
    match *method {
        http::Method::GET if is_listing => RequestType::List,
        http::Method::GET => RequestType::Get,
        http::Method::HEAD => RequestType::Head,
        _ => RequestType::Other,
    }
}

/// An [`ObjectStore`] that counts the requests its calls stand for, then delegates.
#[derive(Debug)]
pub struct CountingObjectStore<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S: ObjectStore> CountingObjectStore<S> {
    pub fn new(inner: S, counter: RequestCounter) -> Self {
        Self { inner, counter }
    }

    pub fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for CountingObjectStore<S> {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        self.counter.count(RequestType::Other);
        self.inner.list_bots().await
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        // The first page is requested when the listing starts, whatever it holds.
        self.counter.count(RequestType::List);
        let inner = self.inner.list(bot).await?;
        Ok(Box::new(CountingLister { inner, counter: self.counter.clone(), pages: 0 }))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        self.counter.count(RequestType::Get);
        self.inner.read(bot, key, limit).await
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        self.counter.count(RequestType::Head);
        self.inner.stat(bot, key).await
    }
}

/// Counts every page after the first as one more LIST request.
struct CountingLister {
    inner: Box<dyn Lister>,
    counter: RequestCounter,
    pages: u64,
}

#[async_trait]
impl Lister for CountingLister {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        let page = self.inner.next_page().await?;
        if page.is_some() {
            if self.pages > 0 {
                self.counter.count(RequestType::List);
            }
            self.pages += 1;
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_typed_by_method_and_listing_query() {
        let get = http::Method::GET;
        assert_eq!(request_type(&get, Some("list-type=2&max-keys=1000")), RequestType::List);
        assert_eq!(request_type(&get, Some("delimiter=%2F&prefix=")), RequestType::List);
        assert_eq!(request_type(&get, None), RequestType::Get);
        assert_eq!(request_type(&get, Some("x-id=GetObject")), RequestType::Get);
        assert_eq!(request_type(&http::Method::HEAD, None), RequestType::Head);
        assert_eq!(request_type(&http::Method::PUT, None), RequestType::Other);
    }

    #[test]
    fn clones_share_totals_and_reset_clears_them() {
        let counter = RequestCounter::new();
        let clone = counter.clone();
        clone.count(RequestType::List);
        clone.count(RequestType::List);
        counter.count(RequestType::Head);
        let counts = counter.snapshot();
        assert_eq!((counts.list, counts.get, counts.head, counts.total()), (2, 0, 1, 3));
        counter.reset();
        assert_eq!(clone.snapshot(), RequestCounts::default());
    }
}
