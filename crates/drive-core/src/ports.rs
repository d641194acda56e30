//! The ports: traits the monitor talks through, implemented by the adapter crates.
//!
//! They take `&self` and are object safe, so a host application can mix adapters behind
//! `Arc<dyn ...>`; that is why they use `#[async_trait]` rather than native `async fn`.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    BotName, ChangeInput, ContentHash, FileRecord, Kind, ObjectKey, ObjectMeta, Outcome,
    PersistError, StoreError,
};

/// Where bot packages live: one bucket (or folder) per bot.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Returns the bots whose buckets exist, sorted by name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the storage cannot be reached.
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError>;

    /// Starts a recursive listing of a bot's bucket, returned page by page.
    ///
    /// Entries carry the metadata the storage's list call returns (no request per object).
    /// A listing that fails halfway reports the error from [`Lister::next_page`]; callers
    /// must then treat everything they saw as incomplete.
    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError>;

    /// Returns the content of an object, refusing objects larger than `limit` bytes without
    /// reading them.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the object is gone; [`StoreError::TooLarge`] when it is
    /// over `limit`.
    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError>;

    /// Returns the metadata of one object, `None` when it does not exist.
    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError>;
}

/// One listing in progress.
#[async_trait]
pub trait Lister: Send {
    /// Returns the next page of entries, `None` once the listing is complete.
    ///
    /// # Errors
    /// Any error means the listing is cut short: it must not be taken as complete.
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectMeta>>, StoreError>;
}

/// Makes changes of one [`Kind`] live.
///
/// Handlers must be idempotent: after a crash a change may be delivered again, and applying
/// it twice must have no visible effect beyond applying it once.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ChangeHandler: Send + Sync + 'static {
    /// The kind of objects this handler takes.
    fn kind(&self) -> Kind;

    /// Applies the changes of one cycle and returns one outcome per change, in order.
    ///
    /// A failure of one change must not keep the others from being applied. A handler that
    /// returns fewer outcomes than changes has the missing ones counted as retryable
    /// failures.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome>;

    /// Returns, for each of `keys` in order, the content hash of the version whose result
    /// this handler already holds (compiled, stored, indexed), `None` when it holds none or
    /// cannot tell.
    ///
    /// The monitor asks this for new objects it has no record of (after its file state was
    /// lost) and records those whose content hash matches as live without calling
    /// [`ChangeHandler::apply`]. A hash may only be returned once the whole result of that
    /// version is stored, and must be dropped before that result is replaced or removed.
    /// Failing to answer is harmless: `None` only costs an `apply` that changes nothing.
    ///
    /// The default holds nothing: every change is applied, as handlers whose results are
    /// cheap to rebuild may prefer.
    async fn stored_hashes(&self, bot: &BotName, keys: &[ObjectKey]) -> Vec<Option<ContentHash>> {
        let _ = bot;
        vec![None; keys.len()]
    }
}

/// One setting row: a name and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

impl Setting {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// Where a bot's settings go.
///
/// Settings are grouped by the object they came from (`source`), so that removing one
/// `config.csv` takes exactly the settings it provided.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ConfigSink: Send + Sync + 'static {
    /// Replaces, in one transaction, the settings that came from `source` with `settings`,
    /// and returns the names whose effective value changed, sorted.
    async fn replace_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        settings: &[Setting],
    ) -> Result<Vec<String>, PersistError>;

    /// Removes the settings that came from `source`; returns the names removed, sorted.
    async fn remove_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Vec<String>, PersistError>;

    /// Returns the bot's settings sorted by name.
    async fn settings(&self, bot: &BotName) -> Result<Vec<Setting>, PersistError>;
}

/// Where a bot's system prompt goes.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait PromptSink: Send + Sync + 'static {
    /// Stores `text` as the prompt that came from `source`.
    async fn set_prompt(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        text: &str,
    ) -> Result<(), PersistError>;

    /// Removes the prompt that came from `source`.
    async fn remove_prompt(&self, bot: &BotName, source: &ObjectKey) -> Result<(), PersistError>;

    /// Returns the bot's system prompt: the text of every prompt file in key order, joined
    /// by a blank line; `None` when there is none.
    async fn prompt(&self, bot: &BotName) -> Result<Option<String>, PersistError>;
}

/// One write to the file state of a bot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every update is an upsert; boxing would allocate once per record"
)]
pub enum StateUpdate {
    Upsert(FileRecord),
    Remove(ObjectKey),
}

/// What the monitor knows about every object, kept across restarts.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait FileStateStore: Send + Sync + 'static {
    /// Returns every record of `bot` (empty for a bot never seen).
    async fn load(&self, bot: &BotName) -> Result<Vec<FileRecord>, PersistError>;

    /// Applies `updates` in one transaction, registering the bot if needed: either all of
    /// them are stored or none.
    async fn commit(&self, bot: &BotName, updates: &[StateUpdate]) -> Result<(), PersistError>;

    /// Returns the bots that have state, sorted.
    async fn bots(&self) -> Result<Vec<BotName>, PersistError>;
}

/// Names a port in `Debug` output of the structs holding it.
macro_rules! debug_port {
    ($($port:ident),*) => {$(
        impl std::fmt::Debug for dyn $port {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($port))
            }
        }
    )*};
}

debug_port!(ObjectStore, FileStateStore, ConfigSink, PromptSink);

impl std::fmt::Debug for dyn ChangeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChangeHandler({})", self.kind())
    }
}
