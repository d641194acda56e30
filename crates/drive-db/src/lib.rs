//! Persistence adapters of Drive Monitor: what the monitor knows about every object, and the
//! settings and system prompts of every bot, kept in SQLite (the embedded default) or
//! PostgreSQL.
//!
//! Each backend type implements drive-core's [`FileStateStore`](drive_core::FileStateStore),
//! [`ConfigSink`](drive_core::ConfigSink) and [`PromptSink`](drive_core::PromptSink):
//!
//! - [`SqliteDatabase`]: one local file in WAL mode, reached through diesel-async's
//!   sync-connection wrapper on tokio's blocking pool.
//! - [`PgDatabase`]: a pool of pure-Rust async connections.
//!
//! [`open`] picks the backend from a URL (`sqlite:PATH` or `postgres://...`) and returns a
//! [`Database`], whose `state_store`, `config_sink` and `prompt_sink` hand out the ports.
//! Both backends embed their migrations and run them when opened; the schema has the same
//! shape on both (`bots`, `file_state`, `settings`, `prompts`; times as `BIGINT`
//! nanoseconds).
//!
//! The knowledge index ([`KnowledgeIndex`](drive_core::KnowledgeIndex), from
//! `knowledge_index`) lives in `kb_chunks`: chunk text, vectors with their model, and a
//! lexical index the database keeps in step (FTS5 on SQLite, `tsvector` on PostgreSQL).
//!
//! Theme files ([`ThemeAssetStore`](drive_core::ThemeAssetStore), from `theme_store`) live
//! in `theme_assets`, content included, so the server serves them after a restart.
//!
//! This crate does not decide anything: it stores what the monitor and handlers give it, in
//! one transaction per call, and reads it back. It does not retry; failures are classified
//! as transient ([`PersistError::Unavailable`](drive_core::PersistError::Unavailable)) or
//! unreadable data ([`PersistError::Corrupt`](drive_core::PersistError::Corrupt)) and the
//! monitor decides.
//!
//! The `test-util` feature exposes `contract`, the suite every backend passes, with a
//! throwaway PostgreSQL database for it.
//!
//! Known limits (details in each backend's module docs):
//! - PostgreSQL: no TLS; text holding a NUL character is refused, and the refusal surfaces
//!   as a transient error.
//! - SQLite: the file must sit on a local disk (WAL mode).
//! - `bots()` lists the bots whose file state was committed at least once; settings and
//!   prompts alone do not register a bot.
//! - Sizes above `i64::MAX` are stored as the negative `BIGINT` with the same bits.
//! - A commit of 100 000 records takes about 1 s on SQLite and 3 s on PostgreSQL (release
//!   build, 2 cores); a load of as many about 0.3 s. About half of a commit's encoding is
//!   turning content hashes into hex.

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
mod database;
mod error;
mod knowledge;
mod plan;
mod postgres;
mod rows;
mod schema;
mod scripts;
mod sqlite;
mod themes;

pub use database::{Database, open};
pub use error::DbError;
pub use postgres::PgDatabase;
pub use sqlite::SqliteDatabase;
