//! An object store held in memory on opendal's memory service, for tests and demos.
//!
//! All buckets share one opendal memory operator, each under its own folder
//! (`crm.gbai/...`). opendal's memory service keeps content and size but no ETag and no
//! modification time, so this store records both for every object it writes: the ETag is
//! derived from the content (as S3 derives it from an MD5), the time is the write time,
//! strictly increasing. Tests create buckets and write objects through
//! [`MemoryObjectStore::create_bucket`] and [`MemoryObjectStore::put`].
//!
//! opendal's memory listing returns bare keys; opendal completes each with an in-memory
//! lookup for its size, and this store adds the recorded ETag and time.
//!
//! Known limits: folder placeholders (`docs/`) cannot be stored, because opendal's memory
//! service refuses writes to folder paths; two concurrent writes to one key may leave the
//! content of one with the recorded version of the other; contents live as long as the
//! store.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use drive_core::{
    BotName, ContentHash, ETag, Lister, ObjectKey, ObjectMeta, ObjectStore, StoreError, Timestamp,
};

use crate::backend::BucketPath;
use crate::error::{classify, unsafe_key};
use crate::keys::{KeyPolicy, check_key};
use crate::lister::Enricher;

/// An [`ObjectStore`] in memory, whose buckets and objects tests create directly.
pub struct MemoryObjectStore {
    op: opendal::Operator,
    buckets: Mutex<BTreeSet<String>>,
    /// ETag and write time of every object, by operator path (`crm.gbai/key`).
    versions: Arc<Mutex<HashMap<String, Version>>>,
    last_write: AtomicI64,
}

#[derive(Clone, Debug)]
struct Version {
    etag: Option<ETag>,
    last_modified: Timestamp,
}

impl std::fmt::Debug for MemoryObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryObjectStore").field("buckets", &*lock(&self.buckets)).finish()
    }
}

impl Default for MemoryObjectStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryObjectStore {
    /// Returns an empty store.
    pub fn new() -> Self {
        let op = opendal::Operator::new(opendal::services::Memory::default())
            .expect("opendal's memory service has no settings that can be rejected");
        Self {
            op,
            buckets: Mutex::default(),
            versions: Arc::default(),
            last_write: AtomicI64::new(0),
        }
    }

    /// Creates an empty bucket named `bucket` (`crm.gbai`, or any other name); creating an
    /// existing bucket does nothing.
    ///
    /// # Errors
    /// [`StoreError::UnsafeKey`] for an empty name or one containing `/`.
    pub fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        check_bucket_name(bucket)?;
        lock(&self.buckets).insert(bucket.to_owned());
        Ok(())
    }

    /// Removes a bucket and everything in it; removing a missing bucket does nothing.
    ///
    /// # Errors
    /// [`StoreError::UnsafeKey`] for an invalid bucket name.
    pub async fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        check_bucket_name(bucket)?;
        let prefix = format!("{bucket}/");
        self.op.delete_with(&prefix).recursive(true).await.map_err(classify)?;
        lock(&self.versions).retain(|path, _| !path.starts_with(&prefix));
        lock(&self.buckets).remove(bucket);
        Ok(())
    }

    /// Writes an object, replacing any previous content; its ETag follows the content and
    /// its modification time is later than that of any earlier write.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the bucket does not exist; [`StoreError::UnsafeKey`] for
    /// keys [`ObjectStore::read`] would refuse, including folder placeholders.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        content: impl Into<Bytes>,
    ) -> Result<(), StoreError> {
        let path = self.object_path(bucket, key)?;
        if key.ends_with('/') {
            return Err(unsafe_key(key, "the memory backend cannot hold folder placeholders"));
        }

        let content = content.into();
        let version =
            Version { etag: content_etag(&content), last_modified: self.next_write_time() };
        self.op.write(&path, content).await.map_err(classify)?;
        lock(&self.versions).insert(path, version);
        Ok(())
    }

    /// Deletes an object; deleting a missing object does nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the bucket does not exist; [`StoreError::UnsafeKey`] for
    /// invalid keys.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let path = self.object_path(bucket, key)?;
        self.op.delete(&path).await.map_err(classify)?;
        lock(&self.versions).remove(&path);
        Ok(())
    }

    fn object_path(&self, bucket: &str, key: &str) -> Result<String, StoreError> {
        check_bucket_name(bucket)?;
        check_key(key, KeyPolicy::Remote)?;
        if !lock(&self.buckets).contains(bucket) {
            return Err(StoreError::NotFound);
        }
        Ok(format!("{bucket}/{key}"))
    }

    fn bucket_path<'a>(&'a self, bucket: &'a str) -> BucketPath<'a> {
        BucketPath {
            op: &self.op,
            bucket,
            prefix: format!("{bucket}/"),
            policy: KeyPolicy::Remote,
            classify,
        }
    }

    fn has_bucket(&self, bucket: &str) -> bool {
        lock(&self.buckets).contains(bucket)
    }

    fn next_write_time(&self) -> Timestamp {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_nanos()).ok())
            .unwrap_or(0);
        // Two writes in the same nanosecond still get distinct, increasing times.
        let next = |previous: i64| now.max(previous.saturating_add(1));
        let previous = self
            .last_write
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |previous| Some(next(previous)))
            .unwrap_or_else(|previous| previous);
        Timestamp::from_nanos(next(previous))
    }

    fn enricher(&self, prefix: String) -> Enricher {
        let versions = Arc::clone(&self.versions);
        Arc::new(move |meta: &mut ObjectMeta| {
            let path = format!("{prefix}{}", meta.key.as_str());
            if let Some(version) = lock(&versions).get(&path) {
                meta.etag.clone_from(&version.etag);
                meta.last_modified = Some(version.last_modified);
            }
        })
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        let mut bots: Vec<BotName> =
            lock(&self.buckets).iter().filter_map(|bucket| BotName::from_bucket(bucket)).collect();
        bots.sort();
        Ok(bots)
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        let bucket = bot.bucket();
        if !self.has_bucket(&bucket) {
            return Err(StoreError::NotFound);
        }
        let target = self.bucket_path(&bucket);
        let enrich = self.enricher(target.prefix.clone());
        Ok(Box::new(target.list(Some(enrich)).await?))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        let bucket = bot.bucket();
        if !self.has_bucket(&bucket) {
            return Err(StoreError::NotFound);
        }
        self.bucket_path(&bucket).read(key, limit).await
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let bucket = bot.bucket();
        if !self.has_bucket(&bucket) {
            return Ok(None);
        }
        let target = self.bucket_path(&bucket);
        let Some(mut meta) = target.stat(key).await? else { return Ok(None) };
        if let Some(version) = lock(&self.versions).get(&target.path(key)) {
            meta.etag.clone_from(&version.etag);
            meta.last_modified = Some(version.last_modified);
        }
        Ok(Some(meta))
    }
}

/// Returns the ETag of `content`: 128 bits of its digest, as long as an S3 MD5 tag, so
/// equal content has equal tags.
fn content_etag(content: &[u8]) -> Option<ETag> {
    let digest = ContentHash::of(content).to_hex();
    ETag::parse(digest.get(..32)?)
}

fn check_bucket_name(bucket: &str) -> Result<(), StoreError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(unsafe_key(bucket, "a bucket name must be non-empty and contain no '/'"));
    }
    Ok(())
}

/// Locks `mutex`, carrying on after a panic elsewhere: every update here is a single insert
/// or remove, so the data is never left half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl crate::contract::StoreFixture for MemoryObjectStore {
    fn store(&self) -> &dyn ObjectStore {
        self
    }

    fn has_etags(&self) -> bool {
        true
    }

    fn holds_folder_placeholders(&self) -> bool {
        false
    }

    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        MemoryObjectStore::create_bucket(self, bucket)
    }

    async fn put(&self, bucket: &str, key: &str, content: &[u8]) -> Result<(), StoreError> {
        MemoryObjectStore::put(self, bucket, key, content.to_vec()).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        MemoryObjectStore::delete(self, bucket, key).await
    }

    async fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        MemoryObjectStore::remove_bucket(self, bucket).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::contract::contract_tests!(Box::new(MemoryObjectStore::new()));

    async fn listed(store: &MemoryObjectStore, bot: &BotName) -> Vec<ObjectMeta> {
        let mut lister = store.list(bot).await.unwrap();
        let mut all = Vec::new();
        while let Some(page) = lister.next_page().await.unwrap() {
            all.extend(page);
        }
        all
    }

    #[tokio::test]
    async fn rewriting_the_same_content_keeps_the_etag_but_not_the_time() {
        let store = MemoryObjectStore::new();
        let bot = BotName::new("crm").unwrap();
        store.create_bucket("crm.gbai").unwrap();
        store.put("crm.gbai", "a.md", "same").await.unwrap();
        let first = listed(&store, &bot).await.remove(0);
        store.put("crm.gbai", "a.md", "same").await.unwrap();
        let second = listed(&store, &bot).await.remove(0);

        assert_eq!(first.etag, second.etag);
        assert!(first.last_modified < second.last_modified);
        assert!(first.same_version(&second), "equal content is the same version");
    }

    #[tokio::test]
    async fn writes_to_missing_buckets_are_not_found() {
        let store = MemoryObjectStore::new();
        assert!(matches!(store.put("nope.gbai", "a", "x").await, Err(StoreError::NotFound)));
        assert!(matches!(store.create_bucket("a/b"), Err(StoreError::UnsafeKey { .. })));
    }

    #[tokio::test]
    async fn removing_a_bucket_forgets_its_objects() {
        let store = MemoryObjectStore::new();
        let bot = BotName::new("crm").unwrap();
        store.create_bucket("crm.gbai").unwrap();
        store.put("crm.gbai", "a.md", "x").await.unwrap();
        store.remove_bucket("crm.gbai").await.unwrap();
        store.create_bucket("crm.gbai").unwrap();

        assert!(listed(&store, &bot).await.is_empty());
        assert_eq!(store.stat(&bot, &ObjectKey::new("a.md")).await.unwrap(), None);
    }
}
