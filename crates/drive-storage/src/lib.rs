//! OpenDAL adapters of Drive Monitor's [`ObjectStore`](drive_core::ObjectStore) port: where
//! bot packages live.
//!
//! - [`FsObjectStore`]: a local folder whose `*.gbai` subfolders are the buckets.
//! - [`S3ObjectStore`]: an S3-compatible server, one `*.gbai` bucket per bot.
//! - [`MemoryObjectStore`]: buckets in memory, for tests and demos.
//!
//! [`StorageConfig`] (a `[storage]` TOML table, or a [`StorageUrl`] such as `fs:./bots`,
//! `s3:http://127.0.0.1:9000` or `memory:` from the command line) opens any of them.
//!
//! Every backend lists recursively, in pages of at most 1 000 entries, with the ETag, size
//! and modification time its list call returns and no request per object; reads stop as
//! soon as an object passes the caller's limit; failures are classified as transient or
//! permanent in one place (`error`). Keys that come from outside are checked before they
//! reach a backend (`keys`); keys from listings are returned exactly as stored.
//!
//! [`RequestCounter`] counts the LIST, GET and HEAD requests a store makes, at the S3
//! transport or, for any backend, through [`CountingObjectStore`].
//!
//! [`LimitedObjectStore`] puts [`StorageLimits`] shared by all bots in front of any backend:
//! a cap on requests in flight and a token bucket over requests per second.
//!
//! With the `test-util` feature, [`contract`] holds the suite of behaviours every backend
//! shows and the [`StoreFixture`](contract::StoreFixture) trait that seeds a backend for it.
//!
//! This crate does not retry, cache listings, watch for events or decide what a change
//! means: the monitor in drive-core does.
//!
//! Known limits (details in each module): folder placeholders cannot be stored in memory;
//! filesystem change detection depends on the precision of file times; S3 keys with empty
//! or dot segments are listed but cannot be read.

mod backend;
mod config;
#[cfg(any(test, feature = "test-util"))]
pub mod contract;
mod counting;
mod error;
mod fs;
mod keys;
mod limited;
mod lister;
mod memory;
mod s3;
#[cfg(test)]
mod scan_tests;

pub use config::{S3Settings, Secret, StorageConfig, StorageUrl};
pub use counting::{CountingObjectStore, RequestCounter, RequestCounts};
pub use error::{BoxedCause, StorageError};
pub use fs::FsObjectStore;
pub use limited::{LimitedObjectStore, RateLimit, StorageLimits};
pub use memory::MemoryObjectStore;
pub use s3::S3ObjectStore;
