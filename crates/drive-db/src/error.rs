//! Errors: [`DbError`] when a database cannot be opened, and the classification of query
//! failures into drive-core's [`PersistError`].
//!
//! Every failure to reach the database, run a statement or finish a transaction is
//! [`PersistError::Unavailable`] (the monitor retries later). A row that exists but cannot
//! be read back (a column of the wrong type, an unknown kind) is [`PersistError::Corrupt`].
//! Errors never carry a PostgreSQL connection string, which may hold a password.

use std::path::PathBuf;

use drive_core::{BotName, BoxError, PersistError};

/// A failure to open a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no backend this crate knows.
    #[error("unsupported database url scheme {scheme:?}: expected sqlite:PATH or postgres://...")]
    UnsupportedUrl { scheme: String },
    /// The URL names a backend but not a usable database.
    #[error("invalid database url: {reason}")]
    InvalidUrl { reason: &'static str },
    /// The folder of a SQLite file could not be created.
    #[error("cannot create the folder {path:?} for the database file")]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the database")]
    Connect(#[source] BoxError),
    /// The schema could not be brought up to date.
    #[error("cannot bring the database schema up to date")]
    Migrate(#[source] BoxError),
    /// The caller is not inside a tokio runtime, which every backend needs.
    #[error("the database must be opened inside a tokio runtime")]
    NoRuntime,
}

impl DbError {
    /// Returns true when opening again later may succeed without anyone acting.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Connect(_))
    }
}

/// Returns the port error for a failure to reach the database or run a statement.
pub(crate) fn unavailable(err: impl Into<BoxError>) -> PersistError {
    PersistError::Unavailable(err.into())
}

/// Classifies a failed statement: rows that exist but cannot be read are corrupt, everything
/// else means the database is (for now) unavailable.
pub(crate) fn query_failed(err: diesel::result::Error) -> PersistError {
    match err {
        diesel::result::Error::DeserializationError(cause) => {
            PersistError::Corrupt(format!("a stored row cannot be read: {cause}"))
        }
        other => unavailable(other),
    }
}

/// Returns `err` with the bot named in its message when it is a corruption.
pub(crate) fn in_bot(bot: &BotName) -> impl Fn(PersistError) -> PersistError + '_ {
    move |err| match err {
        PersistError::Corrupt(message) if !message.starts_with("bot ") => {
            PersistError::Corrupt(format!("bot {:?}: {message}", bot.as_str()))
        }
        other => other,
    }
}
