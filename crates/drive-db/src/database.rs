//! Opening a database from the URL an operator gives, and the handle the server wires into
//! the monitor.
//!
//! URLs: `sqlite:PATH` (also `sqlite://PATH`, so `sqlite:///abs/path` is absolute) and
//! `postgres://...` or `postgresql://...`. The SQLite path is taken literally: no query
//! parameters, no `:memory:`.

use std::sync::Arc;

use drive_core::{
    ConfigSink, FileStateStore, KnowledgeIndex, PromptSink, ScriptRegistry, ThemeAssetStore,
};

use crate::{DbError, PgDatabase, SqliteDatabase};

/// An open database of either backend.
///
/// Cheap to clone. The three port handles share one pool.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqliteDatabase),
    Postgres(PgDatabase),
}

/// Opens the database named by `url`, creating a SQLite file and its folder if missing, and
/// brings its schema up to date.
///
/// # Errors
/// [`DbError::UnsupportedUrl`] or [`DbError::InvalidUrl`] for a URL naming no usable
/// database; otherwise the errors of [`SqliteDatabase::open`] and [`PgDatabase::open`].
pub async fn open(url: &str) -> Result<Database, DbError> {
    match parse_url(url)? {
        Target::Sqlite(path) => SqliteDatabase::open(path).await.map(Database::Sqlite),
        Target::Postgres(url) => PgDatabase::open(url).await.map(Database::Postgres),
    }
}

impl Database {
    /// Returns the backend's name: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Returns the file state port, sharing this database's pool.
    pub fn state_store(&self) -> Arc<dyn FileStateStore> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Returns the settings port, sharing this database's pool.
    pub fn config_sink(&self) -> Arc<dyn ConfigSink> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Returns the system prompt port, sharing this database's pool.
    pub fn prompt_sink(&self) -> Arc<dyn PromptSink> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Returns the script registry port, sharing this database's pool.
    pub fn script_registry(&self) -> Arc<dyn ScriptRegistry> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Returns the theme file port, sharing this database's pool.
    pub fn theme_store(&self) -> Arc<dyn ThemeAssetStore> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Returns the knowledge index port, sharing this database's pool.
    pub fn knowledge_index(&self) -> Arc<dyn KnowledgeIndex> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    /// Runs `sql` as it is, for tests that damage rows on purpose.
    ///
    /// # Errors
    /// [`drive_core::PersistError::Unavailable`] when the statement fails.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn execute_for_tests(&self, sql: &str) -> Result<(), drive_core::PersistError> {
        match self {
            Database::Sqlite(db) => db.execute_for_tests(sql).await,
            Database::Postgres(db) => db.execute_for_tests(sql).await,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Sqlite(&'a str),
    Postgres(&'a str),
}

fn parse_url(url: &str) -> Result<Target<'_>, DbError> {
    let (scheme, rest) = url.split_once(':').unwrap_or_default();
    if scheme.eq_ignore_ascii_case("sqlite") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        return Ok(Target::Sqlite(path));
    }
    if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
        return Ok(Target::Postgres(url));
    }
    // Only the scheme is echoed: the rest of a URL may hold a password.
    Err(DbError::UnsupportedUrl { scheme: scheme.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(url: &str, expected: Option<Target<'_>>) {
        assert_eq!(parse_url(url).ok(), expected, "url {url:?}");
    }

    #[test]
    fn urls_name_the_backend_and_its_target() {
        check("sqlite:state.db", Some(Target::Sqlite("state.db")));
        check("sqlite:data/x/state.db", Some(Target::Sqlite("data/x/state.db")));
        check("sqlite:///var/lib/drive/state.db", Some(Target::Sqlite("/var/lib/drive/state.db")));
        check("SQLite://rel.db", Some(Target::Sqlite("rel.db")));
        check("sqlite:", Some(Target::Sqlite("")));
        let pg = "postgres://drive:secret@127.0.0.1:5432/drive";
        check(pg, Some(Target::Postgres(pg)));
        check("postgresql://h/db", Some(Target::Postgres("postgresql://h/db")));
        check("mysql://h/db", None);
        check("state.db", None);
        check("", None);
    }

    #[test]
    fn unsupported_urls_do_not_echo_credentials() {
        let err = parse_url("postgress://drive:secret@host/db").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
