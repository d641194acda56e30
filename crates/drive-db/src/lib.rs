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
//! This crate does not decide anything: it stores what the monitor and handlers give it, in
//! one transaction per call, and reads it back. It does not retry; failures are classified
//! as transient ([`PersistError::Unavailable`](drive_core::PersistError::Unavailable)) or
//! unreadable data ([`PersistError::Corrupt`](drive_core::PersistError::Corrupt)) and the
//! monitor decides.
//!
//! The `test-util` feature exposes [`contract`], the suite every backend passes, with a
//! throwaway PostgreSQL database for it.
//!
//! Known limits:
//! - No TLS to PostgreSQL; a NUL character in text is refused by PostgreSQL (see
//!   [`postgres`](PgDatabase)).
//! - A SQLite file must sit on a local disk (WAL mode).
//! - `bots()` lists bots whose file state was committed; settings and prompts alone do not
//!   register a bot.
//! - Sizes above `i64::MAX` are stored as the negative `BIGINT` with the same bits.

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
mod database;
mod error;
mod plan;
mod postgres;
mod rows;
mod schema;
mod sqlite;

pub use database::{Database, open};
pub use error::DbError;
pub use postgres::PgDatabase;
pub use sqlite::SqliteDatabase;
