//! Limits on what all bots together ask of the storage: requests in flight and requests per
//! second.
//!
//! [`LimitedObjectStore`] wraps any [`ObjectStore`] and makes every call wait for a permit
//! of a shared semaphore (a cap on concurrent requests, however many bots run cycles) and
//! for a token of a shared [`RateLimit`] (a token bucket over requests per second). One
//! request is one page of a listing, one read, one stat or one listing of the buckets: the
//! calls of the port, so on S3 a listing that fans out over folders counts one request per
//! page it returns, whatever it sent to fetch it.
//!
//! The per-bot `read_concurrency` of the monitor still applies; these limits sit on top,
//! for deployments with many bots whose cycles would together flood the storage.
//!
//! Known limits: a caller dropped while it waits for its turn in the token bucket gives up
//! its place without returning it, so the rate seen by the storage can fall a little below
//! the limit under heavy cancellation; it never rises above it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use drive_core::{BotName, Lister, ObjectKey, ObjectMeta, ObjectStore, StoreError};

/// An [`ObjectStore`] whose calls wait for the shared [`StorageLimits`].
#[derive(Debug)]
pub struct LimitedObjectStore {
    inner: Arc<dyn ObjectStore>,
    limits: Arc<StorageLimits>,
}

/// The limits every store wrapped with them shares.
#[derive(Debug, Default)]
pub struct StorageLimits {
    /// Requests in flight at once; `None` for no cap.
    in_flight: Option<Semaphore>,
    /// Requests started per second; `None` for no cap.
    rate: Option<RateLimit>,
}

/// A token bucket: at most `per_second` requests a second on average, with bursts of up to
/// one second's worth after a quiet spell.
///
/// Waiters are served in the order they asked (each reserves the next free slot).
#[derive(Debug)]
pub struct RateLimit {
    /// Time between two tokens.
    interval: Duration,
    /// How far ahead of the schedule a burst may run.
    burst: Duration,
    /// The time the next token is due at if nobody had waited: the bucket's schedule.
    next_due: Mutex<Option<Instant>>,
}

impl LimitedObjectStore {
    pub fn new(inner: Arc<dyn ObjectStore>, limits: Arc<StorageLimits>) -> Self {
        Self { inner, limits }
    }
}

impl StorageLimits {
    /// Returns limits of at most `max_in_flight` requests at once (`0` for no cap) and at
    /// most `per_second` requests a second (`None`, zero or less for no cap).
    pub fn new(max_in_flight: usize, per_second: Option<f64>) -> Self {
        Self {
            in_flight: (max_in_flight > 0).then(|| Semaphore::new(max_in_flight)),
            rate: per_second.and_then(RateLimit::per_second),
        }
    }

    /// Returns true when neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.in_flight.is_none() && self.rate.is_none()
    }

    /// Waits for a turn: a permit, then a token. The permit is held until the returned guard
    /// is dropped.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped wait holds nothing (see the module's known limits for the rate).
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        let permit = match &self.in_flight {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(semaphore) => semaphore.acquire().await.ok(),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.wait().await;
        }
        permit
    }
}

impl RateLimit {
    /// Returns a limit of `per_second` requests a second; `None` when it is not positive.
    pub fn per_second(per_second: f64) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let interval = Duration::from_secs_f64(1.0 / per_second);
        let burst = interval.mul_f64(per_second.max(1.0).floor() - 1.0);
        Some(Self { interval, burst, next_due: Mutex::new(None) })
    }

    /// Waits until this caller's token is due.
    ///
    /// # Cancel safety
    /// Cancel safe, but the slot a dropped caller reserved stays used.
    pub async fn wait(&self) {
        let now = Instant::now();
        let start_at = {
            let mut next_due = self.next_due.lock().unwrap_or_else(|poison| poison.into_inner());
            // After a quiet spell the schedule restarts a burst's length in the past, so up
            // to a burst of requests go at once.
            let earliest = now.checked_sub(self.burst).unwrap_or(now);
            let due = next_due.map_or(earliest, |due| due.max(earliest));
            *next_due = Some(due + self.interval);
            due
        };
        if start_at > now {
            tokio::time::sleep_until(start_at).await;
        }
    }
}

#[async_trait]
impl ObjectStore for LimitedObjectStore {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        let _turn = self.limits.acquire().await;
        self.inner.list_bots().await
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        let inner = self.inner.list(bot).await?;
        Ok(Box::new(LimitedLister { inner, limits: self.limits.clone() }))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        let _turn = self.limits.acquire().await;
        self.inner.read(bot, key, limit).await
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let _turn = self.limits.acquire().await;
        self.inner.stat(bot, key).await
    }
}

/// A listing whose every page waits for its turn.
struct LimitedLister {
    inner: Box<dyn Lister>,
    limits: Arc<StorageLimits>,
}

#[async_trait]
impl Lister for LimitedLister {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        let _turn = self.limits.acquire().await;
        self.inner.next_page().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::StreamExt as _;

    use super::*;

    /// A store whose reads take one second and that remembers how many ran at once.
    #[derive(Debug, Default)]
    struct SlowStore {
        running: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    #[async_trait]
    impl ObjectStore for SlowStore {
        async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
            Ok(Vec::new())
        }

        async fn list(&self, _bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
            Err(StoreError::NotFound)
        }

        async fn read(&self, _: &BotName, _: &ObjectKey, _: u64) -> Result<Bytes, StoreError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Bytes::new())
        }

        async fn stat(&self, _: &BotName, _: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
            Ok(None)
        }
    }

    /// Reads `n_reads` objects through `store`, all asked for at once.
    async fn read_many(store: &LimitedObjectStore, n_reads: usize) {
        let bot = BotName::new("crm").unwrap();
        let key = ObjectKey::new("crm.gbkb/a.md");
        let reads = futures::stream::iter(0..n_reads).map(|_| store.read(&bot, &key, 10));
        let results: Vec<_> = reads.buffer_unordered(n_reads).collect().await;
        assert!(results.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_the_cap_of_reads_are_in_flight_across_stores() {
        let slow = Arc::new(SlowStore::default());
        let limits = Arc::new(StorageLimits::new(2, None));
        let one = LimitedObjectStore::new(slow.clone(), limits.clone());
        let other = LimitedObjectStore::new(slow.clone(), limits);

        let started = Instant::now();
        tokio::join!(read_many(&one, 5), read_many(&other, 5));
        assert_eq!(slow.most_at_once.load(Ordering::SeqCst), 2);
        // Ten one-second reads, two at a time.
        assert!(started.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_paced_to_the_rate_after_a_burst() {
        let store = Arc::new(SlowStore::default());
        let limits = Arc::new(StorageLimits::new(0, Some(10.0)));
        let limited = LimitedObjectStore::new(store.clone(), limits);
        let bot = BotName::new("crm").unwrap();
        let key = ObjectKey::new("crm.gbkb/a.md");

        let started = Instant::now();
        for _ in 0..30 {
            limited.stat(&bot, &key).await.unwrap();
        }
        // A burst of 10, then 20 more at 10 a second.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1_900), "took {elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn listing_pages_wait_for_their_turn_too() {
        let memory = Arc::new(crate::MemoryObjectStore::new());
        let bot = BotName::new("crm").unwrap();
        memory.create_bucket(&bot.bucket()).unwrap();
        for idx in 0..2_500 {
            memory.put(&bot.bucket(), &format!("crm.gbkb/{idx}.md"), "x").await.unwrap();
        }
        let limits = Arc::new(StorageLimits::new(1, Some(1.0)));
        let limited = LimitedObjectStore::new(memory, limits);

        let started = Instant::now();
        let mut lister = limited.list(&bot).await.unwrap();
        let mut n_pages = 0;
        while lister.next_page().await.unwrap().is_some() {
            n_pages += 1;
        }
        assert_eq!(n_pages, 3);
        // Four requests (three pages and the end) at one a second, the first at once.
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[test]
    fn no_cap_and_no_rate_is_unlimited() {
        assert!(StorageLimits::new(0, None).is_unlimited());
        assert!(StorageLimits::new(0, Some(0.0)).is_unlimited());
        assert!(!StorageLimits::new(3, None).is_unlimited());
    }
}
