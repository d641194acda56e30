//! In-memory fakes of the ports, with scriptable faults, for tests of this and other crates.
//!
//! Behind the `test-util` feature; never used by the service itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    BotName, CompiledScript, ConfigSink, ContentHash, Diagnostic, ETag, FileRecord, FileStateStore,
    Lister, ObjectKey, ObjectMeta, ObjectStore, PersistError, PromptSink, RegisteredTool,
    ScriptRegistry, ScriptState, Setting, StateUpdate, StoreError, Timestamp,
};

pub use crate::knowledge::memory::MemoryKnowledgeIndexForTests;

/// Uses up one of the failures scheduled in `counter`; returns true when one was left.
fn take_failure(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// Fails a write as a database that is down would, while failures are scheduled.
fn refuse_write(counter: &AtomicUsize) -> Result<(), PersistError> {
    if take_failure(counter) {
        return Err(PersistError::Unavailable("write refused by the fake".into()));
    }
    Ok(())
}

/// Objects of one bucket with their content.
type Bucket = BTreeMap<ObjectKey, (ObjectMeta, Bytes)>;
/// Settings of one bot: name to value and the object it came from.
type BotSettings = BTreeMap<String, (String, ObjectKey)>;

/// An object store held in memory, whose listings can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryObjectStoreForTests {
    buckets: Mutex<BTreeMap<BotName, Bucket>>,
    /// Number of upcoming `list` calls that fail with `Unavailable`.
    failing_lists: AtomicUsize,
    /// When set, listings fail after this many pages.
    fail_after_pages: Mutex<Option<usize>>,
    page_size: Mutex<Option<usize>>,
    writes: AtomicUsize,
    reads: AtomicUsize,
}

impl MemoryObjectStoreForTests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty bucket for `bot`.
    pub fn add_bot(&self, bot: &BotName) {
        self.buckets.lock().unwrap().entry(bot.clone()).or_default();
    }

    /// Writes an object; its ETag is derived from a write counter, as S3 would change it.
    pub fn put(&self, bot: &BotName, key: &str, content: impl Into<Bytes>) {
        let content = content.into();
        let n_write = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let meta = ObjectMeta {
            key: ObjectKey::new(key),
            etag: ETag::parse(&format!("\"{:x}-{n_write}\"", content.len())),
            size: content.len() as u64,
            last_modified: Some(Timestamp::from_nanos(n_write as i64)),
            content_hash: None,
        };
        let mut buckets = self.buckets.lock().unwrap();
        buckets.entry(bot.clone()).or_default().insert(meta.key.clone(), (meta, content));
    }

    /// Writes an object with the same content but a new ETag (a multipart re-upload).
    pub fn retag(&self, bot: &BotName, key: &str) {
        let content = self.buckets.lock().unwrap()[bot][&ObjectKey::new(key)].1.clone();
        self.put(bot, key, content);
    }

    pub fn delete(&self, bot: &BotName, key: &str) {
        if let Some(bucket) = self.buckets.lock().unwrap().get_mut(bot) {
            bucket.remove(&ObjectKey::new(key));
        }
    }

    /// Makes the next `n` calls to `list` fail.
    pub fn fail_next_lists(&self, n: usize) {
        self.failing_lists.store(n, Ordering::SeqCst);
    }

    /// Makes listings fail after `pages` pages (a truncated listing), or heal with `None`.
    pub fn fail_listings_after(&self, pages: Option<usize>) {
        *self.fail_after_pages.lock().unwrap() = pages;
    }

    /// Sets the number of entries per listing page (default: everything in one page).
    pub fn set_page_size(&self, size: usize) {
        *self.page_size.lock().unwrap() = Some(size);
    }

    /// Returns how many object reads were made.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStoreForTests {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        Ok(self.buckets.lock().unwrap().keys().cloned().collect())
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        if take_failure(&self.failing_lists) {
            return Err(StoreError::Unavailable("listing refused by the fake".into()));
        }
        let buckets = self.buckets.lock().unwrap();
        let bucket = buckets.get(bot).ok_or(StoreError::NotFound)?;
        let entries: Vec<ObjectMeta> = bucket.values().map(|(meta, _)| meta.clone()).collect();
        let page_size = self.page_size.lock().unwrap().unwrap_or(entries.len().max(1));
        let pages: Vec<Vec<ObjectMeta>> = entries.chunks(page_size).map(<[_]>::to_vec).collect();
        let fail_after = *self.fail_after_pages.lock().unwrap();
        Ok(Box::new(VecLister { pages: pages.into_iter(), served: 0, fail_after }))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let buckets = self.buckets.lock().unwrap();
        let (meta, bytes) =
            buckets.get(bot).and_then(|b| b.get(key)).ok_or(StoreError::NotFound)?;
        if meta.size > limit {
            return Err(StoreError::TooLarge { size: meta.size, limit });
        }
        Ok(bytes.clone())
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let buckets = self.buckets.lock().unwrap();
        Ok(buckets.get(bot).and_then(|b| b.get(key)).map(|(meta, _)| meta.clone()))
    }
}

struct VecLister {
    pages: std::vec::IntoIter<Vec<ObjectMeta>>,
    served: usize,
    fail_after: Option<usize>,
}

#[async_trait]
impl Lister for VecLister {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError> {
        if self.fail_after.is_some_and(|limit| self.served >= limit) {
            return Err(StoreError::Unavailable("listing cut short by the fake".into()));
        }
        self.served += 1;
        Ok(self.pages.next())
    }
}

/// File state held in memory, whose commits can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryStateStoreForTests {
    bots: Mutex<BTreeMap<BotName, HashMap<ObjectKey, FileRecord>>>,
    failing_commits: AtomicUsize,
    commits: AtomicUsize,
}

impl MemoryStateStoreForTests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` commits fail as if the database were down.
    pub fn fail_next_commits(&self, n: usize) {
        self.failing_commits.store(n, Ordering::SeqCst);
    }

    /// Returns the record of one key.
    pub fn record(&self, bot: &BotName, key: &str) -> Option<FileRecord> {
        self.bots.lock().unwrap().get(bot)?.get(&ObjectKey::new(key)).cloned()
    }

    /// Returns how many commits succeeded.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl FileStateStore for MemoryStateStoreForTests {
    async fn load(&self, bot: &BotName) -> Result<Vec<FileRecord>, PersistError> {
        let bots = self.bots.lock().unwrap();
        Ok(bots.get(bot).map(|records| records.values().cloned().collect()).unwrap_or_default())
    }

    async fn commit(&self, bot: &BotName, updates: &[StateUpdate]) -> Result<(), PersistError> {
        if take_failure(&self.failing_commits) {
            return Err(PersistError::Unavailable("commit refused by the fake".into()));
        }
        let mut bots = self.bots.lock().unwrap();
        let records = bots.entry(bot.clone()).or_default();
        for update in updates {
            match update {
                StateUpdate::Upsert(record) => {
                    records.insert(record.key().clone(), record.clone());
                }
                StateUpdate::Remove(key) => {
                    records.remove(key);
                }
            }
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn bots(&self) -> Result<Vec<BotName>, PersistError> {
        Ok(self.bots.lock().unwrap().keys().cloned().collect())
    }
}

/// Settings and prompts held in memory.
#[derive(Debug, Default)]
pub struct MemorySinkForTests {
    settings: Mutex<BTreeMap<BotName, BotSettings>>,
    prompts: Mutex<BTreeMap<BotName, BTreeMap<ObjectKey, String>>>,
    failing: AtomicUsize,
}

impl MemorySinkForTests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` writes fail as if the database were down.
    pub fn fail_next_writes(&self, n: usize) {
        self.failing.store(n, Ordering::SeqCst);
    }

    fn check_failure(&self) -> Result<(), PersistError> {
        refuse_write(&self.failing)
    }
}

#[async_trait]
impl ConfigSink for MemorySinkForTests {
    async fn replace_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        settings: &[Setting],
    ) -> Result<Vec<String>, PersistError> {
        self.check_failure()?;
        let mut all = self.settings.lock().unwrap();
        let current = all.entry(bot.clone()).or_default();
        let before: BTreeMap<String, String> =
            current.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
        current.retain(|_, (_, from)| from != source);
        for setting in settings {
            current.insert(setting.name.clone(), (setting.value.clone(), source.clone()));
        }
        let mut changed: Vec<String> = current
            .iter()
            .filter(|(k, (v, _))| before.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        changed.extend(before.keys().filter(|k| !current.contains_key(*k)).cloned());
        changed.sort();
        Ok(changed)
    }

    async fn remove_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Vec<String>, PersistError> {
        self.replace_settings(bot, source, &[]).await
    }

    async fn settings(&self, bot: &BotName) -> Result<Vec<Setting>, PersistError> {
        let all = self.settings.lock().unwrap();
        let Some(current) = all.get(bot) else { return Ok(Vec::new()) };
        Ok(current.iter().map(|(k, (v, _))| Setting::new(k, v)).collect())
    }
}

#[async_trait]
impl PromptSink for MemorySinkForTests {
    async fn set_prompt(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        text: &str,
    ) -> Result<(), PersistError> {
        self.check_failure()?;
        let mut prompts = self.prompts.lock().unwrap();
        prompts.entry(bot.clone()).or_default().insert(source.clone(), text.to_owned());
        Ok(())
    }

    async fn remove_prompt(&self, bot: &BotName, source: &ObjectKey) -> Result<(), PersistError> {
        self.check_failure()?;
        if let Some(prompts) = self.prompts.lock().unwrap().get_mut(bot) {
            prompts.remove(source);
        }
        Ok(())
    }

    async fn prompt(&self, bot: &BotName) -> Result<Option<String>, PersistError> {
        let prompts = self.prompts.lock().unwrap();
        let texts: Vec<&str> =
            prompts.get(bot).map(|p| p.values().map(String::as_str).collect()).unwrap_or_default();
        Ok(if texts.is_empty() { None } else { Some(texts.join("\n\n")) })
    }
}

/// A script registry held in memory, with the same semantics as the database adapters.
#[derive(Debug, Default)]
pub struct MemoryScriptRegistryForTests {
    scripts: Mutex<BTreeMap<(BotName, ObjectKey), ScriptState>>,
    failing: AtomicUsize,
}

impl MemoryScriptRegistryForTests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` writes fail as if the database were down.
    pub fn fail_next_writes(&self, n: usize) {
        self.failing.store(n, Ordering::SeqCst);
    }

    fn check_failure(&self) -> Result<(), PersistError> {
        refuse_write(&self.failing)
    }

    fn live_entries(
        &self,
        bot: &BotName,
        pick: impl Fn(&CompiledScript) -> Vec<String>,
    ) -> Vec<(ObjectKey, String)> {
        let scripts = self.scripts.lock().unwrap();
        let mut out: Vec<(ObjectKey, String)> = scripts
            .iter()
            .filter(|((b, _), _)| b == bot)
            .filter_map(|((_, key), state)| Some((key, state.live.as_ref()?)))
            .flat_map(|(key, live)| pick(live).into_iter().map(|v| (key.clone(), v)))
            .collect();
        out.sort();
        out
    }
}

#[async_trait]
impl ScriptRegistry for MemoryScriptRegistryForTests {
    async fn publish(
        &self,
        bot: &BotName,
        script: &CompiledScript,
    ) -> Result<Vec<ObjectKey>, PersistError> {
        self.check_failure()?;
        let mut scripts = self.scripts.lock().unwrap();
        let state = ScriptState { live: Some(script.clone()), failure: None };
        scripts.insert((bot.clone(), script.key.clone()), state);
        let Some(name) = script.tool.as_ref().map(|t| &t.name) else { return Ok(Vec::new()) };
        let mut same_name: Vec<ObjectKey> = scripts
            .iter()
            .filter(|((b, key), _)| b == bot && *key != script.key)
            .filter(|(_, state)| {
                state.live.as_ref().and_then(|l| l.tool.as_ref()).is_some_and(|t| &t.name == name)
            })
            .map(|((_, key), _)| key.clone())
            .collect();
        same_name.sort();
        Ok(same_name)
    }

    async fn record_failure(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        content_hash: &ContentHash,
        diagnostics: &[Diagnostic],
    ) -> Result<(), PersistError> {
        self.check_failure()?;
        let mut scripts = self.scripts.lock().unwrap();
        let state = scripts
            .entry((bot.clone(), key.clone()))
            .or_insert(ScriptState { live: None, failure: None });
        state.failure = Some((*content_hash, diagnostics.to_vec()));
        Ok(())
    }

    async fn remove(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        self.check_failure()?;
        self.scripts.lock().unwrap().remove(&(bot.clone(), key.clone()));
        Ok(())
    }

    async fn tools(&self, bot: &BotName) -> Result<Vec<RegisteredTool>, PersistError> {
        let scripts = self.scripts.lock().unwrap();
        let mut tools: Vec<RegisteredTool> = scripts
            .iter()
            .filter(|((b, _), _)| b == bot)
            .filter_map(|((_, key), state)| {
                let tool = state.live.as_ref()?.tool.clone()?;
                Some(RegisteredTool { key: key.clone(), tool })
            })
            .collect();
        tools.sort_by(|a, b| (&a.tool.name, &a.key).cmp(&(&b.tool.name, &b.key)));
        Ok(tools)
    }

    async fn script(
        &self,
        bot: &BotName,
        key: &ObjectKey,
    ) -> Result<Option<ScriptState>, PersistError> {
        Ok(self.scripts.lock().unwrap().get(&(bot.clone(), key.clone())).cloned())
    }

    async fn schedules(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        Ok(self.live_entries(bot, |live| live.schedules.clone()))
    }

    async fn webhooks(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        Ok(self.live_entries(bot, |live| live.webhooks.clone()))
    }
}
