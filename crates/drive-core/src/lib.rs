//! The heart of Drive Monitor: what a bot package is, how a listing becomes a set of changes,
//! and the loop that turns changes into calls to handlers.
//!
//! This crate does no IO of its own. It knows no S3, SQL, HTTP or WebSocket; it talks to the
//! world only through the ports in [`ports`], which other crates implement:
//!
//! - [`ObjectStore`]: where bot packages live (filesystem, memory, S3).
//! - [`FileStateStore`]: what the monitor knows about every object it has seen.
//! - [`ChangeHandler`]: one per [`Kind`] of object; makes a change live.
//! - [`ConfigSink`] and [`PromptSink`]: where a bot's settings and system prompt go.
//! - [`EventBus`]: where handlers tell a bot's live clients what changed.
//! - [`ScriptRegistry`]: compiled scripts, the tool registry and manifest entries.
//! - [`ThemeAssetStore`]: the live version of every theme file, served to browsers.
//! - [`KnowledgeIndex`] and [`Embedder`]: document chunks with their lexical index and
//!   vectors, and the model that makes the vectors.
//!
//! [`diff`] compares a listing with the known state, held in memory as [`KnownObjects`];
//! [`Monitor`] runs one task per bot that lists, diffs, reads what changed, calls the
//! handlers and records the outcome.

mod bot;
mod change;
pub mod diff;
mod error;
mod event;
mod kind;
pub mod knowledge;
mod known;
mod monitor;
mod object;
pub mod ports;
pub mod script;
mod state;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod theme;

pub use bot::{BUCKET_SUFFIX, BotName, InvalidBotName};
pub use change::{Change, ChangeInput, Content, Diagnostic, Outcome, Severity};
pub use error::{BoxError, PersistError, StoreError};
pub use event::{BotEvent, EventBus, NoEventBus, ThemeFile};
pub use kind::{Kind, classify};
pub use knowledge::{
    Chunk, ChunkId, EmbedError, Embedder, IndexedDocument, KnowledgeIndex, KnowledgeStats,
    PendingChunk, RepairReport, SearchHit, SearchQuery, embedding_input,
};
pub use known::{KnownObjects, KnownRecord};
pub use monitor::{
    BotReport, ChangeError, Clock, CycleError, CycleProgress, CycleRecord, DeletionGuard, Monitor,
    MonitorBuilder, MonitorConfig, MonitorHandle, Plan, RetryPolicy, SizeLimits, SystemClock,
    TokioClock,
};
pub use object::{ContentHash, ETag, ObjectKey, ObjectMeta, Timestamp};
pub use ports::{
    ChangeHandler, ConfigSink, FileStateStore, Lister, ObjectStore, PromptSink, Setting,
    StateUpdate,
};
pub use script::{CompiledScript, RegisteredTool, ScriptRegistry, ScriptState, ToolDefinition};
pub use state::{FileRecord, FileStatus};
pub use theme::{
    THEME_SETTINGS, ThemeAsset, ThemeAssetInfo, ThemeAssetStore, ThemePath, is_secret_setting,
    is_theme_setting, theme_settings,
};
